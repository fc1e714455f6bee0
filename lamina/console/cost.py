"""The console's Cost page: the bill by function, version or day, each function's month
projected at a request rate, and its break-even against a flat-priced server.

The bill is read from the per-minute rollups (never the raw ledger rows, so the page stays
fast with millions of invocations): each minute's exact cost and GB-s as the ledger priced
them (each invocation at its architecture's first-tier price plus the request fee). The
projection and break-even are :func:`~lamina.billing.projection.project` /
:func:`~lamina.billing.projection.break_even` — ``lamina cost``'s — over a workload made of
the same sums (the function's current architecture; ephemeral storage above the included
512 MB is not in the rollups), with the same rate and price syntax (``10/s``,
``40$/month``). Pure rendering plus :func:`cost_page`, which reads (on a worker thread).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from html import escape
from pathlib import Path

from lamina.billing import ledger_db, rollups_db
from lamina.billing.ledger_queries import GroupTotals
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.meter import EXACT
from lamina.billing.prices import PriceTable
from lamina.billing.projection import (
    BreakEven,
    Projection,
    RequestRate,
    ServerPrice,
    Workload,
    break_even,
    parse_rate,
    parse_server_price,
    project,
)
from lamina.console.bill_cache import BillCache, BillReader
from lamina.errors import InvalidParameterValue

MAX_DAYS = 366
GroupBy = str  # function, version, day (from the rollups) or node (from the raw rows)
GROUPINGS = (*rollups_db.BILL_KEYS, "node")
MB_MS_PER_GB_S = 1024 * 1000


@dataclass(frozen=True, slots=True)
class BillRow:
    """One group's minutes, summed."""

    function: str
    version: str | None
    day: date | None
    invocations: int
    cold_starts: int
    errors: int
    gb_s: Decimal
    cost: Decimal
    node: str | None = None  # by node only: "" for the control plane's own machine

    @classmethod
    def of_totals(cls, g: GroupTotals) -> BillRow:
        """A raw-ledger group (the bill by node: the rollups keep no node)."""
        cost = EXACT.add(EXACT.add(g.request_cost, g.duration_cost), g.ephemeral_cost)
        gb_s = Decimal(g.mb_ms) / MB_MS_PER_GB_S
        return cls(g.function, g.version, g.day, g.invocations, g.cold_starts, g.errors,
                   gb_s, cost, g.node)  # fmt: skip

    @classmethod
    def of(cls, by: GroupBy, row: tuple[object, ...]) -> BillRow:
        keys = len(rollups_db.BILL_KEYS[by])
        key, (n, cold, errors, gb_s, cost) = row[:keys], row[keys:]
        function = str(key[1] if by == "day" else key[0])
        return cls(
            function,
            str(key[1]) if by == "version" else None,
            date.fromordinal(date(1970, 1, 1).toordinal() + int(str(key[0])))
            if by == "day"
            else None,
            int(str(n)),
            int(str(cold)),
            int(str(errors)),
            Decimal(str(gb_s)),
            Decimal(str(cost)),
        )


@dataclass(frozen=True, slots=True)
class CostQuery:
    """What the page's form asks: the grouping, how many days back, a rate, a server."""

    by: GroupBy = "function"
    days: int = 30
    rate: RequestRate | None = None
    server: ServerPrice | None = None

    @classmethod
    def parse(cls, query: dict[str, str]) -> CostQuery:
        """From the page's query string; a bad value raises InvalidParameterValue."""
        try:
            days = int(query.get("days") or 30)
        except ValueError:
            raise InvalidParameterValue("days must be a whole number") from None
        if not 1 <= days <= MAX_DAYS:
            raise InvalidParameterValue(f"days must be between 1 and {MAX_DAYS}")
        rate, server = query.get("rate", "").strip(), query.get("server", "").strip()
        by = query.get("by") or "function"
        if by not in GROUPINGS:
            raise InvalidParameterValue(f"by must be one of {', '.join(GROUPINGS)}")
        return cls(
            by,
            days,
            parse_rate(rate) if rate else None,
            parse_server_price(server) if server else None,
        )


@dataclass(frozen=True, slots=True)
class Outlook:
    function: str
    workload: Workload
    cost_per_million: Decimal
    projection: Projection | None
    break_even: BreakEven | None


def per_function(groups: list[BillRow]) -> list[BillRow]:
    """Groups by version or day added up per function (exact), in name order."""
    out: dict[str, BillRow] = {}
    for g in groups:
        seen = out.get(g.function)
        out[g.function] = BillRow(
            g.function, None, None,
            g.invocations + (seen.invocations if seen else 0),
            g.cold_starts + (seen.cold_starts if seen else 0),
            g.errors + (seen.errors if seen else 0),
            g.gb_s + (seen.gb_s if seen else Decimal(0)),
            g.cost + (seen.cost if seen else Decimal(0)),
        )  # fmt: skip
    return [out[name] for name in sorted(out)]


def workloads(
    rows: list[BillRow], architecture_of: Callable[[str], str]
) -> list[tuple[str, Workload]]:
    """Each function's workload from its bill by function (GB-s back to MB-ms, exact)."""
    return [
        (
            r.function,
            Workload(
                architecture_of(r.function),
                r.invocations,
                int(r.gb_s * MB_MS_PER_GB_S),
            ),
        )
        for r in rows
        if r.invocations > 0
    ]


def outlooks(
    workloads: list[tuple[str, Workload]], query: CostQuery, prices: PriceTable
) -> list[Outlook]:
    return [
        Outlook(
            name,
            w,
            w.cost_per_million(prices),
            project(w, query.rate.per_month, prices) if query.rate is not None else None,
            break_even(w, query.server, prices) if query.server is not None else None,
        )
        for name, w in workloads
    ]


def _usd(value: Decimal | None, places: int = 6) -> str:
    return "—" if value is None else f"{value:.{places}f}"


def _form(q: CostQuery, error: str) -> str:
    options = "".join(
        f"<option value={by}{' selected' if by == q.by else ''}>{by}</option>" for by in GROUPINGS
    )
    note = f"<p class=error role=alert>{escape(error)}</p>" if error else ""
    return (
        f"{note}<form id=cost-query method=get action=/console/cost class=inline>"
        f"<label>By <select name=by>{options}</select></label>"
        f"<label>Last <input name=days type=number min=1 max={MAX_DAYS} value={q.days}> days"
        "</label><label>Rate <input name=rate placeholder=10/s "
        f'value="{escape(q.rate.text if q.rate else "")}"></label>'
        "<label>Server <input name=server placeholder=40$/month "
        f'value="{escape(q.server.text if q.server else "")}"></label>'
        "<button>Show</button></form>"
    )


def _groups(q: CostQuery, groups: list[BillRow]) -> str:
    first = {"function": "Function", "version": "Function</th><th>Version", "day": "Day</th>"
             "<th>Function", "node": "Node</th><th>Function"}[q.by]  # fmt: skip
    rows = []
    for g in groups:
        key = {
            "function": f"<td>{escape(g.function)}</td>",
            "version": f"<td>{escape(g.function)}</td><td>{escape(g.version or '')}</td>",
            "day": f"<td>{g.day}</td><td>{escape(g.function)}</td>",
            "node": f"<td>{escape(g.node or '(control plane)')}</td><td>{escape(g.function)}</td>",
        }[q.by]
        rows.append(
            f"<tr>{key}<td class=invocations>{g.invocations}</td><td>{g.cold_starts}</td>"
            f"<td>{g.errors}</td><td>{g.gb_s:.3f}</td>"
            f"<td class=usd>{_usd(g.cost, 9)}</td></tr>"
        )
    grand = sum((g.cost for g in groups), Decimal(0))
    return (
        f"<table id=bill><thead><tr><th>{first}</th><th>Invocations</th><th>Cold starts</th>"
        "<th>Errors</th><th>GB-s</th><th>Cost (USD)</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<p>Total: <strong id=bill-total>{_usd(grand, 9)}</strong> USD "
        f"over the last {q.days} days (as billed: INIT included, each invocation at its "
        "architecture's first-tier price plus the request fee).</p>"
    )


def _outlooks(q: CostQuery, found: list[Outlook]) -> str:
    if not found:
        return "<p>No invocations in this span: nothing to project.</p>"
    rows = []
    for o in found:
        be = o.break_even
        even = "—"
        if be is not None:
            even = (
                "never (at any rate Lambda costs less)"
                if be.requests_per_month is None
                else f"{be.requests_per_month} / month ({be.per_second:.3f}/s)"
            )
        rows.append(
            f'<tr data-function="{escape(o.function)}"><td>{escape(o.function)}</td>'
            f"<td>{escape(o.workload.architecture)}</td><td>{o.workload.invocations}</td>"
            f"<td>{_usd(o.workload.mean_gb_s, 6)}</td>"
            f"<td>{_usd(o.cost_per_million, 4)}</td>"
            f"<td class=projected>{_usd(o.projection.total if o.projection else None, 2)}</td>"
            f"<td class=break-even>{escape(even)}</td></tr>"
        )
    rate = escape(q.rate.text) if q.rate else "(set a rate)"
    server = escape(q.server.text) if q.server else "(set a server price)"
    return (
        "<table id=outlook><thead><tr><th>Function</th><th>Architecture</th>"
        "<th>Measured invocations</th><th>Mean GB-s</th><th>USD per million</th>"
        f"<th>Month at {rate} (USD)</th><th>Break-even against {server}</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def per_day(groups: list[BillRow], today: date, days: int) -> dict[str, float]:
    """Millionths of a USD per UTC day, every day of the span (quiet days are 0)."""
    spent = {str(today - timedelta(days=i)): Decimal(0) for i in range(days - 1, -1, -1)}
    for g in groups:
        if g.day is not None and str(g.day) in spent:
            spent[str(g.day)] += g.cost
    return {d: float(v * 1_000_000) for d, v in spent.items()}


def cost_html(
    q: CostQuery,
    groups: list[BillRow],
    found: list[Outlook],
    error: str = "",
    today: date | None = None,
) -> str:
    days = per_day(groups, today, q.days) if q.by == "day" and today is not None else {}
    chart = escape(json.dumps(days))
    return (
        "<h1>Cost</h1>"
        f"{_form(q, error)}<section><h2>Bill by {escape(q.by)}</h2>{_groups(q, groups)}"
        f'<div id=cost-days data-days="{chart}"></div></section>'
        f"<section><h2>Projection and break-even</h2>{_outlooks(q, found)}</section>"
    )


def cost_page(
    ledger_path: Path,
    prices: PriceTable,
    query: dict[str, str],
    architecture_of: Callable[[str], str] = lambda _: "x86_64",
    bills: BillCache | None = None,
) -> str:
    """Reads the ledger's rollups (call from a worker thread, after flushing it): the
    minutes of the last ``days`` UTC days, today included, through ``bills`` when given
    (settled minutes summed once)."""
    error = ""
    try:
        q = CostQuery.parse(query)
    except InvalidParameterValue as exc:
        q, error = CostQuery(), exc.message
    now = time.time()
    since = (int(now // 86_400) - (q.days - 1)) * 86_400
    if bills is None:
        bills = BillCache(_reader(ledger_path), BILL_KEY_COLUMNS)
    if q.by == "node":  # the rollups keep no node: the raw rows (slower on a big ledger)
        raw = LedgerReader(ledger_path).groups("node", None, since, None)
        groups = [BillRow.of_totals(g) for g in raw]
        by_function = [BillRow.of("function", r) for r in bills.rows("function", since, now)]
    else:
        groups = [BillRow.of(q.by, row) for row in bills.rows(q.by, since, now)]
        by_function = per_function(groups)
    found = outlooks(workloads(by_function, architecture_of), q, prices)
    return cost_html(q, groups, found, error, datetime.now(UTC).date())


BILL_KEY_COLUMNS = {by: len(keys) for by, keys in rollups_db.BILL_KEYS.items()}


def _reader(ledger_path: Path) -> BillReader:
    def read(by: str, since: float, until: float | None) -> list[tuple[object, ...]]:
        with closing(ledger_db.connect(ledger_path)) as conn:
            return rollups_db.bill(conn, by, since, until)

    return read


def bill_cache(ledger_path: Path) -> BillCache:
    """The cache a server keeps for its Cost page."""
    return BillCache(_reader(ledger_path), BILL_KEY_COLUMNS)
