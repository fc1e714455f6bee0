"""The ledger's SQLite file: schema, connections, and how a metered invocation becomes a row.

Money and GB-s are stored as exact decimal TEXT (``"0.0075"``), never REAL, and summed
with the ``decimal_sum`` aggregate registered on every connection, so totals are exact.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

from lamina.billing.meter import EXACT, Cost
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.triggers import known

SCHEMA_VERSION = 5

# Schema 4 as it was made; a new ledger runs the migrations since (4 → 5) on it.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS invocations (
    id                 INTEGER PRIMARY KEY,
    request_id         TEXT    NOT NULL,  -- not unique: async retries reuse the request id
    function           TEXT    NOT NULL,
    version            TEXT    NOT NULL,
    started_at         REAL    NOT NULL,  -- epoch seconds
    duration_ms        REAL    NOT NULL,
    billed_ms          INTEGER NOT NULL,
    memory_mb          INTEGER NOT NULL,
    max_memory_used_mb INTEGER NOT NULL,
    init_ms            REAL,              -- NULL on warm invocations
    architecture       TEXT    NOT NULL,
    outcome            TEXT    NOT NULL,
    cold               INTEGER NOT NULL,
    ephemeral_mb       INTEGER NOT NULL,
    gb_s               TEXT    NOT NULL,
    ephemeral_gb_s     TEXT    NOT NULL,
    request_cost       TEXT    NOT NULL,
    duration_cost      TEXT    NOT NULL,
    ephemeral_cost     TEXT    NOT NULL,
    cost               TEXT    NOT NULL,
    restored           INTEGER NOT NULL DEFAULT 0, -- a SnapStart restore (schema 2)
    node               TEXT,              -- the cluster node that ran it; NULL: the
                                          -- control plane's own machine (schema 3)
    faas_trigger       TEXT    NOT NULL DEFAULT 'other' -- what started it (schema 4)
);
-- totals/daily/records filter by function and time range; usage by time range alone.
CREATE INDEX IF NOT EXISTS invocations_by_function_time ON invocations (function, started_at);
CREATE INDEX IF NOT EXISTS invocations_by_time ON invocations (started_at);
"""

COLUMNS = (
    "request_id, function, version, started_at, duration_ms, billed_ms, memory_mb, "
    "max_memory_used_mb, init_ms, architecture, outcome, cold, ephemeral_mb, gb_s, "
    "ephemeral_gb_s, request_cost, duration_cost, ephemeral_cost, cost, restored, node, "
    "faas_trigger, provisioned"
)
INSERT = f"INSERT INTO invocations ({COLUMNS}) VALUES ({', '.join('?' * 23)})"
SPAN_COLUMNS = (
    "function, qualifier, version, architecture, memory_mb, concurrency, ready_at, ended_at"
)
INSERT_SPAN = f"INSERT INTO provisioned_spans ({SPAN_COLUMNS}) VALUES ({', '.join('?' * 8)})"
# Each step takes a ledger from the version before it to the next, in one transaction.
_MIGRATIONS = {
    # 1 → 2: which cold starts were SnapStart restores (older rows were not).
    1: "ALTER TABLE invocations ADD COLUMN restored INTEGER NOT NULL DEFAULT 0",
    # 2 → 3: which cluster node ran each invocation (older rows ran on this machine).
    2: "ALTER TABLE invocations ADD COLUMN node TEXT",
    # 3 → 4: what started each invocation, OpenTelemetry's faas.trigger (lamina.triggers);
    # older rows did not keep it: "other", as the async queue reads its older events.
    3: "ALTER TABLE invocations ADD COLUMN faas_trigger TEXT NOT NULL DEFAULT 'other'",
    # 4 → 5: provisioned concurrency: which invocations it served (``provisioned``), and
    # its configurations' READY spans (what the configured concurrency is billed for).
    4: "ALTER TABLE invocations ADD COLUMN provisioned INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE provisioned_spans (id INTEGER PRIMARY KEY, function TEXT NOT NULL, "
    "qualifier TEXT NOT NULL, version TEXT NOT NULL, architecture TEXT NOT NULL, "
    "memory_mb INTEGER NOT NULL, concurrency INTEGER NOT NULL, ready_at REAL NOT NULL, "
    "ended_at REAL NOT NULL)",
}

CostColumns = tuple[str, str, str, str, str, str]
Row = tuple[
    str, str, str, float, float, int, int, int, float | None, str, str, int, int,
    str, str, str, str, str, str, int, str | None, str, int,
]  # fmt: skip


class DecimalSum:
    """SQLite aggregate ``decimal_sum(text)``: the exact sum of decimal TEXT values.

    Rows repeat a handful of distinct costs, so it counts each distinct text and multiplies
    once at the end: a dict update per row instead of a decimal parse and add.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def step(self, value: str | None) -> None:
        if value is not None:
            self.counts[value] = self.counts.get(value, 0) + 1

    def finalize(self) -> str:
        total = Decimal(0)
        for text, count in self.counts.items():
            total = EXACT.add(total, EXACT.multiply(Decimal(text), Decimal(count)))
        return decimal_text(total)


def connect(path: Path) -> sqlite3.Connection:
    """Open the ledger (creating it if needed) in WAL mode with the schema in place.

    Each thread opens its own connection: sqlite3 connections are not shared here.
    """
    conn = sqlite3.connect(path, timeout=10.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL is durable against a crash of Lamina; only an OS crash or power loss can
    # drop the last committed batches, which is the trade the batching already makes.
    conn.execute("PRAGMA synchronous=NORMAL")
    # typeshed's aggregate protocol insists finalize() returns int; SQLite takes any value.
    conn.create_aggregate("decimal_sum", 1, DecimalSum)  # type: ignore[arg-type]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version == 0:
        # Schema 4, then the steps since (one path to today's schema for every ledger).
        conn.executescript(_SCHEMA + "PRAGMA user_version = 4;")
        migrate(conn)
    elif version in _MIGRATIONS:
        migrate(conn)
    elif version != SCHEMA_VERSION:
        conn.close()
        raise sqlite3.DatabaseError(
            f"{path}: ledger schema version {version}, this Lamina knows {SCHEMA_VERSION}"
        )
    return conn


def migrate(conn: sqlite3.Connection) -> None:
    """Bring a ledger of an older schema up to :data:`SCHEMA_VERSION`, one step per
    transaction with its version bump (a crash leaves the previous version). The version is
    read again inside each transaction: two servers opening one old file migrate it once."""
    while True:
        conn.execute("BEGIN IMMEDIATE")
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version >= SCHEMA_VERSION:
                conn.execute("COMMIT")
                return
            for statement in _MIGRATIONS[version].split(";"):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


def decimal_text(value: Decimal) -> str:
    """Plain, exact, trailing-zero-free text for a decimal: ``0.0075``, ``0``, ``450``."""
    return format(value.normalize(EXACT), "f")


def cost_columns(cost: Cost) -> CostColumns:
    """The six stored money/GB-s columns of one cost, as exact text."""
    return (
        decimal_text(cost.gb_s),
        decimal_text(cost.ephemeral_gb_s),
        decimal_text(cost.request_cost),
        decimal_text(cost.duration_cost),
        decimal_text(cost.ephemeral_cost),
        decimal_text(cost.total),
    )


def encode(record: InvocationRecord, costs: CostColumns) -> Row:
    """One row for ``INSERT``; ``costs`` comes from :func:`cost_columns`."""
    return (
        record.request_id,
        record.function_name,
        record.version,
        record.started_at,
        record.duration_ms,
        record.billed_ms,
        record.memory_mb,
        record.max_memory_used_mb,
        record.init_ms,
        record.architecture,
        record.outcome.value,
        int(record.cold),
        record.ephemeral_mb,
        *costs,
        int(record.restored),
        record.node,
        record.trigger,
        int(record.provisioned),
    )


def decode(row: tuple[Any, ...]) -> tuple[InvocationRecord, Cost]:
    """Rebuild the record and its stored cost from a ``SELECT {COLUMNS}`` row."""
    (request_id, function, version, started_at, duration_ms, billed_ms, memory_mb,
     max_used, init_ms, architecture, outcome, _cold, ephemeral_mb, gb_s, ephemeral_gb_s,
     request_cost, duration_cost, ephemeral_cost, _total, restored, node, trigger,
     provisioned) = row  # fmt: skip
    record = InvocationRecord(
        request_id=str(request_id),
        function_name=str(function),
        version=str(version),
        started_at=float(started_at),
        duration_ms=float(duration_ms),
        billed_ms=int(billed_ms),
        memory_mb=int(memory_mb),
        max_memory_used_mb=int(max_used),
        init_ms=None if init_ms is None else float(init_ms),
        architecture=str(architecture),
        outcome=Outcome(outcome),
        ephemeral_mb=int(ephemeral_mb),
        restored=bool(restored),
        node=None if node is None else str(node),
        trigger=known(trigger),
        provisioned=bool(provisioned),
    )
    cost = Cost(
        gb_s=Decimal(gb_s),
        ephemeral_gb_s=Decimal(ephemeral_gb_s),
        request_cost=Decimal(request_cost),
        duration_cost=Decimal(duration_cost),
        ephemeral_cost=Decimal(ephemeral_cost),
    )
    return record, cost
