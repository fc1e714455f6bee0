"""The read-only ledger view behind ``lamina cost``: per function, version, day and month."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing.ledger import LEDGER_FILE, Ledger
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.projection import project
from lamina.errors import ConfigError
from lamina.models.invocation import InvocationRecord, Outcome
from tests.billing.test_ledger import DAY1, NEVER, TABLE, make_record

D = Decimal
DAY2 = DAY1 + 86_400.0
DEC1 = 1_701_388_800.0  # 2023-12-01 00:00:00 UTC


def record(
    n: int,
    function: str,
    started_at: float,
    billed_ms: int,
    memory_mb: int = 512,
    version: str = "$LATEST",
    init_ms: float | None = None,
    architecture: str = "x86_64",
    outcome: Outcome = Outcome.SUCCESS,
    ephemeral_mb: int = 512,
) -> InvocationRecord:
    """A record whose duration is half a millisecond under what it was billed."""
    duration_ms = billed_ms - 0.5
    made = make_record(
        n, function, started_at, duration_ms, billed_ms, memory_mb, init_ms, architecture, outcome,
        ephemeral_mb,
    )  # fmt: skip
    return made._replace(version=version, max_memory_used_mb=40)


ROWS = [
    # fn-a $LATEST, 15 Nov: a cold start (INIT 90 ms inside its 100 billed ms), two warm.
    record(1, "fn-a", DAY1 + 10, 100, init_ms=90.0),
    record(2, "fn-a", DAY1 + 20, 4),
    record(3, "fn-a", DAY1 + 30, 6, outcome=Outcome.ERROR),
    # fn-a version 1, 16 Nov, at 1 GB: a timeout.
    record(4, "fn-a", DAY2 + 5, 1000, memory_mb=1024, version="1", outcome=Outcome.TIMEOUT),
    # fn-b, arm64 with 1 GB of extra /tmp, 16 Nov and 1 Dec.
    record(5, "fn-b", DAY2 + 7, 2000, 2048, architecture="arm64", ephemeral_mb=1536),
    record(6, "fn-b", DEC1 + 7, 500, 2048, architecture="arm64", ephemeral_mb=1536),
]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        for row in ROWS:
            ledger.record(row)
    return tmp_path


def test_totals_per_function(data_dir: Path) -> None:
    a, b = LedgerReader.open(data_dir).groups("function")
    assert (a.function, a.version, a.day) == ("fn-a", None, None)
    assert (a.invocations, a.cold_starts, a.errors, a.timeouts) == (4, 1, 2, 1)
    assert a.init_ms == 90.0
    assert a.billed_ms == 1110
    # 0.5 GB * (0.100 + 0.004 + 0.006) s = 0.055 GB-s; + 1 GB * 1 s = 1.055 GB-s.
    assert a.gb_s == D("1.055")
    assert a.duration_cost == D("0.0000175833685")  # 1.055 * 0.0000166667
    assert a.request_cost == D("0.0000008")
    assert a.total_cost == D("0.0000183833685")
    # fn-b: 2 GB * 2.5 s = 5 GB-s at arm64's 0.0000133334 = 0.000066667; /tmp: 1 GB * 2.5 s
    # = 2.5 GB-s * 0.0000000309 = 0.00000007725; 2 requests 0.0000004.
    assert (b.gb_s, b.ephemeral_gb_s) == (D(5), D("2.5"))
    assert b.total_cost == D("0.00006714425")


def test_totals_per_version(data_dir: Path) -> None:
    rows = LedgerReader.open(data_dir).groups("version", function="fn-a")
    assert [(r.function, r.version, r.invocations) for r in rows] == [
        ("fn-a", "$LATEST", 3),
        ("fn-a", "1", 1),
    ]
    assert rows[1].gb_s == D(1)


def test_totals_per_utc_day(data_dir: Path) -> None:
    rows = LedgerReader.open(data_dir).groups("day")
    assert [(r.day, r.function, r.invocations) for r in rows] == [
        (date(2023, 11, 15), "fn-a", 3),
        (date(2023, 11, 16), "fn-a", 1),
        (date(2023, 11, 16), "fn-b", 1),
        (date(2023, 12, 1), "fn-b", 1),
    ]


def test_time_range_is_inclusive_then_exclusive(data_dir: Path) -> None:
    rows = LedgerReader.open(data_dir).groups("function", since=DAY1 + 20, until=DAY2 + 5)
    assert [(r.function, r.invocations) for r in rows] == [("fn-a", 2)]


def test_months_per_architecture_feed_a_monthly_bill(data_dir: Path) -> None:
    months = LedgerReader.open(data_dir).months()
    assert [(m.month, m.architecture, m.requests, m.gb_s) for m in months] == [
        ("2023-11", "arm64", 1, D(4)),
        ("2023-11", "x86_64", 4, D("1.055")),
        ("2023-12", "arm64", 1, D(1)),
    ]
    assert months[0].ephemeral_gb_s == D(2)


def test_workloads_carry_the_billed_duration_histogram(data_dir: Path) -> None:
    workloads = dict(LedgerReader.open(data_dir).workloads())
    a = workloads["fn-a"]
    assert (a.architecture, a.invocations) == ("x86_64", 4)
    assert a.histogram == ((4, 1), (6, 1), (100, 1), (1000, 1))
    assert a.billed_percentile(0.5) == 6
    # 512 * 110 + 1024 * 1000 = 1,080,320 MB-ms = 1.055 GB-s over 4 requests; at 4 requests
    # a month that is the ledger's own total again.
    assert a.mb_ms == 1_080_320
    assert project(a, 4, TABLE).total == D("0.0000183833685")


def test_reading_never_changes_the_file(data_dir: Path) -> None:
    path = data_dir / LEDGER_FILE
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = LedgerReader.open(data_dir)
    reader.groups("day")
    reader.months()
    reader.workloads()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_reads_beside_a_live_writer(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, TABLE, flush_interval_s=NEVER) as ledger:
        ledger.record(ROWS[0])
        ledger.flush()
        reader = LedgerReader.open(tmp_path)
        assert reader.groups()[0].invocations == 1
        ledger.record(ROWS[1]._replace())
        assert reader.groups()[0].invocations == 1  # not flushed yet
        ledger.flush()
        assert reader.groups()[0].invocations == 2


def test_a_missing_ledger_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no ledger"):
        LedgerReader.open(tmp_path)
    assert not (tmp_path / LEDGER_FILE).exists()


def test_function_totals_carry_duration_percentiles(data_dir: Path) -> None:
    a, b = LedgerReader.open(data_dir).groups("function")
    # fn-a's durations: 99.5, 3.5, 5.5, 999.5 ms -> p50 is the 2nd smallest, p90 the 4th.
    assert (a.p50_duration_ms, a.p90_duration_ms) == (5.5, 999.5)
    assert (b.p50_duration_ms, b.p90_duration_ms) == (499.5, 1999.5)
    (day,) = LedgerReader.open(data_dir).groups("day", function="fn-a", until=DAY2)
    assert day.p50_duration_ms is None  # per function only
