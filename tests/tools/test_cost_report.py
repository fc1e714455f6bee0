"""``lamina cost`` over a real ledger file: tables, months, projections, break-even, CLI."""

from __future__ import annotations

import io
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from lamina.billing.ledger import Ledger
from lamina.billing.ledger_reader import GroupBy, GroupTotals, LedgerReader, MonthUsage
from lamina.billing.ledger_wire import group_from_json, month_from_json, views, workload_from_json
from lamina.billing.meter import billed_duration_ms
from lamina.billing.prices import load_prices
from lamina.billing.projection import Workload, parse_rate, parse_server_price, project
from lamina.errors import InvalidParameterValue
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.tools.cost_report import CostQuery, from_ledger, report_rows
from lamina.tools.cost_source import parse_when
from lamina.tools.cost_text import write_cost
from tests.integration.harness import lamina_cli

D = Decimal
TABLE = load_prices()
NOV = 1_795_680_000.0  # 2026-11-26 08:00 UTC


def row(n: int, function: str, billed: int, memory: int, arch: str = "x86_64",
        init: float | None = None, version: str = "$LATEST", at: float = NOV) -> InvocationRecord:  # fmt: skip
    return InvocationRecord(
        request_id=f"r{n}",
        function_name=function,
        version=version,
        started_at=at + n,
        duration_ms=0.1,
        billed_ms=billed,
        memory_mb=memory,
        max_memory_used_mb=3,
        init_ms=init,
        architecture=arch,
        outcome=Outcome.SUCCESS,
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    # "api": hello-rust at 128 MB, one cold start (INIT 7.22 ms) then three warm invokes;
    # "worker": arm64, 2 GB for 2 s, three times, the last one as version 1 the next day.
    rows = [row(0, "api", billed_duration_ms(0.09, 7.22), 128, init=7.22)]
    rows += [row(n, "api", 1, 128) for n in (1, 2, 3)]
    rows += [row(n, "worker", 2000, 2048, "arm64") for n in (4, 5)]
    rows.append(row(6, "worker", 2000, 2048, "arm64", version="1", at=NOV + 86_400))
    with Ledger.open(tmp_path, TABLE, flush_interval_s=3600) as ledger:
        for r in rows:
            ledger.record(r)
    return tmp_path


def text(report_query: CostQuery, data_dir: Path) -> str:
    out = io.StringIO()
    write_cost(from_ledger(LedgerReader.open(data_dir), report_query, TABLE), TABLE, out)
    return out.getvalue()


def test_function_rows_come_first_with_init_and_costs(data_dir: Path) -> None:
    out = text(CostQuery(), data_dir)
    header, api, worker = out.splitlines()[:3]
    assert header.split()[:3] == ["FUNCTION", "INVOCATIONS", "COLD"]
    cells = api.split()
    assert cells[:4] == ["api", "4", "1", "0"]
    assert "7.22" in cells  # INIT MS
    # 128 MB * 11 billed ms = 0.001375 GB-s -> 0.0000000229167125 + 4 * 0.0000002
    assert cells[-1] == "$0.0000008229"
    assert worker.split()[1] == "3"
    assert "source: ledger" in out


def test_json_rows_reprice_for_arm64(data_dir: Path) -> None:
    report = from_ledger(LedgerReader.open(data_dir), CostQuery(architecture="arm64"), TABLE)
    api = next(r for r in report_rows(report, TABLE) if r["function"] == "api")
    # 0.001375 GB-s * 0.0000133334 = 0.000000018333425; + 0.0000008 in requests
    assert api["duration_cost"] == "0.000000018333425"
    assert api["total_cost"] == "0.000000818333425"
    assert api["gb_s"] == "0.001375"


def test_versions_and_days(data_dir: Path) -> None:
    reader = LedgerReader.open(data_dir)
    by_version = report_rows(from_ledger(reader, CostQuery(by="version"), TABLE), TABLE)
    assert [(r["function"], r["version"], r["invocations"]) for r in by_version] == [
        ("api", "$LATEST", 4),
        ("worker", "$LATEST", 2),
        ("worker", "1", 1),
    ]
    by_day = report_rows(from_ledger(reader, CostQuery(by="day"), TABLE), TABLE)
    assert [(r["day"], r["function"]) for r in by_day] == [
        ("2026-11-26", "api"),
        ("2026-11-26", "worker"),
        ("2026-11-27", "worker"),
    ]


def test_per_node_rows_name_the_node_that_ran_them(tmp_path: Path) -> None:
    # Two invokes on the control plane's own machine (node NULL), three on cluster nodes.
    rows = [row(0, "api", 1, 128), row(1, "api", 1, 128)]
    rows += [row(n, "api", 1, 128)._replace(node="n1") for n in (2, 3)]
    rows.append(row(4, "worker", 2000, 2048, "arm64")._replace(node="n2"))
    with Ledger.open(tmp_path, TABLE, flush_interval_s=3600) as ledger:
        for r in rows:
            ledger.record(r)
    reader = LedgerReader.open(tmp_path)
    query = CostQuery(by="node")
    by_node = report_rows(from_ledger(reader, query, TABLE), TABLE)
    assert [(r["node"], r["function"], r["invocations"]) for r in by_node] == [
        ("", "api", 2),
        ("n1", "api", 2),
        ("n2", "worker", 1),
    ]
    assert report_rows(from_ledger(WireViews(reader), query, TABLE), TABLE) == by_node
    table = text(query, tmp_path).splitlines()
    assert table[0].split()[:2] == ["NODE", "FUNCTION"]
    assert [line.split()[:3] for line in table[1:4]] == [
        ["(control", "plane)", "api"],
        ["n1", "api", "2"],
        ["n2", "worker", "1"],
    ]


def test_the_month_gives_the_free_tier_to_its_biggest_architecture(data_dir: Path) -> None:
    months = report_rows(
        from_ledger(LedgerReader.open(data_dir), CostQuery(by="month", free_tier=True), TABLE),
        TABLE,
    )
    arm, x86 = months
    assert (arm["month"], arm["architecture"], arm["gb_s"]) == ("2026-11", "arm64", "12")
    assert (arm["free_gb_s"], arm["free_requests"], arm["total_cost"]) == ("12", 3, "0")
    # x86_64 pays in full: 0.001375 * 0.0000166667 + 4 * 0.0000002
    assert (x86["free_requests"], x86["total_cost"]) == (0, "0.0000008229167125")


def test_projection_and_break_even_use_the_measured_distribution(data_dir: Path) -> None:
    query = CostQuery(
        function="api", rate=parse_rate("1M/month"), server=parse_server_price("40$/month")
    )
    report = from_ledger(LedgerReader.open(data_dir), query, TABLE)
    (outlook,) = report.outlooks
    # Billed 8, 1, 1, 1 ms at 128 MB: 0.00034375 GB-s a request on average (INIT included).
    # A million of them: 343.75 GB-s * 0.0000166667 = 0.005729178125, + $0.20 of requests.
    assert outlook.projection is not None
    assert outlook.projection.total == D("0.205729178125")
    assert outlook.break_even is not None
    even = outlook.break_even.requests_per_month
    assert even is not None
    assert (
        project(outlook.workload, even, TABLE).total
        >= 40
        > project(outlook.workload, even - 1, TABLE).total
    )
    (api,) = report_rows(report, TABLE)
    assert api["outlook"][0]["billed_ms_p90"] == 8
    assert api["outlook"][0]["break_even"]["requests_per_month"] == even
    out = io.StringIO()
    write_cost(report, TABLE, out)
    assert "Projection at 1M/month = 1,000,000 requests a month" in out.getvalue()
    assert "Break-even against a 40$/month server" in out.getvalue()
    assert "Lambda is cheaper" in out.getvalue()


class WireViews:
    """The server's answer to ``GET /lamina/v1/ledger``, as ``lamina cost`` decodes it."""

    source = "the server's ledger"

    def __init__(self, reader: LedgerReader) -> None:
        self.reader = reader

    def _answer(self, by: GroupBy, span: tuple[str | None, float | None, float | None]) -> Any:
        # Through JSON text, as over HTTP.
        return json.loads(json.dumps(views(self.reader, by, *span)))

    def groups(self, by: GroupBy = "function", function: str | None = None,
               since: float | None = None, until: float | None = None) -> list[GroupTotals]:  # fmt: skip
        return [group_from_json(g) for g in self._answer(by, (function, since, until))["groups"]]

    def months(self, function: str | None = None, since: float | None = None,
               until: float | None = None) -> list[MonthUsage]:  # fmt: skip
        answer = self._answer("function", (function, since, until))
        return [month_from_json(m) for m in answer["months"]]

    def workloads(self, function: str | None = None, since: float | None = None,
                  until: float | None = None) -> list[tuple[str, Workload]]:  # fmt: skip
        answer = self._answer("function", (function, since, until))
        return [workload_from_json(w) for w in answer["workloads"]]


@pytest.mark.parametrize(
    "query",
    [
        CostQuery(),
        CostQuery(by="version"),
        CostQuery(by="day", function="worker"),
        CostQuery(by="month", free_tier=True),
        CostQuery(rate=parse_rate("1M/month"), server=parse_server_price("40$/month")),
        CostQuery(since=NOV + 2, until=NOV + 86_400),
    ],
    ids=["function", "version", "day", "month", "outlook", "span"],
)
def test_the_servers_ledger_views_give_the_same_report_as_the_file(
    data_dir: Path, query: CostQuery
) -> None:
    reader = LedgerReader.open(data_dir)
    local = report_rows(from_ledger(reader, query, TABLE), TABLE)
    remote = report_rows(from_ledger(WireViews(reader), query, TABLE), TABLE)
    assert remote == local
    if query.by == "function" and query.since is None:
        assert next(r for r in remote if r["function"] == "api")["init_ms"] == 7.22


def test_times_people_write() -> None:
    now = 1_800_000_000.0
    assert parse_when("7d", now) == now - 7 * 86_400
    assert parse_when("30min", now) == now - 1800
    assert parse_when("2026-11-26", now) == 1_795_651_200.0
    assert parse_when("2026-11-26T08:00:00", now) == NOV
    with pytest.raises(InvalidParameterValue):
        parse_when("last tuesday", now)


def test_the_cli_reads_a_ledger_without_a_server(data_dir: Path) -> None:
    done = lamina_cli(
        "cost", "--data-dir", str(data_dir), "--offline", "--by", "version", "--json", timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert [r["version"] for r in json.loads(done.stdout)] == ["$LATEST", "$LATEST", "1"]
    missing = lamina_cli("cost", "--data-dir", str(data_dir / "nope"), "--offline", timeout=60)
    assert missing.returncode == 2
    assert "no ledger at" in missing.stderr


def test_per_trigger_rows_name_what_started_them(tmp_path: Path) -> None:
    rows = [row(0, "api", 1, 128)._replace(trigger="http"), row(1, "api", 1, 128)]
    rows += [row(n, "api", 1, 128)._replace(trigger="http") for n in (2, 3)]
    rows.append(row(4, "thumbs", 2000, 2048, "arm64")._replace(trigger="datasource"))
    with Ledger.open(tmp_path, TABLE, flush_interval_s=3600) as ledger:
        for r in rows:
            ledger.record(r)
    reader = LedgerReader.open(tmp_path)
    query = CostQuery(by="trigger")
    by_trigger = report_rows(from_ledger(reader, query, TABLE), TABLE)
    assert [(r["trigger"], r["function"], r["invocations"]) for r in by_trigger] == [
        ("datasource", "thumbs", 1),
        ("http", "api", 3),
        ("other", "api", 1),
    ]
    assert report_rows(from_ledger(WireViews(reader), query, TABLE), TABLE) == by_trigger
    table = text(query, tmp_path).splitlines()
    assert table[0].split()[:2] == ["TRIGGER", "FUNCTION"]
    assert [line.split()[:3] for line in table[1:4]] == [
        ["datasource", "thumbs", "1"],
        ["http", "api", "3"],
        ["other", "api", "1"],
    ]
