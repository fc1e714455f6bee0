"""Provisioned concurrency in the per-minute rollups and its AWS/Lambda metrics: invokes its
environments served, those that spilled over, their average concurrency and its share of
the configured concurrency; an older ledger's rollup tables gain the columns (real SQLite
files)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from lamina.billing import rollups_db
from lamina.billing.ledger import Ledger
from lamina.billing.prices import load_prices
from lamina.billing.rollups import Minute, merged
from lamina.models.invocation import InvocationRecord
from lamina.services.cloudwatch.statistics import summarise
from tests.billing.test_ledger import DAY1, NEVER, make_record

TABLE = load_prices()


def records() -> list[InvocationRecord]:
    served = [
        make_record(n, duration_ms=1500.0)._replace(
            provisioned=True, provisioned_concurrency=2, provisioned_busy=busy
        )
        for n, busy in enumerate((1, 2, 2, 1))
    ]
    # All provisioned environments busy: it spilled over, and samples the full count.
    spilled = make_record(4, duration_ms=2000.0, init_ms=100.0)._replace(
        spillover=True, provisioned_concurrency=2, provisioned_busy=2
    )
    plain = make_record(5, duration_ms=10.0)
    return [*served, spilled, plain]


def test_the_minute_counts_served_and_spilled_invokes() -> None:
    m = Minute()
    for rec in records():
        m.count(rec)
    assert (m.invocations, m.provisioned_invocations, m.spillover_invocations) == (6, 4, 1)
    assert m.provisioned_duration_sum_ms == 6000.0
    both = merged([m, m.copy()])
    assert (both.provisioned_invocations, both.spillover_invocations) == (8, 2)
    assert both.provisioned_duration_sum_ms == 12000.0
    served = summarise("ProvisionedConcurrencyInvocations", m, 60)
    spilled = summarise("ProvisionedConcurrencySpilloverInvocations", m, 60)
    busy = summarise("ProvisionedConcurrentExecutions", m, 60)
    assert served is not None and (served.sample_count, served.total) == (4, 4)
    assert spilled is not None and (spilled.sample_count, spilled.total) == (1, 1)
    # One sample per invocation of the version (the four served, the one spilled over):
    # how many provisioned environments were busy when it began; the plain one has none.
    assert busy is not None
    assert (busy.sample_count, busy.total, busy.minimum, busy.maximum) == (5, 8, 1, 2)
    assert busy.average == 1.6
    assert summarise("ProvisionedConcurrencyInvocations", Minute(), 60) is None
    # A minute stored before the samples were kept: the period's average concurrency
    # (6,000 ms of provisioned work in 60 s: 0.1).
    old = Minute(provisioned_invocations=4, provisioned_duration_sum_ms=6000.0)
    before = summarise("ProvisionedConcurrentExecutions", old, 60)
    assert before is not None and (before.sample_count, before.maximum) == (1, 0.1)


def test_utilization_is_each_invocations_busy_count_over_the_configured_concurrency() -> None:
    m = Minute()
    for rec in records():
        m.count(rec)
    # 1, 2, 2, 1 and (spilled over) 2 of 2 configured: 0.5, 1, 1, 0.5, 1.
    used = summarise("ProvisionedConcurrencyUtilization", m, 60)
    assert used is not None
    assert (used.sample_count, used.total, used.minimum, used.maximum) == (5, 4.0, 0.5, 1.0)
    # A later minute at 4 configured with 1 busy: a 120 s period holds both minutes'
    # samples, the smallest now 0.25.
    later = Minute()
    later.count(
        make_record(9)._replace(provisioned=True, provisioned_concurrency=4, provisioned_busy=1)
    )
    both = merged([m, later])
    period = summarise("ProvisionedConcurrencyUtilization", both, 120)
    assert period is not None
    assert (period.sample_count, period.minimum, period.maximum) == (6, 0.25, 1.0)
    assert merged([later, m]).pc_used_min == 0.25  # either order
    # No invocation of a version with provisioned concurrency: no datapoint, as Lambda
    # emits none; nor for minutes stored before the samples were.
    plain = Minute()
    plain.count(make_record(1))
    assert summarise("ProvisionedConcurrencyUtilization", plain, 60) is None
    unknown = Minute(provisioned_invocations=1, provisioned_duration_sum_ms=10.0)
    assert summarise("ProvisionedConcurrencyUtilization", unknown, 60) is None


def test_the_ledger_keeps_them_and_an_old_rollup_table_gains_the_columns(tmp_path: Path) -> None:
    old = tmp_path / "ledger.db"
    with closing(sqlite3.connect(old)) as conn:
        # The rollup tables as they were made before these columns.
        conn.executescript(
            rollups_db.SCHEMA.replace(
                "    provisioned_invocations     INTEGER NOT NULL DEFAULT 0,\n"
                "    provisioned_duration_sum_ms REAL    NOT NULL DEFAULT 0,\n"
                "    spillover_invocations       INTEGER NOT NULL DEFAULT 0,\n",
                "",
            ).replace(
                "".join(
                    f"    {name:<27} {kind:<7} NOT NULL DEFAULT 0,\n"
                    for name, kind in (
                        ("pc_samples", "INTEGER"),
                        ("pc_busy_sum", "INTEGER"),
                        ("pc_busy_min", "INTEGER"),
                        ("pc_busy_max", "INTEGER"),
                        ("pc_used_sum", "REAL"),
                        ("pc_used_min", "REAL"),
                        ("pc_used_max", "REAL"),
                    )
                ),
                "",
            )
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(rollups)")}
        assert not {"spillover_invocations", "pc_samples", "pc_used_max"} & columns
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for rec in records():
            ledger.record(rec)
        ledger.flush()
        ((_, minute),) = ledger.rollups("fn", since=DAY1 - 60)
        total = ledger.metric_totals()[("fn", "$LATEST")]
    assert (minute.provisioned_invocations, minute.spillover_invocations) == (4, 1)
    assert minute.provisioned_duration_sum_ms == 6000.0
    assert (minute.pc_samples, minute.pc_busy_max, minute.pc_used_min) == (5, 2, 0.5)
    assert (total.pc_samples, total.pc_used_sum) == (5, 4.0)
    assert (total.provisioned_invocations, total.spillover_invocations) == (4, 1)
    # A new ledger reads them back from its totals too.
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as again:
        kept = again.metric_totals()[("fn", "$LATEST")]
    assert (kept.provisioned_invocations, kept.spillover_invocations) == (4, 1)
    assert (kept.pc_samples, kept.pc_busy_sum, kept.pc_used_max) == (5, 8, 1.0)
