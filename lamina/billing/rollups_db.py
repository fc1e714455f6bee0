"""The ``rollups`` table of ``ledger.db``: per-minute :class:`~lamina.billing.rollups.Minute`
rows, written by the ledger's flusher in the same transaction as the raw rows they count.

Money and GB-s are exact decimal TEXT as in the ``invocations`` table; histograms are the
bucket counts as comma-separated TEXT (the bucket bounds are fixed in ``rollups``).
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from lamina.billing.ledger_db import decimal_text
from lamina.billing.rollups import N_BUCKETS, Minute, RollupKey, SeriesKey

_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    function          TEXT    NOT NULL,
    version           TEXT    NOT NULL,
    minute            INTEGER NOT NULL,  -- epoch seconds, a multiple of 60
    invocations       INTEGER NOT NULL,
    errors            INTEGER NOT NULL,
    timeouts          INTEGER NOT NULL,
    throttles         INTEGER NOT NULL,
    cold_starts       INTEGER NOT NULL,
    duration_sum_ms   REAL    NOT NULL,
    duration_max_ms   REAL    NOT NULL,
    duration_min_ms   REAL,
    duration_buckets  TEXT    NOT NULL,
    init_sum_ms       REAL    NOT NULL,
    init_buckets      TEXT    NOT NULL,
    max_memory_used_mb INTEGER NOT NULL,
    memory_mb         INTEGER NOT NULL,
    gb_s              TEXT    NOT NULL,
    cost              TEXT    NOT NULL,
    provisioned_invocations     INTEGER NOT NULL DEFAULT 0,
    provisioned_duration_sum_ms REAL    NOT NULL DEFAULT 0,
    spillover_invocations       INTEGER NOT NULL DEFAULT 0,
    pc_samples                  INTEGER NOT NULL DEFAULT 0,
    pc_busy_sum                 INTEGER NOT NULL DEFAULT 0,
    pc_busy_min                 INTEGER NOT NULL DEFAULT 0,
    pc_busy_max                 INTEGER NOT NULL DEFAULT 0,
    pc_used_sum                 REAL    NOT NULL DEFAULT 0,
    pc_used_min                 REAL    NOT NULL DEFAULT 0,
    pc_used_max                 REAL    NOT NULL DEFAULT 0,
    recursive_drops             INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (function, version, minute)
) WITHOUT ROWID;
"""
# ``rollup_totals`` holds one row per (function, version), minute 0: everything counted so
# far, kept by the flusher in the same transaction, so start-up reads one row per series
# instead of summing every minute ever stored.
SCHEMA = (
    _TABLE.format(name="rollups")
    + "CREATE INDEX IF NOT EXISTS rollups_by_minute ON rollups (minute);\n"
    + _TABLE.format(name="rollup_totals")
)

_COLUMNS = (
    "function, version, minute, invocations, errors, timeouts, throttles, cold_starts, "
    "duration_sum_ms, duration_max_ms, duration_min_ms, duration_buckets, init_sum_ms, "
    "init_buckets, max_memory_used_mb, memory_mb, gb_s, cost, provisioned_invocations, "
    "provisioned_duration_sum_ms, spillover_invocations, pc_samples, pc_busy_sum, pc_busy_min, "
    "pc_busy_max, pc_used_sum, pc_used_min, pc_used_max, recursive_drops"
)
_VALUES = ", ".join("?" * 29)
# Columns added since the tables were first made (each with a default: older rows count 0).
_ADDED = (
    "provisioned_invocations INTEGER NOT NULL DEFAULT 0",
    "provisioned_duration_sum_ms REAL NOT NULL DEFAULT 0",
    "spillover_invocations INTEGER NOT NULL DEFAULT 0",
    "pc_samples INTEGER NOT NULL DEFAULT 0",
    "pc_busy_sum INTEGER NOT NULL DEFAULT 0",
    "pc_busy_min INTEGER NOT NULL DEFAULT 0",
    "pc_busy_max INTEGER NOT NULL DEFAULT 0",
    "recursive_drops INTEGER NOT NULL DEFAULT 0",
    "pc_used_sum REAL NOT NULL DEFAULT 0",
    "pc_used_min REAL NOT NULL DEFAULT 0",
    "pc_used_max REAL NOT NULL DEFAULT 0",
)


def ensure_schema(conn: sqlite3.Connection) -> None:
    """Create the tables if this ledger predates them, and add the columns added since
    (additive changes: no version bump)."""
    conn.executescript(SCHEMA)
    for table in ("rollups", "rollup_totals"):
        have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        for column in _ADDED:
            if column.split()[0] not in have:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column}")


def _buckets(text: str) -> list[int]:
    counts = [int(part) for part in text.split(",")]
    if len(counts) != N_BUCKETS:
        raise sqlite3.DatabaseError(f"rollup histogram has {len(counts)} buckets")
    return counts


def _decode(row: tuple[Any, ...]) -> tuple[RollupKey, Minute]:
    (function, version, minute, invocations, errors, timeouts, throttles, cold_starts,
     duration_sum, duration_max, duration_min, duration_buckets, init_sum, init_buckets,
     max_used, memory_mb, gb_s, cost, pc_invocations, pc_duration, spillover, samples, busy_sum, busy_min, busy_max,
     used_sum, used_min, used_max, recursive_drops) = row  # fmt: skip
    return (str(function), str(version), int(minute)), Minute(
        invocations=int(invocations),
        errors=int(errors),
        timeouts=int(timeouts),
        throttles=int(throttles),
        cold_starts=int(cold_starts),
        duration_sum_ms=float(duration_sum),
        duration_max_ms=float(duration_max),
        duration_min_ms=None if duration_min is None else float(duration_min),
        duration_buckets=_buckets(duration_buckets),
        init_sum_ms=float(init_sum),
        init_buckets=_buckets(init_buckets),
        max_memory_used_mb=int(max_used),
        memory_mb=int(memory_mb),
        gb_s=Decimal(gb_s),
        cost=Decimal(cost),
        provisioned_invocations=int(pc_invocations),
        provisioned_duration_sum_ms=float(pc_duration),
        spillover_invocations=int(spillover),
        pc_samples=int(samples),
        pc_busy_sum=int(busy_sum),
        pc_busy_min=int(busy_min),
        pc_busy_max=int(busy_max),
        pc_used_sum=float(used_sum),
        pc_used_min=float(used_min),
        pc_used_max=float(used_max),
        recursive_drops=int(recursive_drops),
    )


def _encode(key: RollupKey, m: Minute) -> tuple[object, ...]:
    return (
        *key,
        m.invocations,
        m.errors,
        m.timeouts,
        m.throttles,
        m.cold_starts,
        m.duration_sum_ms,
        m.duration_max_ms,
        m.duration_min_ms,
        ",".join(map(str, m.duration_buckets)),
        m.init_sum_ms,
        ",".join(map(str, m.init_buckets)),
        m.max_memory_used_mb,
        m.memory_mb,
        decimal_text(m.gb_s),
        decimal_text(m.cost),
        m.provisioned_invocations,
        m.provisioned_duration_sum_ms,
        m.spillover_invocations,
        m.pc_samples,
        m.pc_busy_sum,
        m.pc_busy_min,
        m.pc_busy_max,
        m.pc_used_sum,
        m.pc_used_min,
        m.pc_used_max,
        m.recursive_drops,
    )


def add(conn: sqlite3.Connection, batch: dict[RollupKey, Minute]) -> None:
    """Merge a batch's minutes into the stored ones, and into the running totals (call
    inside the writer's transaction)."""
    _merge_into(conn, "rollups", batch)
    series: dict[RollupKey, Minute] = {}
    for (function, version, _), minute in batch.items():
        total = series.get((function, version, 0))
        if total is None:
            series[(function, version, 0)] = minute.copy()
        else:
            total.merge(minute)
    _merge_into(conn, "rollup_totals", series)


def _merge_into(conn: sqlite3.Connection, table: str, batch: dict[RollupKey, Minute]) -> None:
    for key, minute in batch.items():
        row = conn.execute(
            f"SELECT {_COLUMNS} FROM {table} WHERE function = ? AND version = ? AND minute = ?",
            key,
        ).fetchone()
        if row is not None:
            stored = _decode(row)[1]
            stored.merge(minute)
            minute = stored
        conn.execute(
            f"INSERT OR REPLACE INTO {table} ({_COLUMNS}) VALUES ({_VALUES})",
            _encode(key, minute),
        )


def minutes(
    conn: sqlite3.Connection,
    function: str | None = None,
    version: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[tuple[RollupKey, Minute]]:
    """Stored minutes in ``[since, until)``, by function, version, then time."""
    where: list[str] = []
    args: list[object] = []
    for column, value in (("function", function), ("version", version)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if since is not None:
        where.append("minute >= ?")
        args.append(since)
    if until is not None:
        where.append("minute < ?")
        args.append(until)
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM rollups {clause} ORDER BY function, version, minute", args
    ).fetchall()
    return [_decode(row) for row in rows]


def totals(conn: sqlite3.Connection) -> dict[SeriesKey, Minute]:
    """Everything ever counted, per (function, version): what counters start from."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM rollup_totals").fetchall()
    out: dict[SeriesKey, Minute] = {}
    for row in rows:
        (function, version, _), minute = _decode(row)
        out[(function, version)] = minute
    return out


def last_active(conn: sqlite3.Connection) -> dict[str, int]:
    """Each function's latest minute with an invocation (epoch seconds)."""
    # One primary-key probe per series (newest minute first), not a scan of every minute.
    rows = conn.execute(
        "SELECT t.function, (SELECT MAX(r.minute) FROM rollups r WHERE r.function = t.function "
        "AND r.version = t.version AND r.invocations > 0) FROM rollup_totals t"
    ).fetchall()
    out: dict[str, int] = {}
    for function, minute in rows:
        if minute is not None:
            out[str(function)] = max(int(minute), out.get(str(function), 0))
    return out


def cost_since(
    conn: sqlite3.Connection, since: float, until: float | None = None
) -> dict[str, Decimal]:
    """Each function's exact cost over minutes in ``[since, until)``, summed in SQL."""
    rows = conn.execute(
        "SELECT function, decimal_sum(cost) FROM rollups WHERE minute >= ? AND minute < ? "
        "GROUP BY function",
        (since, until if until is not None else 2**62),
    ).fetchall()
    return {str(function): Decimal(total) for function, total in rows}


def function_summaries(conn: sqlite3.Connection, since: float) -> dict[str, Minute]:
    """Each function's counts since ``since`` (all versions), summed in SQL; the duration
    histogram is added up in Python from its text. No money (see :func:`cost_since`) and no
    Init histogram: what the console's list needs, without decoding whole rows."""
    rows = conn.execute(
        "SELECT function, SUM(invocations), SUM(errors), SUM(timeouts), SUM(throttles), "
        "SUM(cold_starts), SUM(duration_sum_ms), MAX(duration_max_ms), MIN(duration_min_ms), "
        "group_concat(duration_buckets, ';'), MAX(max_memory_used_mb) "
        "FROM rollups WHERE minute >= ? GROUP BY function",
        (since,),
    ).fetchall()
    out: dict[str, Minute] = {}
    for (function, n, errors, timeouts, throttles, cold, dsum, dmax, dmin, buckets,
         max_used) in rows:  # fmt: skip
        totals = [0] * N_BUCKETS
        for text in str(buckets).split(";"):
            for i, count in enumerate(_buckets(text)):
                totals[i] += count
        out[str(function)] = Minute(
            invocations=int(n),
            errors=int(errors),
            timeouts=int(timeouts),
            throttles=int(throttles),
            cold_starts=int(cold),
            duration_sum_ms=float(dsum),
            duration_max_ms=float(dmax),
            duration_min_ms=None if dmin is None else float(dmin),
            duration_buckets=totals,
            max_memory_used_mb=int(max_used),
        )
    return out


# The bill's groupings over rollups: the key columns of each (a UTC day is minute / 86400).
BILL_KEYS = {
    "function": ("function",),
    "version": ("function", "version"),
    "day": ("minute / 86400", "function"),
}


def bill(
    conn: sqlite3.Connection, by: str, since: float, until: float | None = None
) -> list[tuple[Any, ...]]:
    """Sums per group of the minutes in ``[since, until)``, in key order: the key columns
    of :data:`BILL_KEYS` ``[by]``, then invocations, cold starts, errors, GB-s and cost
    (exact decimal text, summed with ``decimal_sum``)."""
    keys = ", ".join(BILL_KEYS[by])
    return conn.execute(
        f"SELECT {keys}, SUM(invocations), SUM(cold_starts), SUM(errors), decimal_sum(gb_s), "
        f"decimal_sum(cost) FROM rollups WHERE minute >= ? AND minute < ? AND invocations > 0 "
        f"GROUP BY {keys} ORDER BY {keys}",
        (since, until if until is not None else 2**62),
    ).fetchall()
