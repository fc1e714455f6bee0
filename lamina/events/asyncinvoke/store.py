"""The durable async-invoke queue's SQLite tables, behind a group-committing writer.

An event is a row from the moment it is accepted until it is finished. A consumer
*leases* a due row by pushing its ``due_at`` to the end of a visibility timeout and
stamping its own id: if the consumer dies, the row simply becomes due again (and a new
server takes over the leases of dead ones at start-up), so every accepted event is
delivered at least once.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lamina.events.asyncinvoke.config import EventInvokeConfig
from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    accepted_at REAL NOT NULL,
    due_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    throttles INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    last_response TEXT,
    trace TEXT,
    faas_trigger TEXT
);
CREATE INDEX IF NOT EXISTS events_due ON events (due_at);
CREATE TABLE IF NOT EXISTS event_invoke_configs (
    function TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    config TEXT NOT NULL,
    last_modified REAL NOT NULL,
    PRIMARY KEY (function, qualifier)
);
"""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    seq: int
    request_id: str
    function: str
    qualifier: str | None
    payload: bytes
    accepted_at: float
    attempts: int
    throttles: int
    last_response: str | None  # JSON of the last attempt's response context and payload
    trace_header: str | None = None  # the X-Ray trace the event continues (lamina.tracing)
    # What started it (lamina.triggers); None: accepted before events kept it ("other").
    trigger: str | None = None


_COLUMNS = (
    "seq, request_id, function, qualifier, payload, accepted_at, attempts, throttles, "
    "last_response, trace, faas_trigger"
)


def _add_columns(c: sqlite3.Connection) -> None:
    """A queue written before events kept their trace or trigger gets the (empty)
    columns, in place: its stored events keep their place and are delivered as before."""
    have = {row[1] for row in c.execute("PRAGMA table_info(events)")}
    if "trace" not in have:
        c.execute("ALTER TABLE events ADD COLUMN trace TEXT")
    if "faas_trigger" not in have:
        c.execute("ALTER TABLE events ADD COLUMN faas_trigger TEXT")


def _event(row: tuple[object, ...]) -> StoredEvent:
    return StoredEvent(*row)  # type: ignore[arg-type]


class AsyncInvokeStore:
    """Every read and write of the queue's database, as awaitable operations."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="async-invoke-db")
        self.writer.call(_add_columns)

    def close(self) -> None:
        self.writer.close()

    # -- events -----------------------------------------------------------------------
    async def insert(
        self,
        request_id: str,
        function: str,
        qualifier: str | None,
        payload: bytes,
        now: float,
        trace_header: str | None = None,
        trigger: str = "other",
    ) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO events (request_id, function, qualifier, payload, accepted_at, due_at,"
                " trace, faas_trigger) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (request_id, function, qualifier, payload, now, now, trace_header, trigger),
            )

        await self.writer.run(op)

    async def claim(
        self, owner: str, now: float, lease_s: float, limit: int
    ) -> tuple[list[StoredEvent], float | None]:
        """Lease up to ``limit`` due events; also return when the next one falls due."""

        def op(c: sqlite3.Connection) -> tuple[list[StoredEvent], float | None]:
            rows = c.execute(
                f"SELECT {_COLUMNS} FROM events WHERE due_at <= ? ORDER BY due_at, seq LIMIT ?",
                (now, limit),
            ).fetchall()
            events = [_event(r) for r in rows]
            c.executemany(
                "UPDATE events SET due_at = ?, lease_owner = ? WHERE seq = ?",
                [(now + lease_s, owner, e.seq) for e in events],
            )
            nxt = c.execute("SELECT MIN(due_at) FROM events").fetchone()[0]
            return events, nxt

        return await self.writer.run(op)

    async def finish(self, seq: int) -> None:
        await self.writer.run(lambda c: c.execute("DELETE FROM events WHERE seq = ?", (seq,)))

    async def reschedule(
        self, seq: int, due_at: float, attempts: int, throttles: int, last_response: str | None
    ) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE events SET due_at = ?, attempts = ?, throttles = ?, last_response = ?,"
                " lease_owner = NULL WHERE seq = ?",
                (due_at, attempts, throttles, last_response, seq),
            )

        await self.writer.run(op)

    def take_over_leases(self, owner: str, now: float) -> int:
        """Make events leased by earlier (dead) servers due now; returns how many."""

        def op(c: sqlite3.Connection) -> int:
            cur = c.execute(
                "UPDATE events SET due_at = ?, lease_owner = NULL"
                " WHERE lease_owner IS NOT NULL AND lease_owner != ?",
                (now, owner),
            )
            return cur.rowcount

        return self.writer.call(op)

    def depth(self) -> int:
        return int(
            self.writer.call(lambda c: c.execute("SELECT COUNT(*) FROM events").fetchone()[0])
        )

    def backlog(self) -> dict[str, tuple[int, float]]:
        """Per function: events waiting (or in flight) and the oldest one's accept time."""
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT function, COUNT(*), MIN(accepted_at) FROM events GROUP BY function"
            ).fetchall()
        )
        return {str(f): (int(n), float(oldest)) for f, n, oldest in rows}

    # -- event invoke configs ------------------------------------------------------------
    def load_configs(self) -> list[EventInvokeConfig]:
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT function, qualifier, config, last_modified FROM event_invoke_configs"
            ).fetchall()
        )
        return [EventInvokeConfig.from_json(f, q, raw, lm) for f, q, raw, lm in rows]

    def put_config(self, cfg: EventInvokeConfig) -> None:
        self.writer.call(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO event_invoke_configs VALUES (?, ?, ?, ?)",
                (cfg.function, cfg.qualifier, cfg.to_json(), cfg.last_modified),
            )
        )

    def delete_configs(self, function: str, qualifiers: Iterable[str] | None = None) -> None:
        def op(c: sqlite3.Connection) -> None:
            if qualifiers is None:
                c.execute("DELETE FROM event_invoke_configs WHERE function = ?", (function,))
            else:
                c.executemany(
                    "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                    [(function, q) for q in qualifiers],
                )

        self.writer.call(op)
