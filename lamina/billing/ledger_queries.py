"""The one read path over the ledger: totals per function, version or day; workloads;
months; recent rows.

Each function takes an open connection with ``decimal_sum`` registered — the server's
(:meth:`lamina.billing.ledger.Ledger.totals`) or a report's read-only one
(:class:`lamina.billing.ledger_reader.LedgerReader`) — and only reads, so it can run on any
thread with that thread's own connection, beside the writer (WAL lets readers and one
writer proceed together).
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

from lamina.billing import ledger_db
from lamina.billing.meter import EXACT, Cost, gb_seconds
from lamina.billing.projection import Workload
from lamina.billing.provisioned import ProvisionedSpan, clip
from lamina.models.invocation import InvocationRecord
from lamina.triggers import known

GroupBy = Literal["function", "version", "day", "node", "trigger"]

_KEYS: dict[str, tuple[str, ...]] = {
    "function": ("function",),
    "version": ("function", "version"),
    "day": ("date(started_at, 'unixepoch')", "function"),
    # The cluster node that ran them; NULL (the control plane's own machine) sorts first.
    "node": ("node", "function"),
    # What started them (faas.trigger, lamina.triggers): http, pubsub, datasource, ...
    "trigger": ("faas_trigger", "function"),
}


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """The ledger's rows for one function (and version, or UTC day), summed.

    Costs are as the ledger recorded them: each invocation at its architecture's
    first-tier price. ``mb_ms`` (Σ memory * billed ms) lets a report reprice them.
    """

    function: str
    version: str | None
    day: date | None
    invocations: int
    cold_starts: int
    errors: int  # ended in error or timeout, as Lambda's Errors metric counts them
    timeouts: int
    duration_ms: float
    init_ms: float  # Σ Init Duration of the cold starts (billed, inside billed_ms)
    billed_ms: int
    mb_ms: int
    ephemeral_gb_s: Decimal
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    # Nearest-rank duration percentiles, per function only.
    p50_duration_ms: float | None = None
    p90_duration_ms: float | None = None
    # SnapStart restores among the cold starts, and Σ their memory (the restore fee is
    # per GB restored).
    restores: int = 0
    restored_mb: int = 0
    # Per node only: the cluster node that ran them ("" for the control plane's machine).
    node: str | None = None
    # Per trigger only: what started them (OpenTelemetry's faas.trigger).
    trigger: str | None = None

    @property
    def gb_s(self) -> Decimal:
        return gb_seconds(1, self.mb_ms)

    @property
    def total_cost(self) -> Decimal:
        return EXACT.add(EXACT.add(self.request_cost, self.duration_cost), self.ephemeral_cost)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """One calendar month's (UTC) usage of one architecture: a monthly bill's inputs."""

    month: str  # "2026-05"
    architecture: str
    requests: int
    mb_ms: int  # of on-demand invocations (priced across the duration tiers)
    ephemeral_gb_s: Decimal
    # ... of the invocations provisioned environments served (a flat price, no tiers).
    provisioned_mb_ms: int = 0

    @property
    def gb_s(self) -> Decimal:
        return gb_seconds(1, self.mb_ms)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One stored row: the invocation and the cost recorded for it."""

    record: InvocationRecord
    cost: Cost


def groups(
    conn: sqlite3.Connection,
    by: GroupBy = "function",
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[GroupTotals]:
    """Totals per function, per (function, version) or per (UTC day, function), in key
    order; per function they carry nearest-rank p50/p90 of duration."""
    keys = ", ".join(_KEYS[by])
    where, params = _where(function, since, until)
    # GB-s are summed as integer MB-ms (exact and native), money with the exact decimal_sum.
    sql = (
        f"SELECT {keys}, COUNT(*), SUM(cold), SUM(outcome != 'success'), "
        "SUM(outcome = 'timeout'), TOTAL(duration_ms), TOTAL(init_ms), SUM(billed_ms), "
        "SUM(memory_mb * billed_ms), decimal_sum(ephemeral_gb_s), "
        "decimal_sum(request_cost), decimal_sum(duration_cost), decimal_sum(ephemeral_cost), "
        "SUM(restored), SUM(restored * memory_mb) "
        f"FROM invocations{where} GROUP BY {keys} ORDER BY {keys}"
    )
    found = [_group(by, row) for row in conn.execute(sql, params).fetchall()]
    if by != "function":
        return found
    return [
        dataclasses.replace(
            g,
            p50_duration_ms=_percentile(conn, g, since, until, 0.50),
            p90_duration_ms=_percentile(conn, g, since, until, 0.90),
        )
        for g in found
    ]


def workloads(
    conn: sqlite3.Connection,
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[tuple[str, Workload]]:
    """Each function's measured workload per architecture, with its billed-ms histogram."""
    where, params = _where(function, since, until)
    sums = conn.execute(
        "SELECT function, architecture, COUNT(*), SUM(memory_mb * billed_ms), "
        f"decimal_sum(ephemeral_gb_s) FROM invocations{where} "
        "GROUP BY function, architecture ORDER BY function, architecture",
        params,
    ).fetchall()
    buckets = conn.execute(
        "SELECT function, architecture, billed_ms, COUNT(*) "
        f"FROM invocations{where} GROUP BY function, architecture, billed_ms "
        "ORDER BY function, architecture, billed_ms",
        params,
    ).fetchall()
    histograms: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for name, arch, billed, count in buckets:
        histograms.setdefault((str(name), str(arch)), []).append((int(billed), int(count)))
    return [
        (
            str(name),
            Workload(
                architecture=str(arch),
                invocations=int(n),
                mb_ms=int(mb_ms),
                ephemeral_gb_s=Decimal(eph),
                histogram=tuple(histograms.get((str(name), str(arch)), ())),
            ),
        )
        for name, arch, n, mb_ms, eph in sums
    ]


def months(
    conn: sqlite3.Connection,
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[MonthUsage]:
    """Usage per UTC calendar month and architecture, oldest first."""
    where, params = _where(function, since, until)
    rows = conn.execute(
        "SELECT strftime('%Y-%m', started_at, 'unixepoch') AS month, architecture, "
        "COUNT(*), SUM(CASE WHEN provisioned THEN 0 ELSE memory_mb * billed_ms END), "
        "decimal_sum(ephemeral_gb_s), "
        "SUM(CASE WHEN provisioned THEN memory_mb * billed_ms ELSE 0 END) "
        f"FROM invocations{where} GROUP BY month, architecture ORDER BY month, architecture",
        params,
    ).fetchall()
    return [
        MonthUsage(str(month), str(arch), int(n), int(mb_ms), Decimal(eph), int(pc_mb_ms))
        for month, arch, n, mb_ms, eph, pc_mb_ms in rows
    ]


def records(
    conn: sqlite3.Connection, function: str | None = None, limit: int = 100
) -> list[LedgerEntry]:
    """The most recent rows, newest first."""
    where, params = _where(function, None, None)
    rows = conn.execute(
        f"SELECT {ledger_db.COLUMNS} FROM invocations{where} "
        "ORDER BY started_at DESC, id DESC LIMIT ?",
        [*params, max(0, limit)],
    ).fetchall()
    return [LedgerEntry(*ledger_db.decode(row)) for row in rows]


def _where(
    function: str | None, since: float | None, until: float | None
) -> tuple[str, list[object]]:
    """A WHERE clause for the common filters: ``since`` inclusive, ``until`` exclusive."""
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (("function = ?", function), ("started_at >= ?", since),
                          ("started_at < ?", until)):  # fmt: skip
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _percentile(
    conn: sqlite3.Connection,
    group: GroupTotals,
    since: float | None,
    until: float | None,
    fraction: float,
) -> float | None:
    """Nearest rank: the smallest duration with ``fraction`` of the group's rows at or below."""
    where, params = _where(group.function, since, until)
    rank = max(1, math.ceil(fraction * group.invocations))
    row = conn.execute(
        f"SELECT duration_ms FROM invocations{where} ORDER BY duration_ms LIMIT 1 OFFSET ?",
        [*params, rank - 1],
    ).fetchone()
    return None if row is None else float(row[0])


def _group(by: GroupBy, row: tuple[Any, ...]) -> GroupTotals:
    width = len(_KEYS[by])
    key, sums = row[:width], row[width:]
    (count, cold, errors, timeouts, duration, init, billed, mb_ms, eph, req, dur, eph_cost,
     restores, restored_mb) = sums  # fmt: skip
    return GroupTotals(
        function=str(key[1] if by in ("day", "node", "trigger") else key[0]),
        version=str(key[1]) if by == "version" else None,
        day=date.fromisoformat(str(key[0])) if by == "day" else None,
        invocations=int(count),
        cold_starts=int(cold),
        errors=int(errors),
        timeouts=int(timeouts),
        duration_ms=float(duration),
        init_ms=float(init),
        billed_ms=int(billed),
        mb_ms=int(mb_ms),
        ephemeral_gb_s=Decimal(eph),
        request_cost=Decimal(req),
        duration_cost=Decimal(dur),
        ephemeral_cost=Decimal(eph_cost),
        restores=int(restores),
        restored_mb=int(restored_mb),
        node=(key[0] or "") if by == "node" else None,
        trigger=known(key[0]) if by == "trigger" else None,
    )


def provisioned_spans(
    conn: sqlite3.Connection,
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[ProvisionedSpan]:
    """The ended READY spans of provisioned concurrency overlapping ``[since, until)``,
    clipped to it, oldest first."""
    where: list[str] = ["1 = 1"]
    args: list[object] = []
    if function is not None:
        where.append("function = ?")
        args.append(function)
    if since is not None:
        where.append("ended_at > ?")
        args.append(since)
    if until is not None:
        where.append("ready_at < ?")
        args.append(until)
    rows = conn.execute(
        f"SELECT {ledger_db.SPAN_COLUMNS} FROM provisioned_spans WHERE {' AND '.join(where)} "
        "ORDER BY ready_at, id",
        args,
    ).fetchall()
    spans = [ProvisionedSpan(str(f), str(q), str(v), str(a), int(m), int(c), float(r), float(e))
             for f, q, v, a, m, c, r, e in rows]  # fmt: skip
    return [c for s in spans if (c := clip(s, since, until)) is not None]
