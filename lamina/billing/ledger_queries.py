"""Read side of the ledger: per-function totals, per-day totals, recent rows, monthly usage.

Each function takes an open connection (see :func:`lamina.billing.ledger_db.connect`) and
only reads, so it can run on any thread with that thread's own connection, concurrently
with the writer (WAL lets readers and one writer proceed together).
"""

from __future__ import annotations

import math
import sqlite3
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from lamina.billing import ledger_db
from lamina.billing.meter import EXACT, Cost, gb_seconds
from lamina.models.invocation import InvocationRecord


@dataclass(frozen=True, slots=True)
class CostTotals:
    """One function's invocations and cost over a time range (costs at first-tier prices)."""

    function: str
    invocations: int
    cold_starts: int
    errors: int  # ended in error or timeout, as Lambda's Errors metric counts them
    timeouts: int
    duration_ms: float
    billed_ms: int
    gb_s: Decimal
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    total_cost: Decimal
    p50_duration_ms: float | None = None
    p90_duration_ms: float | None = None


@dataclass(frozen=True, slots=True)
class DailyTotals:
    """One function's totals for one UTC day."""

    day: date
    function: str
    invocations: int
    cold_starts: int
    errors: int
    timeouts: int
    duration_ms: float
    billed_ms: int
    gb_s: Decimal
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    total_cost: Decimal


@dataclass(frozen=True, slots=True)
class Usage:
    """An architecture's raw usage over a range: the inputs of ``meter.monthly_cost``."""

    architecture: str
    requests: int
    gb_s: Decimal
    ephemeral_gb_s: Decimal


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One stored row: the invocation and the cost recorded for it."""

    record: InvocationRecord
    cost: Cost


# GB-s are summed as integer MB-ms (exact and native), money with the exact decimal_sum;
# each row's cost is the sum of its three parts, so the total is derived, not summed again.
_AGGREGATES = """
    COUNT(*), SUM(cold), SUM(outcome != 'success'), SUM(outcome = 'timeout'),
    TOTAL(duration_ms), SUM(billed_ms), SUM(memory_mb * billed_ms), decimal_sum(request_cost),
    decimal_sum(duration_cost), decimal_sum(ephemeral_cost)
"""


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


class _Sums(NamedTuple):
    """The aggregate columns, in the order both totals dataclasses declare them."""

    invocations: int
    cold_starts: int
    errors: int
    timeouts: int
    duration_ms: float
    billed_ms: int
    gb_s: Decimal
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    total_cost: Decimal


def _sums(row: tuple[Any, ...]) -> _Sums:
    (count, cold, errors, timeouts, duration, billed, mb_ms, request_cost, duration_cost,
     ephemeral_cost) = row  # fmt: skip
    request, compute, storage = (
        Decimal(request_cost),
        Decimal(duration_cost),
        Decimal(ephemeral_cost),
    )
    return _Sums(
        int(count),
        int(cold),
        int(errors),
        int(timeouts),
        float(duration),
        int(billed),
        gb_seconds(1, int(mb_ms)),
        request,
        compute,
        storage,
        EXACT.add(EXACT.add(request, compute), storage),
    )


def totals(
    conn: sqlite3.Connection,
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[CostTotals]:
    """Totals per function (sorted by name), with nearest-rank p50/p90 of duration."""
    where, params = _where(function, since, until)
    rows = conn.execute(
        f"SELECT function, {_AGGREGATES} FROM invocations{where} GROUP BY function "
        "ORDER BY function",
        params,
    ).fetchall()
    out: list[CostTotals] = []
    for name, *sums in rows:
        agg = _sums(tuple(sums))
        n = agg.invocations
        p50 = _percentile(conn, name, since, until, n, 0.50)
        p90 = _percentile(conn, name, since, until, n, 0.90)
        out.append(CostTotals(str(name), *agg, p50, p90))
    return out


def daily(
    conn: sqlite3.Connection,
    function: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[DailyTotals]:
    """Totals per function per UTC day, oldest day first."""
    where, params = _where(function, since, until)
    rows = conn.execute(
        f"SELECT date(started_at, 'unixepoch') AS day, function, {_AGGREGATES} "
        f"FROM invocations{where} GROUP BY day, function ORDER BY day, function",
        params,
    ).fetchall()
    return [
        DailyTotals(date.fromisoformat(day), str(name), *_sums(tuple(sums)))
        for day, name, *sums in rows
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


def usage(
    conn: sqlite3.Connection, since: float | None = None, until: float | None = None
) -> list[Usage]:
    """Requests and GB-s per architecture over a range (e.g. one calendar month)."""
    where, params = _where(None, since, until)
    rows = conn.execute(
        "SELECT architecture, COUNT(*), SUM(memory_mb * billed_ms), decimal_sum(ephemeral_gb_s) "
        f"FROM invocations{where} GROUP BY architecture ORDER BY architecture",
        params,
    ).fetchall()
    return [
        Usage(arch, int(n), gb_seconds(1, int(mb_ms)), Decimal(eph)) for arch, n, mb_ms, eph in rows
    ]


def _percentile(
    conn: sqlite3.Connection,
    function: str,
    since: float | None,
    until: float | None,
    count: int,
    fraction: float,
) -> float | None:
    """Nearest-rank percentile: the smallest duration with ``fraction`` of rows at or below."""
    if count == 0:
        return None
    where, params = _where(function, since, until)
    rank = max(1, math.ceil(fraction * count))
    row = conn.execute(
        f"SELECT duration_ms FROM invocations{where} ORDER BY duration_ms LIMIT 1 OFFSET ?",
        [*params, rank - 1],
    ).fetchone()
    return None if row is None else float(row[0])
