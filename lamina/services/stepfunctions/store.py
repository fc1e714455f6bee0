"""Step Functions' SQLite tables (``stepfunctions.db``), written with group commit.

Standard executions are durable: the execution row and ``ExecutionStarted`` commit before
``StartExecution`` answers, and every transition commits the history written since the
last one together with the *cursor* — the state about to be entered, its input and the
variables in scope. A restarted server resumes each RUNNING execution from its cursor
(a Task that was in flight is run again: at-least-once, as AWS documents). Express
executions never touch this file.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from lamina.events.sqlite_writer import SqliteWriter
from lamina.services.stepfunctions.records import (
    ExecutionRecord,
    HistoryEntry,
    StateMachineRecord,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS state_machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    revision_id TEXT NOT NULL, description TEXT NOT NULL, logging TEXT NOT NULL,
    tracing TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT, started REAL NOT NULL,
    stopped REAL, definition TEXT NOT NULL, role_arn TEXT NOT NULL, cursor TEXT
);
CREATE INDEX IF NOT EXISTS executions_machine ON executions (machine_arn, started);
CREATE TABLE IF NOT EXISTS history (
    execution TEXT NOT NULL, id INTEGER NOT NULL, type TEXT NOT NULL, ts REAL NOT NULL,
    previous INTEGER NOT NULL, details TEXT NOT NULL, PRIMARY KEY (execution, id)
);
"""


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class WorkflowStore:
    """All writes go through one group-committing writer thread."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="stepfunctions-db")

    def close(self) -> None:
        self.writer.close()

    # -- state machines ---------------------------------------------------------------
    async def save_machine(self, sm: StateMachineRecord) -> None:
        row = (sm.arn, sm.name, sm.type, sm.definition, sm.role_arn, sm.created, sm.updated,
               sm.revision_id, sm.description, _dumps(sm.logging), _dumps(sm.tracing),
               _dumps(sm.tags))  # fmt: skip
        await self.writer.run(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO state_machines VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row
            )
        )

    async def delete_machine(self, arn: str) -> None:
        await self.writer.run(lambda c: c.execute("DELETE FROM state_machines WHERE arn=?", (arn,)))

    def load_machines(self) -> list[tuple[Any, ...]]:
        return self.writer.call(
            lambda c: c.execute(
                "SELECT arn, name, type, definition, role_arn, created, updated, revision_id,"
                " description, logging, tracing, tags FROM state_machines"
            ).fetchall()
        )

    # -- executions -------------------------------------------------------------------
    @staticmethod
    def _events(c: sqlite3.Connection, arn: str, events: Iterable[HistoryEntry]) -> None:
        c.executemany(
            "INSERT OR REPLACE INTO history VALUES (?,?,?,?,?,?)",
            [(arn, e.id, e.type, e.timestamp, e.previous, _dumps(e.details)) for e in events],
        )

    async def insert_execution(self, ex: ExecutionRecord, cursor: dict[str, Any]) -> None:
        events = ex.history[ex.flushed :]
        row = (ex.arn, ex.machine_arn, ex.name, ex.status, ex.input, ex.started, ex.definition,
               ex.role_arn, _dumps(cursor))  # fmt: skip

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO executions (arn, machine_arn, name, status, input, started,"
                " definition, role_arn, cursor) VALUES (?,?,?,?,?,?,?,?,?)",
                row,
            )
            self._events(c, ex.arn, events)

        await self.writer.run(op)
        ex.flushed += len(events)

    async def commit_progress(self, ex: ExecutionRecord, cursor: dict[str, Any]) -> None:
        events = ex.history[ex.flushed :]
        text = _dumps(cursor)

        def op(c: sqlite3.Connection) -> None:
            c.execute("UPDATE executions SET cursor=? WHERE arn=?", (text, ex.arn))
            self._events(c, ex.arn, events)

        await self.writer.run(op)
        ex.flushed += len(events)

    async def finish_execution(self, ex: ExecutionRecord) -> None:
        events = ex.history[ex.flushed :]
        row = (ex.status, ex.output, ex.error, ex.cause, ex.stopped, ex.arn)

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE executions SET status=?, output=?, error=?, cause=?, stopped=?,"
                " cursor=NULL WHERE arn=?",
                row,
            )
            self._events(c, ex.arn, events)

        await self.writer.run(op)
        ex.flushed += len(events)

    def load_executions(self) -> list[tuple[Any, ...]]:
        return self.writer.call(
            lambda c: c.execute(
                "SELECT arn, machine_arn, name, status, input, output, error, cause, started,"
                " stopped, definition, role_arn, cursor FROM executions ORDER BY started"
            ).fetchall()
        )

    def load_history(self) -> dict[str, list[HistoryEntry]]:
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT execution, id, type, ts, previous, details FROM history"
                " ORDER BY execution, id"
            ).fetchall()
        )
        out: dict[str, list[HistoryEntry]] = {}
        for arn, id_, type_, ts, previous, details in rows:
            out.setdefault(arn, []).append(
                HistoryEntry(id_, type_, ts, previous, json.loads(details))
            )
        return out
