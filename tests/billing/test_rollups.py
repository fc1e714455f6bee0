"""Per-minute rollups: folded by the ledger's flusher, stored with the rows, exact in sum."""

from __future__ import annotations

import random
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing import rollups
from lamina.billing.ledger import Ledger
from lamina.billing.meter import invocation_cost
from lamina.billing.rollups import BUCKETS_MS, Minute, bucket_index, quantile
from lamina.models.invocation import Outcome
from tests.billing.test_ledger import DAY1, NEVER, TABLE, make_record


def test_bucket_index_bounds_are_inclusive() -> None:
    assert bucket_index(0.0) == 0
    assert bucket_index(1.0) == 0
    assert bucket_index(1.01) == 1
    assert bucket_index(BUCKETS_MS[-1]) == len(BUCKETS_MS) - 1
    assert bucket_index(BUCKETS_MS[-1] + 1) == len(BUCKETS_MS)


def test_quantile_of_uniform_values_is_close() -> None:
    rng = random.Random(7)
    values = sorted(rng.uniform(0, 1000) for _ in range(5000))
    m = Minute()
    for i, v in enumerate(values):
        m.add(make_record(i, duration_ms=v), Decimal(0), Decimal(0))
    p50, p99 = m.duration_p50_ms, m.duration_p99_ms
    assert p50 is not None and p99 is not None
    # Buckets are coarse (500..1000 ms is one): the estimate lands in the true value's bucket.
    assert bucket_index(p50) == bucket_index(values[2500])
    assert bucket_index(p99) == bucket_index(values[4950])
    assert p99 <= max(values)
    assert quantile([0] * rollups.N_BUCKETS, 0.5, 0.0) is None


def test_ledger_folds_records_and_throttles_into_minutes(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        recs = [
            make_record(0, started_at=DAY1 + 1, duration_ms=3.0, init_ms=120.0),
            make_record(1, started_at=DAY1 + 59, duration_ms=30.0, outcome=Outcome.ERROR),
            make_record(2, started_at=DAY1 + 61, duration_ms=300.0, outcome=Outcome.TIMEOUT),
            make_record(3, function="other", started_at=DAY1 + 5),
        ]
        for rec in recs:
            ledger.record(rec)
        ledger.record_throttle("fn", "$LATEST", DAY1 + 62)
        ledger.record_throttle("fn", "$LATEST", DAY1 + 63)
        ledger.record_recursive_drop("fn", "$LATEST", DAY1 + 64)  # not a throttle
        ledger.flush()
        rows = ledger.rollups("fn")
        assert [key for key, _ in rows] == [
            ("fn", "$LATEST", int(DAY1)),
            ("fn", "$LATEST", int(DAY1) + 60),
        ]
        first, second = rows[0][1], rows[1][1]
        assert (first.invocations, first.errors, first.timeouts, first.cold_starts) == (2, 1, 0, 1)
        assert (second.invocations, second.errors, second.timeouts, second.throttles) == (
            1,
            1,
            1,
            2,
        )
        assert first.duration_sum_ms == 33.0 and first.init_sum_ms == 120.0
        assert sum(first.duration_buckets) == 2 and sum(first.init_buckets) == 1
        expected = sum((invocation_cost(r, TABLE).total for r in recs[:2]), Decimal(0))
        assert first.cost == expected
        # A second flush of the same minute merges into the stored row, not beside it.
        ledger.record(make_record(4, started_at=DAY1 + 2))
        ledger.flush()
        again = ledger.rollups("fn", since=DAY1, until=DAY1 + 60)
        assert len(again) == 1 and again[0][1].invocations == 3
        totals = ledger.metric_totals()
        assert totals[("fn", "$LATEST")].invocations == 4
        assert totals[("fn", "$LATEST")].throttles == 2
        assert totals[("fn", "$LATEST")].recursive_drops == 1
        assert (first.recursive_drops, second.recursive_drops) == (0, 1)
        assert totals[("other", "$LATEST")].invocations == 1


def test_totals_survive_a_restart(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for i in range(5):
            ledger.record(make_record(i, started_at=DAY1 + 60 * i, outcome=Outcome.ERROR))
            ledger.flush()  # several batches: the stored totals accumulate across them
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        total = ledger.metric_totals()[("fn", "$LATEST")]
        assert (total.invocations, total.errors) == (5, 5)
        assert len(ledger.rollups()) == 5
        merged = rollups.merged(m for _, m in ledger.rollups())
        assert total.duration_buckets == merged.duration_buckets
        assert total.cost == merged.cost


@pytest.mark.parametrize("count", [1, 1200])
def test_rollups_match_the_raw_rows(tmp_path: Path, count: int) -> None:
    rng = random.Random(count)
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER, batch_size=97) as ledger:
        for i in range(count):
            ledger.record(
                make_record(
                    i,
                    started_at=DAY1 + rng.uniform(0, 600),
                    duration_ms=rng.uniform(1, 2000),
                    billed_ms=rng.randint(1, 2000),
                    outcome=rng.choice(list(Outcome)),
                )
            )
        ledger.flush()
        [raw] = ledger.totals("fn")
        total = rollups.merged(m for _, m in ledger.rollups("fn"))
        assert total.invocations == raw.invocations == count
        assert total.errors == raw.errors and total.timeouts == raw.timeouts
        assert total.cost == raw.total_cost and total.gb_s == raw.gb_s
        assert total.duration_sum_ms == pytest.approx(raw.duration_ms)


def test_cost_since_and_last_active_read_the_rollups(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        recs = [make_record(i, started_at=DAY1 + 60 * i, billed_ms=100 * (i + 1)) for i in range(4)]
        for rec in recs:
            ledger.record(rec)
        ledger.record(make_record(9, function="other", started_at=DAY1))
        ledger.flush()
        expected = sum((invocation_cost(r, TABLE).total for r in recs[2:]), Decimal(0))
        assert ledger.cost_since(DAY1 + 120)["fn"] == expected
        assert "other" not in ledger.cost_since(DAY1 + 60)
        assert ledger.last_active() == {"fn": int(DAY1) + 180, "other": int(DAY1)}


def test_function_summaries_match_the_merged_minutes(tmp_path: Path) -> None:
    rng = random.Random(3)
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for i in range(300):
            ledger.record(
                make_record(
                    i,
                    function=rng.choice(["a", "b"]),
                    started_at=DAY1 + rng.uniform(0, 900),
                    duration_ms=rng.uniform(0.5, 4000),
                    init_ms=rng.choice([None, 100.0]),
                    outcome=rng.choice(list(Outcome)),
                )
            )
        ledger.record_throttle("a", "$LATEST", DAY1 + 400)
        ledger.flush()
        since = DAY1 + 300
        summaries = ledger.function_summaries(since)
        for function in ("a", "b"):
            full = rollups.merged(m for _, m in ledger.rollups(function, since=since))
            got = summaries[function]
            assert (got.invocations, got.errors, got.timeouts, got.throttles, got.cold_starts) == (
                full.invocations, full.errors, full.timeouts, full.throttles, full.cold_starts,
            )  # fmt: skip
            assert got.duration_buckets == full.duration_buckets
            assert got.duration_p99_ms == full.duration_p99_ms
            assert got.duration_sum_ms == pytest.approx(full.duration_sum_ms)
