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
        make_record(n, duration_ms=1500.0)._replace(provisioned=True, provisioned_concurrency=2)
        for n in range(4)
    ]
    spilled = make_record(4, duration_ms=2000.0, init_ms=100.0)._replace(spillover=True)
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
    # 6,000 ms of provisioned work in a 60 s period: 0.1 environments busy on average.
    assert busy is not None and busy.total == 0.1
    assert summarise("ProvisionedConcurrencyInvocations", Minute(), 60) is None


def test_utilization_is_the_average_concurrency_over_the_configured_one() -> None:
    m = Minute()
    for rec in records():
        m.count(rec)
    assert m.provisioned_concurrency == 2
    # 0.1 environments busy on average, of 2 configured: 5 %.
    used = summarise("ProvisionedConcurrencyUtilization", m, 60)
    assert used is not None
    assert (used.sample_count, used.maximum, used.minimum, used.total) == (1, 0.05, 0.05, 0.05)
    # A later minute at 4 configured, 12 s of work: a 120 s period divides the 18 s of
    # the two by the larger configuration.
    later = Minute()
    later.count(
        make_record(9, duration_ms=12000.0)._replace(provisioned=True, provisioned_concurrency=4)
    )
    both = merged([m, later])
    assert both.provisioned_concurrency == 4
    period = summarise("ProvisionedConcurrencyUtilization", both, 120)
    assert period is not None and period.maximum == 18.0 / 120 / 4
    # Nothing served by provisioned environments (spillover only, or no invoke): no
    # datapoint, as Lambda emits none; nor for minutes stored before the divisor was.
    spilled = Minute()
    spilled.count(make_record(1)._replace(spillover=True))
    assert summarise("ProvisionedConcurrencyUtilization", spilled, 60) is None
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
                "    spillover_invocations       INTEGER NOT NULL DEFAULT 0,\n"
                "    provisioned_concurrency     INTEGER NOT NULL DEFAULT 0,\n",
                "",
            )
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(rollups)")}
        assert not {"spillover_invocations", "provisioned_concurrency"} & columns
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for rec in records():
            ledger.record(rec)
        ledger.flush()
        ((_, minute),) = ledger.rollups("fn", since=DAY1 - 60)
        total = ledger.metric_totals()[("fn", "$LATEST")]
    assert (minute.provisioned_invocations, minute.spillover_invocations) == (4, 1)
    assert minute.provisioned_duration_sum_ms == 6000.0
    assert (minute.provisioned_concurrency, total.provisioned_concurrency) == (2, 2)
    assert (total.provisioned_invocations, total.spillover_invocations) == (4, 1)
    # A new ledger reads them back from its totals too.
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as again:
        kept = again.metric_totals()[("fn", "$LATEST")]
    assert (kept.provisioned_invocations, kept.spillover_invocations) == (4, 1)
    assert kept.provisioned_concurrency == 2
