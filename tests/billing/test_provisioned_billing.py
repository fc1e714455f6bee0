"""Provisioned concurrency's bill against hand-worked examples (us-east-1 prices):
the configured concurrency per GB-s while READY (rounded up to 5 minutes), the provisioned
duration price of the invokes it served, and the ledger that keeps both."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing import ledger_db
from lamina.billing.ledger import Ledger
from lamina.billing.ledger_queries import MonthUsage
from lamina.billing.meter import invocation_cost
from lamina.billing.prices import load_prices
from lamina.billing.provisioned import ProvisionedSpan, billed_seconds, clip, span_charge
from lamina.tools.cost_report import month_bills
from tests.billing.old_ledgers import migrated
from tests.billing.test_ledger import NEVER
from tests.billing.test_meter import make_record

D = Decimal
TABLE = load_prices()


def test_the_price_table_holds_both_architectures_prices() -> None:
    x86, arm = TABLE.provisioned["x86_64"], TABLE.provisioned["arm64"]
    assert (x86.concurrency_price_per_gb_s, x86.duration_price_per_gb_s) == (
        D("0.0000041667"),
        D("0.0000097222"),
    )
    assert (arm.concurrency_price_per_gb_s, arm.duration_price_per_gb_s) == (
        D("0.0000033334"),
        D("0.0000077778"),
    )
    assert TABLE.provisioned_increment_s == 300


@pytest.mark.parametrize(
    ("memory_mb", "billed_ms", "arch", "duration_cost"),
    [
        # 1024 MB * 1 s = 1 GB-s at $0.0000097222 (on demand it would be $0.0000166667).
        (1024, 1000, "x86_64", D("0.0000097222")),
        # 512 MB * 2 s = 1 GB-s at arm64's $0.0000077778.
        (512, 2000, "arm64", D("0.0000077778")),
        # 128 MB * 250 ms = 0.03125 GB-s * 0.0000097222 = 0.00000030381875.
        (128, 250, "x86_64", D("0.00000030381875")),
    ],
)
def test_an_invoke_a_provisioned_environment_served_costs_the_provisioned_duration_price(
    memory_mb: int, billed_ms: int, arch: str, duration_cost: Decimal
) -> None:
    record = make_record(memory_mb, billed_ms, arch)._replace(provisioned=True)
    cost = invocation_cost(record, TABLE)
    assert cost.duration_cost == duration_cost
    assert cost.request_cost == D("0.0000002")  # requests cost the same
    assert cost.total == duration_cost + D("0.0000002")


def test_a_spillover_invoke_costs_the_on_demand_price() -> None:
    cost = invocation_cost(make_record(1024, 1000, "x86_64"), TABLE)
    assert cost.duration_cost == D("0.0000166667")


def test_enabled_time_is_rounded_up_to_five_minutes() -> None:
    assert billed_seconds(100.0, 100.0, 300) == 0
    assert billed_seconds(0.0, 1.0, 300) == 300
    assert billed_seconds(0.0, 300.0, 300) == 300
    assert billed_seconds(0.0, 300.0000001, 300) == 300  # float noise is not a new increment
    assert billed_seconds(0.0, 300.01, 300) == 600
    assert billed_seconds(0.0, 3600.0, 300) == 3600
    with pytest.raises(ValueError):
        billed_seconds(10.0, 5.0, 300)


def span(
    arch: str, memory_mb: int, concurrency: int, ready: float, ended: float
) -> ProvisionedSpan:
    return ProvisionedSpan("fn", "live", "1", arch, memory_mb, concurrency, ready, ended)


def test_the_configured_concurrency_charge() -> None:
    # 2 environments * 1 GB * 3600 s = 7200 GB-s * $0.0000041667 = $0.03000024.
    hour = span_charge(span("x86_64", 1024, 2, 1_000.0, 4_600.0), TABLE)
    assert (hour.billed_s, hour.gb_s, hour.cost) == (3600, D("7200"), D("0.03000024"))
    # 1 * 0.5 GB * 1 s, rounded up to 300 s = 150 GB-s * $0.0000033334 = $0.00050001.
    blip = span_charge(span("arm64", 512, 1, 0.0, 1.0), TABLE)
    assert (blip.billed_s, blip.gb_s, blip.cost) == (300, D("150"), D("0.00050001"))
    # 128 MB * 3 * 301 s → 600 s: 0.125 * 3 * 600 = 225 GB-s * 0.0000041667 = 0.0009375075.
    odd = span_charge(span("x86_64", 128, 3, 0.0, 301.0), TABLE)
    assert (odd.billed_s, odd.gb_s, odd.cost) == (600, D("225"), D("0.0009375075"))


def test_a_span_is_clipped_to_the_report_window() -> None:
    whole = span("x86_64", 1024, 1, 100.0, 500.0)
    assert clip(whole, None, None) == whole
    assert clip(whole, 200.0, 300.0) == span("x86_64", 1024, 1, 200.0, 300.0)
    assert clip(whole, 500.0, None) is None
    assert clip(whole, None, 100.0) is None


def test_the_ledger_keeps_spans_and_the_provisioned_flag(tmp_path: Path) -> None:
    first = span("x86_64", 1024, 2, 1_000.0, 4_600.0)
    second = span("arm64", 512, 1, 5_000.0, 5_001.0)
    served = make_record(1024, 1000)._replace(request_id="pc", provisioned=True)
    spilled = make_record(1024, 1000)._replace(request_id="od")
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        ledger.record_provisioned(first)
        ledger.record_provisioned(second)
        ledger.record(served)
        ledger.record(spilled)
        ledger.flush()
        assert ledger.provisioned_spans() == [first, second]
        assert ledger.provisioned_spans("other") == []
        assert ledger.provisioned_spans(since=4_000.0, until=5_000.5) == [
            span("x86_64", 1024, 2, 4_000.0, 4_600.0),
            span("arm64", 512, 1, 5_000.0, 5_000.5),
        ]
        rows = {
            e.record.request_id: (e.record.provisioned, e.cost.duration_cost)
            for e in ledger.records()
        }
    assert rows == {"pc": (True, D("0.0000097222")), "od": (False, D("0.0000166667"))}


def test_a_schema_4_ledger_is_migrated(tmp_path: Path) -> None:
    record = make_record(256, 40)
    back = migrated(tmp_path / "ledger.db", ledger_db._SCHEMA, 4, record, new_columns=1)
    assert back == record and back.provisioned is False
    with closing(sqlite3.connect(tmp_path / "ledger.db")) as conn:
        assert conn.execute("SELECT COUNT(*) FROM provisioned_spans").fetchone() == (0,)


def test_a_month_prices_provisioned_invokes_outside_the_tiers_and_the_free_tier() -> None:
    # One on-demand and one provisioned invoke, each 1 GB-s: the on-demand one is free with
    # the free tier; the provisioned one costs $0.0000097222 either way.
    usage = [MonthUsage("2026-05", "x86_64", 2, 1024 * 1000, D(0), 1024 * 1000)]
    ((_, paid),) = month_bills(usage, TABLE, None, free_tier=False)
    assert paid.gb_s == D(1)  # the tiered GB-s: on-demand only
    assert paid.duration_cost == D("0.0000166667") + D("0.0000097222")
    assert paid.request_cost == D("0.0000004")
    ((_, free),) = month_bills(usage, TABLE, None, free_tier=True)
    assert (free.duration_cost, free.request_cost) == (D("0.0000097222"), D(0))
