"""The ledger: batched off the hot path, persisted in SQLite, exact when aggregated."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing.ledger import LEDGER_FILE, Ledger
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.meter import invocation_cost, monthly_cost
from lamina.billing.prices import PriceTable, load_prices, parse_prices
from lamina.errors import ServiceError
from lamina.models.invocation import InvocationRecord, Outcome

D = Decimal
TABLE: PriceTable = load_prices()
DAY1 = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC
DAY2 = DAY1 + 86_400.0
NEVER = 3600.0  # a flush interval no test waits for: only flush()/close()/batch size write


def make_record(
    n: int = 0,
    function: str = "fn",
    started_at: float = DAY1,
    duration_ms: float = 10.0,
    billed_ms: int = 10,
    memory_mb: int = 128,
    init_ms: float | None = None,
    architecture: str = "x86_64",
    outcome: Outcome = Outcome.SUCCESS,
    ephemeral_mb: int = 512,
) -> InvocationRecord:
    return InvocationRecord(
        request_id=f"req-{n}",
        function_name=function,
        version="$LATEST",
        started_at=started_at,
        duration_ms=duration_ms,
        billed_ms=billed_ms,
        memory_mb=memory_mb,
        max_memory_used_mb=42,
        init_ms=init_ms,
        architecture=architecture,
        outcome=outcome,
        ephemeral_mb=ephemeral_mb,
    )


def row_count(data_dir: Path) -> int:
    """Count rows through a separate connection: what is really in the file."""
    with sqlite3.connect(data_dir / LEDGER_FILE) as conn:
        count = conn.execute("SELECT COUNT(*) FROM invocations").fetchone()[0]
    assert isinstance(count, int)
    return count


def wait_until(predicate: Callable[[], bool], deadline_s: float = 20.0) -> bool:
    """Poll for a background effect (not a timing assertion: the deadline is generous)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as opened:
        yield opened


def test_record_only_buffers_until_flush(ledger: Ledger, tmp_path: Path) -> None:
    for n in range(25):
        ledger.record(make_record(n))
    assert ledger.pending == 25
    assert row_count(tmp_path) == 0  # record() did no I/O
    ledger.flush()
    assert ledger.pending == 0
    assert row_count(tmp_path) == 25


def test_ledger_file_is_in_wal_mode_in_the_data_dir(ledger: Ledger, tmp_path: Path) -> None:
    assert ledger.path == tmp_path / "ledger.db"
    with sqlite3.connect(ledger.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_flusher_writes_without_being_asked_after_the_interval(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=0.05) as ledger:
        ledger.record(make_record())
        assert wait_until(lambda: row_count(tmp_path) == 1)


def test_a_full_batch_wakes_the_flusher_before_the_interval(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER, batch_size=10) as ledger:
        for n in range(10):
            ledger.record(make_record(n))
        assert wait_until(lambda: row_count(tmp_path) == 10)


def test_close_writes_everything_and_reopen_reads_it_back(tmp_path: Path) -> None:
    written = [
        make_record(0, init_ms=85.2, duration_ms=3.25, billed_ms=89),
        make_record(1, outcome=Outcome.TIMEOUT, architecture="arm64", ephemeral_mb=2048),
    ]
    ledger = Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER)
    for record in written:
        ledger.record(record)
    ledger.close()
    assert row_count(tmp_path) == 2
    with pytest.raises(ServiceError):
        ledger.record(make_record(2))

    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as reopened:
        entries = reopened.records()
        assert [e.record for e in reversed(entries)] == written
        assert [e.cost for e in reversed(entries)] == [invocation_cost(r, TABLE) for r in written]
        reopened.record(make_record(3))
    assert row_count(tmp_path) == 3


def test_ten_thousand_records_flush_exactly(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER, batch_size=500) as ledger:
        for n in range(10_000):
            ledger.record(make_record(n, memory_mb=512, billed_ms=900_000))
        ledger.flush()
        assert row_count(tmp_path) == 10_000
        [totals] = ledger.totals()
    assert totals.invocations == 10_000
    assert totals.gb_s == D("4500000")  # 10,000 * 450
    assert totals.duration_cost == D("75.00015")  # 10,000 * 0.007500015
    assert totals.request_cost == D("0.002")
    assert totals.total_cost == D("75.00215")


def _known_rows() -> list[InvocationRecord]:
    return [
        # fn-a, day 1: a cold start, a warm success, an error
        make_record(1, "fn-a", DAY1 + 10, 100.5, 102, 512, init_ms=1.2),
        make_record(2, "fn-a", DAY1 + 20, 3.0, 3, 512),
        make_record(3, "fn-a", DAY1 + 30, 7.0, 7, 512, outcome=Outcome.ERROR),
        # fn-a, day 2: a timeout at 1 GB
        make_record(4, "fn-a", DAY2 + 5, 1000.0, 1000, 1024, outcome=Outcome.TIMEOUT),
        # fn-b, day 2: arm64 with 1 GB of extra /tmp
        make_record(5, "fn-b", DAY2 + 7, 2000.0, 2000, 2048, architecture="arm64",
                    ephemeral_mb=1536),
    ]  # fmt: skip


def test_totals_aggregate_a_known_set_of_rows(ledger: Ledger) -> None:
    for record in _known_rows():
        ledger.record(record)
    ledger.flush()
    a, b = ledger.totals()
    assert (a.function, a.invocations, a.cold_starts, a.errors, a.timeouts) == ("fn-a", 4, 1, 2, 1)
    assert a.duration_ms == 1110.5
    assert a.billed_ms == 1112
    # 0.5 GB * (0.102 + 0.003 + 0.007) s = 0.056, plus 1 GB * 1 s.
    assert a.gb_s == D("1.056")
    assert a.duration_cost == D("0.0000176000352")  # 1.056 * 0.0000166667
    assert a.request_cost == D("0.0000008")
    assert a.ephemeral_cost == 0
    assert a.total_cost == D("0.0000184000352")
    assert (a.p50_duration_ms, a.p90_duration_ms) == (7.0, 1000.0)

    assert (b.function, b.invocations, b.cold_starts, b.errors) == ("fn-b", 1, 0, 0)
    assert b.gb_s == D("4")  # 2 GB * 2 s
    assert b.duration_cost == D("0.0000533336")  # 4 * 0.0000133334 (arm64)
    assert b.ephemeral_cost == D("0.0000000618")  # 1 GB * 2 s * 0.0000000309
    assert b.total_cost == D("0.0000535954")

    [only_b] = ledger.totals(function="fn-b")
    assert only_b == b
    [day1_a] = ledger.totals(since=DAY1, until=DAY2)  # until is exclusive
    assert (day1_a.function, day1_a.invocations, day1_a.gb_s) == ("fn-a", 3, D("0.056"))
    assert ledger.totals(function="nobody") == []


def test_daily_groups_by_function_and_utc_day(ledger: Ledger) -> None:
    for record in _known_rows():
        ledger.record(record)
    ledger.flush()
    reader = LedgerReader(ledger.path)
    rows = reader.groups(by="day")
    assert [(r.day, r.function, r.invocations) for r in rows] == [
        (date(2023, 11, 15), "fn-a", 3),
        (date(2023, 11, 16), "fn-a", 1),
        (date(2023, 11, 16), "fn-b", 1),
    ]
    assert rows[0].total_cost == D("0.0000015333352")  # 0.056 * 0.0000166667 + 3 requests
    assert rows[1].errors == rows[1].timeouts == 1
    assert [r.function for r in reader.groups(by="day", function="fn-b")] == ["fn-b"]


def test_percentiles_use_nearest_rank(ledger: Ledger) -> None:
    for n in range(1, 11):
        ledger.record(make_record(n, duration_ms=float(n), billed_ms=n))
    ledger.flush()
    [totals] = ledger.totals()
    assert (totals.p50_duration_ms, totals.p90_duration_ms) == (5.0, 9.0)


def test_records_are_newest_first_and_limited(ledger: Ledger) -> None:
    for n in range(5):
        ledger.record(make_record(n, started_at=DAY1 + n))
    ledger.flush()
    assert [e.record.request_id for e in ledger.records(limit=3)] == ["req-4", "req-3", "req-2"]
    assert ledger.records(function="other") == []


def test_usage_feeds_the_monthly_bill(ledger: Ledger) -> None:
    for record in _known_rows():
        ledger.record(record)
    ledger.flush()
    usage = {u.architecture: u for u in LedgerReader(ledger.path).months()}
    assert (usage["x86_64"].requests, usage["x86_64"].gb_s) == (4, D("1.056"))
    assert usage["arm64"].ephemeral_gb_s == D("2")
    bill = monthly_cost(usage["arm64"].gb_s, usage["arm64"].requests, "arm64", TABLE, False,
                        usage["arm64"].ephemeral_gb_s)  # fmt: skip
    assert bill.total == D("0.0000535954")


def test_failed_write_keeps_the_batch_and_retries(ledger: Ledger, tmp_path: Path) -> None:
    ledger.record(make_record(0))
    ledger.flush()
    # Break the table under the flusher: the insert fails, nothing may be lost.
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("ALTER TABLE invocations RENAME TO parked")
    ledger.record(make_record(1))
    with pytest.raises(ServiceError, match="ledger write failed"):
        ledger.flush()
    assert ledger.pending == 1
    with sqlite3.connect(ledger.path) as conn:
        conn.execute("ALTER TABLE parked RENAME TO invocations")
    ledger.flush()
    assert ledger.pending == 0
    assert row_count(tmp_path) == 2


def test_an_unpriceable_record_does_not_block_the_others(tmp_path: Path) -> None:
    doc = {
        "source": "test", "as_of": "2025-01-01", "region": "test", "currency": "USD",
        "requests": {"price_per_million": "0.20"},
        "duration": {"x86_64": [{"size_gb_s": None, "price_per_gb_s": "0.00001"}]},
        "ephemeral_storage": {"included_mb": 512, "price_per_gb_s": "0"},
        "free_tier": {"requests": 0, "gb_s": "0"},
    }  # fmt: skip
    with Ledger.open(tmp_path, parse_prices(doc), flush_interval_s=NEVER) as ledger:
        ledger.record(make_record(0, architecture="arm64"))  # no arm64 price in this table
        ledger.record(make_record(1))
        ledger.flush()
        assert [e.record.request_id for e in ledger.records()] == ["req-1"]


def test_flush_after_close_is_a_no_op_and_close_is_idempotent(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER)
    ledger.record(make_record())
    ledger.close()
    ledger.close()
    ledger.flush()
    assert row_count(tmp_path) == 1


def test_a_batch_written_in_chunks_is_one_transaction(tmp_path: Path) -> None:
    """A flush inserts its batch a chunk at a time (pausing between chunks so the event
    loop gets the GIL); a failure in a later chunk still rolls the whole batch back, and
    observers see each written record once, in order."""
    seen: list[str] = []
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER, batch_size=500) as ledger:
        ledger.observers.append(lambda batch: seen.extend(r.request_id for r in batch))
        # A trigger fails the 200th insert: chunks before it were already inserted.
        with sqlite3.connect(ledger.path) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON invocations "
                "WHEN NEW.request_id = 'req-199' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        for n in range(300):
            ledger.record(make_record(n))
        with pytest.raises(ServiceError, match="refused"):
            ledger.flush()
        assert row_count(tmp_path) == 0
        assert ledger.pending == 300
        assert seen == []
        with sqlite3.connect(ledger.path) as conn:
            conn.execute("DROP TRIGGER refuse")
        ledger.flush()
        assert row_count(tmp_path) == 300
        assert seen == [f"req-{n}" for n in range(300)]
        assert ledger.metric_totals()[("fn", "$LATEST")].invocations == 300
