"""``lamina cost`` as text: the ledger table first (its header is the first line), then the
monthly bill, the projection and the break-even, then where the figures came from."""

from __future__ import annotations

from decimal import Decimal
from typing import TextIO

from lamina.billing.prices import PriceTable
from lamina.billing.projection import per_million
from lamina.terminal import paint, table
from lamina.tools.cost_report import CostReport, priced
from lamina.tools.formatting import count, money, ms, per_second
from lamina.tools.workflow_cost import workflows_total
from lamina.workflows.cost import load_workflow_prices


def write_cost(report: CostReport, prices: PriceTable, stream: TextIO) -> None:
    """Sections follow each other without blank lines (every line is a row or a title),
    so scripts can pick rows by their first word."""
    q = report.query
    if q.by == "month":
        _months(report, stream, title=False)
    else:
        _groups(report, prices, stream)
        if report.months:
            _months(report, stream, title=True)
    if report.snapstart:
        _snapstart(report, stream)
    if report.provisioned:
        _provisioned(report, stream)
    if report.workflows and q.by != "month":
        _workflows(report, stream)
    if report.outlooks and q.rate is not None:
        _projection(report, stream)
    if report.outlooks and q.server is not None:
        _break_even(report, stream)
    priced_as = f"repriced for {q.architecture}" if q.architecture else "as recorded"
    print(f"source: {report.source}; per-row costs at first-tier prices, {priced_as}", file=stream)
    for note in report.notes:
        print(f"note: {note}", file=stream)


def _title(text: str, stream: TextIO) -> None:
    print(paint(f"== {text}", "bold", stream), file=stream)


def _groups(report: CostReport, prices: PriceTable, stream: TextIO) -> None:
    headers, rows = groups_table(report, prices)
    table(headers, rows, stream)
    if len(report.groups) > 1:
        total = sum(
            (priced(g, prices, report.query.architecture).total for g in report.groups), Decimal(0)
        )
        print(f"total: {money(total)}", file=stream)


def groups_table(report: CostReport, prices: PriceTable) -> tuple[list[str], list[list[object]]]:
    """One row per function (and version, or day)."""
    by = report.query.by
    headers = ["FUNCTION"]
    if by == "version":
        headers.append("VERSION")
    if by == "day":
        headers.insert(0, "DAY")
    if by == "node":
        headers.insert(0, "NODE")
    if by == "trigger":
        headers.insert(0, "TRIGGER")
    headers += ["INVOCATIONS", "COLD", "ERRORS", "AVG MS", "INIT MS", "BILLED MS", "GB-S"]
    headers += ["REQUESTS $", "DURATION $", "TOTAL $"]
    rows = []
    for g in report.groups:
        money_ = priced(g, prices, report.query.architecture)
        row: list[object] = [g.function]
        if by == "version":
            row.append(g.version)
        if by == "day":
            row.insert(0, g.day.isoformat() if g.day else "-")
        if by == "node":
            row.insert(0, g.node or "(control plane)")
        if by == "trigger":
            row.insert(0, g.trigger)
        avg = g.duration_ms / g.invocations if g.invocations else None
        row += [
            g.invocations,
            g.cold_starts,
            g.errors,
            ms(avg),
            ms(g.init_ms),
            g.billed_ms,
            f"{g.gb_s:.4f}",
            money(money_.request),
            money(money_.duration),
            money(money_.total),
        ]
        rows.append(row)
    return headers, rows


def _snapstart(report: CostReport, stream: TextIO) -> None:
    _title("SnapStart (restores per GB restored, snapshot cache per GB-s, 3 h minimum)", stream)
    table(*snapstart_table(report), stream)


def snapstart_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per published SnapStart version with restores or a cached snapshot."""
    headers = ["FUNCTION", "VERSION", "RESTORES", "RESTORE $", "CACHE S", "CACHE GB-S"]
    headers += ["CACHE $", "TOTAL $"]
    rows: list[list[object]] = [
        [
            s.function,
            s.version,
            s.restores,
            money(s.restore_cost),
            s.cache_s,
            f"{s.cache_gb_s:.4f}",
            money(s.cache_cost),
            money(s.total),
        ]
        for s in report.snapstart
    ]
    return headers, rows


def _provisioned(report: CostReport, stream: TextIO) -> None:
    _title("Provisioned concurrency (configured concurrency per GB-s while READY, 5 min "
           "increments; its invokes are in the rows above at the provisioned duration price)",
           stream)  # fmt: skip
    table(*provisioned_table(report), stream)


def provisioned_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per READY span of a provisioned concurrency configuration."""
    headers = ["FUNCTION", "QUALIFIER", "VERSION", "ARCH", "MEMORY", "CONCURRENCY", "BILLED S"]
    headers += ["GB-S", "COST $"]
    rows: list[list[object]] = [
        [
            p.span.function,
            p.span.qualifier,
            p.span.version,
            p.span.architecture,
            p.span.memory_mb,
            p.span.concurrency,
            p.billed_s,
            f"{p.gb_s:.4f}",
            money(p.cost),
        ]
        for p in report.provisioned
    ]
    return headers, rows


def _workflows(report: CostReport, stream: TextIO) -> None:
    _title("Workflows (Step Functions: Standard per transition, Express per request + GB-s)",
           stream)  # fmt: skip
    table(*workflows_table(report), stream)
    tier = "with" if report.query.free_tier else "without"
    total = workflows_total(report.workflows, load_workflow_prices(), report.query.free_tier)
    print(f"workflows total: {money(total)} ({tier} the free tier)", file=stream)


def workflows_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per state machine."""
    headers = ["STATE MACHINE", "TYPE", "EXECUTIONS", "TRANSITIONS", "BILLED MS", "GB-S"]
    headers += ["TRANSITIONS $", "REQUESTS $", "DURATION $", "TOTAL $"]
    rows: list[list[object]] = [
        [
            b.usage.name,
            b.usage.type,
            b.usage.executions,
            b.usage.transitions if b.usage.type == "STANDARD" else "-",
            b.usage.billed_ms if b.usage.type == "EXPRESS" else "-",
            f"{b.gb_s:.4f}" if b.usage.type == "EXPRESS" else "-",
            money(b.transition_cost),
            money(b.request_cost),
            money(b.duration_cost),
            money(b.total),
        ]
        for b in report.workflows
    ]
    return headers, rows


def _months(report: CostReport, stream: TextIO, title: bool) -> None:
    q = report.query
    if title:
        tier = "with the free tier" if q.free_tier else "without the free tier"
        _title(f"Monthly bill (UTC calendar months, duration tiers, {tier})", stream)
    table(*months_table(report), stream)


def months_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per month and architecture, billed with tiers (and the free tier)."""
    headers = ["MONTH", "ARCH", "REQUESTS", "GB-S", "FREE REQUESTS", "FREE GB-S"]
    headers += ["REQUESTS $", "DURATION $", "STORAGE $", "TOTAL $"]
    rows: list[list[object]] = [
        [
            month,
            b.architecture,
            count(b.requests),
            f"{b.gb_s:.4f}",
            count(b.free_requests),
            f"{b.free_gb_s:.4f}",
            money(b.request_cost),
            money(b.duration_cost),
            money(b.ephemeral_cost),
            money(b.total),
        ]
        for month, b in zip(report.month_names, report.months, strict=True)
    ]
    return headers, rows


def _projection(report: CostReport, stream: TextIO) -> None:
    q = report.query
    assert q.rate is not None
    tier = ", free tier applied" if q.free_tier else ""
    _title(
        f"Projection at {q.rate.text} = {q.rate.per_month:,} requests a month (730 h), "
        f"each function's measured billed durations{tier}",
        stream,
    )
    table(*projection_table(report), stream)


def projection_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per function and architecture: its month at the rate."""
    headers = ["FUNCTION", "ARCH", "MEASURED", "BILLED P50", "P90", "MEAN", "GB-S / MONTH"]
    headers += ["REQUESTS $", "DURATION $", "TIERS", "$ / MONTH", "$ / 1M"]
    rows: list[list[object]] = []
    for o in report.outlooks:
        p = o.projection
        if p is None:
            continue
        w = o.workload
        mean = w.mean_billed_ms
        tiers = " + ".join(f"{t.gb_s:,.0f}@{t.price_per_gb_s}" for t in p.bill.tiers) or "free"
        rows.append(
            [
                o.function,
                o.architecture,
                count(w.invocations),
                count(w.billed_percentile(0.5)),
                count(w.billed_percentile(0.9)),
                ms(float(mean)) if mean is not None else "-",
                f"{p.gb_s:,.2f}",
                money(p.bill.request_cost),
                money(p.bill.duration_cost),
                tiers,
                money(p.total),
                money(per_million(p.total, p.requests)),
            ]
        )
    return headers, rows


def _break_even(report: CostReport, stream: TextIO) -> None:
    q = report.query
    assert q.server is not None
    _title(
        f"Break-even against a {q.server.text} server ({money(q.server.per_month)} a month): "
        "above this rate the server is cheaper",
        stream,
    )
    table(*break_even_table(report), stream)


def break_even_table(report: CostReport) -> tuple[list[str], list[list[object]]]:
    """One row per function: the rate above which the server is cheaper."""
    q = report.query
    assert q.server is not None
    headers = ["FUNCTION", "ARCH", "BREAK-EVEN", "REQUESTS / MONTH"]
    if q.rate is not None:
        headers.append(f"AT {q.rate.text}")
    rows = []
    for o in report.outlooks:
        b = o.break_even
        if b is None:
            continue
        row: list[object] = [
            o.function,
            o.architecture,
            per_second(b.per_second),
            count(b.requests_per_month),
        ]
        if q.rate is not None and o.projection is not None:
            lam = o.projection.total
            cheaper = "Lambda" if lam < q.server.per_month else "the server"
            row.append(f"Lambda {money(lam)} vs {money(q.server.per_month)}: {cheaper} is cheaper")
        rows.append(row)
    return headers, rows
