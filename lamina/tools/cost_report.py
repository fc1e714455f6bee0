"""``lamina cost``: the ledger per function / version / day / month, projections, break-even;
and the workflows beside the functions (:mod:`lamina.tools.workflow_cost`).

Rows are priced as the ledger prices them — each invocation at its architecture's
first-tier price plus the request fee — or repriced for another architecture
(``architecture``), which keeps the measured GB-s and swaps the price. Months are billed
as AWS bills them: per architecture, across the duration tiers, optionally with the free
tier (one per account: it goes to the month's architecture with the most GB-s).
Projections take each function's measured billed durations (cold starts and their INIT
included, as billed) to a request rate; the break-even is the rate at which that bill
reaches the server's flat price.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal, Protocol

from lamina.billing.ledger_reader import GroupBy, GroupTotals, MonthUsage
from lamina.billing.meter import EXACT, MonthlyBill, gb_seconds, monthly_cost
from lamina.billing.prices import PriceTable
from lamina.billing.projection import (
    BreakEven,
    Projection,
    RequestRate,
    ServerPrice,
    Workload,
    break_even,
    project,
)
from lamina.billing.provisioned import ProvisionedSpan
from lamina.billing.snapstart import SnapStartVersion
from lamina.tools.formatting import plain
from lamina.tools.provisioned_cost import ProvisionedRow, provisioned_row, provisioned_rows
from lamina.tools.snapstart_cost import SnapStartRow, snapstart_row, snapstart_rows
from lamina.tools.workflow_cost import WorkflowBill, workflow_row

By = Literal["function", "version", "day", "node", "trigger", "month"]


class LedgerViews(Protocol):
    """What a report reads: a :class:`LedgerReader`, or the server's ledger over HTTP."""

    @property
    def source(self) -> str: ...

    def groups(
        self,
        by: GroupBy = "function",
        function: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[GroupTotals]: ...

    def months(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[MonthUsage]: ...

    def workloads(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[tuple[str, Workload]]: ...


@dataclass(frozen=True, slots=True)
class CostQuery:
    function: str | None = None
    by: By = "function"
    since: float | None = None
    until: float | None = None
    architecture: str | None = None  # None: as recorded
    free_tier: bool = False
    rate: RequestRate | None = None
    server: ServerPrice | None = None


@dataclass(frozen=True, slots=True)
class Priced:
    """A group's money, as recorded or repriced."""

    request: Decimal
    duration: Decimal
    ephemeral: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(EXACT.add(self.request, self.duration), self.ephemeral)


@dataclass(frozen=True, slots=True)
class FunctionOutlook:
    """One function's (and architecture's) projection and break-even."""

    function: str
    workload: Workload
    architecture: str  # the one priced
    projection: Projection | None
    break_even: BreakEven | None


@dataclass(slots=True)
class CostReport:
    query: CostQuery
    groups: list[GroupTotals] = field(default_factory=list)
    months: list[MonthlyBill] = field(default_factory=list)
    month_names: list[str] = field(default_factory=list)  # parallel to months
    outlooks: list[FunctionOutlook] = field(default_factory=list)
    source: str = ""
    notes: list[str] = field(default_factory=list)
    workflows: list[WorkflowBill] = field(default_factory=list)  # state machines, priced
    snapstart: list[SnapStartRow] = field(default_factory=list)  # restores and cache fees
    # Provisioned concurrency's configured concurrency, one row per READY span.
    provisioned: list[ProvisionedRow] = field(default_factory=list)


def priced(group: GroupTotals, prices: PriceTable, architecture: str | None) -> Priced:
    """The group's costs as recorded, or its GB-s at ``architecture``'s first-tier price."""
    if architecture is None:
        return Priced(group.request_cost, group.duration_cost, group.ephemeral_cost)
    price = prices.tiers(architecture)[0].price_per_gb_s
    return Priced(group.request_cost, EXACT.multiply(group.gb_s, price), group.ephemeral_cost)


def month_bills(
    usage: list[MonthUsage], prices: PriceTable, architecture: str | None, free_tier: bool
) -> list[tuple[str, MonthlyBill]]:
    """Each month's bill per architecture; the free tier goes to its biggest architecture.

    The invokes provisioned environments served are outside the tiers and the free tier:
    their GB-s are added to the duration cost at the provisioned duration price."""
    merged: dict[tuple[str, str], tuple[int, int, Decimal, int]] = {}
    for u in usage:
        key = (u.month, architecture or u.architecture)
        n, mb_ms, eph, pc = merged.get(key, (0, 0, Decimal(0), 0))
        merged[key] = (
            n + u.requests,
            mb_ms + u.mb_ms,
            EXACT.add(eph, u.ephemeral_gb_s),
            pc + u.provisioned_mb_ms,
        )
    biggest: dict[str, tuple[int, str]] = {}
    for (month, arch), (_, mb_ms, _, _) in merged.items():
        if month not in biggest or mb_ms > biggest[month][0]:
            biggest[month] = (mb_ms, arch)
    out: list[tuple[str, MonthlyBill]] = []
    for (month, arch), (n, mb_ms, eph, pc) in sorted(merged.items()):
        free = free_tier and biggest[month][1] == arch
        bill = monthly_cost(gb_seconds(1, mb_ms), n, arch, prices, free, eph)
        provisioned = prices.provisioned.get(arch)
        if pc and provisioned is not None:
            extra = EXACT.multiply(gb_seconds(1, pc), provisioned.duration_price_per_gb_s)
            bill = dataclasses.replace(bill, duration_cost=EXACT.add(bill.duration_cost, extra))
        out.append((month, bill))
    return out


def outlooks(
    workloads: list[tuple[str, Workload]], query: CostQuery, prices: PriceTable
) -> list[FunctionOutlook]:
    out = []
    for name, workload in workloads:
        arch = query.architecture or workload.architecture
        projection = (
            project(
                workload, query.rate.per_month, prices, free_tier=query.free_tier, architecture=arch
            )
            if query.rate is not None
            else None
        )
        even = (
            break_even(workload, query.server, prices, free_tier=query.free_tier, architecture=arch)
            if query.server is not None
            else None
        )
        out.append(FunctionOutlook(name, workload, arch, projection, even))
    return out


def from_ledger(reader: LedgerViews, query: CostQuery, prices: PriceTable) -> CostReport:
    """The report from a ledger's views: a file on this machine, or the server's answer."""
    report = CostReport(query, source=reader.source)
    if query.architecture is not None:
        prices.tiers(query.architecture)  # an unknown architecture fails here, clearly
    span = (query.function, query.since, query.until)
    if query.by != "month":
        report.groups = reader.groups(query.by, *span)
    bills = month_bills(reader.months(*span), prices, query.architecture, query.free_tier)
    report.month_names = [m for m, _ in bills]
    report.months = [b for _, b in bills]
    if query.rate is not None or query.server is not None:
        report.outlooks = outlooks(reader.workloads(*span), query, prices)
    return report


def add_snapstart(
    report: CostReport,
    reader: LedgerViews,
    versions: list[SnapStartVersion] | None,
    prices: PriceTable,
    now: float,
) -> None:
    """SnapStart's fees per version: restores from the ledger, cache from ``versions``
    (None: not known, e.g. a ledger file read offline; said in a note)."""
    q = report.query
    if q.by == "month":
        return
    groups = report.groups if q.by == "version" else None
    if groups is None and (versions or any(g.restores for g in report.groups) or q.by == "day"):
        groups = reader.groups("version", q.function, q.since, q.until)
    report.snapstart = snapstart_rows(
        groups or [], versions or [], prices, since=q.since, until=q.until, now=now
    )
    if versions is None and report.snapstart:
        report.notes.append(
            "SnapStart cache fees need the server's list of published versions: restores only"
        )


def group_dict(g: GroupTotals, money: Priced) -> dict[str, Any]:
    row: dict[str, Any] = {"function": g.function}
    if g.version is not None:
        row["version"] = g.version
    if g.day is not None:
        row["day"] = g.day.isoformat()
    if g.node is not None:
        row["node"] = g.node
    if g.trigger is not None:
        row["trigger"] = g.trigger
    row.update(
        {
            "invocations": g.invocations,
            "cold_starts": g.cold_starts,
            "errors": g.errors,
            "timeouts": g.timeouts,
            "duration_ms": g.duration_ms,
            "init_ms": g.init_ms,
            "billed_ms": g.billed_ms,
            "gb_s": plain(g.gb_s),
            "request_cost": plain(money.request),
            "duration_cost": plain(money.duration),
            "ephemeral_cost": plain(money.ephemeral),
            "total_cost": plain(money.total),
        }
    )
    if g.p50_duration_ms is not None:
        row["p50_duration_ms"] = g.p50_duration_ms
        row["p90_duration_ms"] = g.p90_duration_ms
    return row


def bill_dict(month: str, bill: MonthlyBill) -> dict[str, Any]:
    return {
        "month": month,
        "architecture": bill.architecture,
        "requests": bill.requests,
        "gb_s": plain(bill.gb_s),
        "free_requests": bill.free_requests,
        "free_gb_s": plain(bill.free_gb_s),
        "request_cost": plain(bill.request_cost),
        "duration_cost": plain(bill.duration_cost),
        "ephemeral_cost": plain(bill.ephemeral_cost),
        "total_cost": plain(bill.total),
        "tiers": [
            {
                "gb_s": plain(t.gb_s),
                "price_per_gb_s": plain(t.price_per_gb_s),
                "cost": plain(t.cost),
            }
            for t in bill.tiers
        ],
    }


def outlook_dict(o: FunctionOutlook) -> dict[str, Any]:
    w = o.workload
    out: dict[str, Any] = {
        "architecture": o.architecture,
        "invocations_measured": w.invocations,
        "billed_ms_p50": w.billed_percentile(0.5),
        "billed_ms_p90": w.billed_percentile(0.9),
        "mean_gb_s": plain(w.mean_gb_s.quantize(Decimal("1e-12"))),
    }
    if o.projection is not None:
        p = o.projection
        out["projection"] = {
            "requests_per_month": p.requests,
            "gb_s": plain(p.gb_s),
            "bill": bill_dict("projected", p.bill),
        }
    if o.break_even is not None:
        b = o.break_even
        out["break_even"] = {
            "server_per_month": plain(b.server.per_month),
            "requests_per_month": b.requests_per_month,
            "requests_per_second": float(b.per_second) if b.per_second is not None else None,
        }
    return out


def add_provisioned(report: CostReport, spans: list[ProvisionedSpan], prices: PriceTable) -> None:
    """Provisioned concurrency's configured-concurrency charge, per READY span."""
    if report.query.by != "month":
        report.provisioned = provisioned_rows(spans, prices)


def report_rows(report: CostReport, prices: PriceTable) -> list[dict[str, Any]]:
    """``--json``: one object per row of the report's grouping."""
    if report.query.by == "month":
        return [bill_dict(m, b) for m, b in zip(report.month_names, report.months, strict=True)]
    by_function: dict[str, list[FunctionOutlook]] = {}
    for o in report.outlooks:
        by_function.setdefault(o.function, []).append(o)
    rows = []
    for g in report.groups:
        row = group_dict(g, priced(g, prices, report.query.architecture))
        if report.query.by == "function" and g.function in by_function:
            row["outlook"] = [outlook_dict(o) for o in by_function[g.function]]
        rows.append(row)
    rows.extend(snapstart_row(s) for s in report.snapstart)
    rows.extend(provisioned_row(p) for p in report.provisioned)
    rows.extend(workflow_row(b) for b in report.workflows)
    return rows
