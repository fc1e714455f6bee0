"""Step Functions' SQLite tables (``stepfunctions.db``), written with group commit.

Standard executions are durable: the execution row and ``ExecutionStarted`` commit before
``StartExecution`` answers, and every transition commits the history written since the
last one together with the *cursor* — the state about to be entered, its input and the
variables in scope. A restarted server resumes each RUNNING execution from its cursor
(a Task that was in flight is run again: at-least-once, as AWS documents). Express
executions touch this file only once they have ended, to add to the ``usage`` table
(:mod:`.usage`, what ``lamina cost`` reads), queued for the next commit and not waited for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from lamina.services.stepfunctions.activities import ActivityRecord
from lamina.services.stepfunctions.branches import (
    BRANCHES_SCHEMA,
    ExecutionLink,
    StoredBranches,
    forget_op,
    load_branches,
)
from lamina.services.stepfunctions.history_text import cursor_text, dumps, events_text, events_value
from lamina.services.stepfunctions.records import (
    AliasRecord,
    ExecutionRecord,
    HistoryEntry,
    StateMachineRecord,
    VersionRecord,
)
from lamina.services.stepfunctions.usage import UPSERT, USAGE_SCHEMA, usage_row
from lamina.store.sqlite_writer import SqliteWriter
from lamina.workflows.cost import load_workflow_prices
from lamina.workflows.runner import Record

log = logging.getLogger("lamina.stepfunctions.store")

SCHEMA = (
    USAGE_SCHEMA
    + BRANCHES_SCHEMA
    + """
CREATE TABLE IF NOT EXISTS state_machines (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL, definition TEXT NOT NULL,
    role_arn TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
    revision_id TEXT NOT NULL, description TEXT NOT NULL, logging TEXT NOT NULL,
    tracing TEXT NOT NULL, tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS executions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, name TEXT NOT NULL, status TEXT NOT NULL,
    input TEXT NOT NULL, output TEXT, error TEXT, cause TEXT, started REAL NOT NULL,
    stopped REAL, definition TEXT NOT NULL, role_arn TEXT NOT NULL, test_case TEXT,
    version_arn TEXT, alias_arn TEXT, redrive_count INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS executions_machine ON executions (machine_arn, started);
CREATE TABLE IF NOT EXISTS versions (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, number INTEGER NOT NULL,
    definition TEXT NOT NULL, role_arn TEXT NOT NULL, created REAL NOT NULL,
    revision_id TEXT NOT NULL, description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS aliases (
    arn TEXT PRIMARY KEY, machine_arn TEXT NOT NULL, name TEXT NOT NULL, routing TEXT NOT NULL,
    created REAL NOT NULL, updated REAL NOT NULL, description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS activities (
    arn TEXT PRIMARY KEY, name TEXT NOT NULL, created REAL NOT NULL, tags TEXT NOT NULL
);
-- One row per committed transition: the history events written since the previous one
-- (a JSON array) and the cursor to resume from (NULL once the execution has ended).
-- One row per ended Map Run (a distributed Map state's run): its description, children
-- and their histories as one JSON document (map_runs.py).
CREATE TABLE IF NOT EXISTS map_runs (
    arn TEXT PRIMARY KEY, execution_arn TEXT NOT NULL, started REAL NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
    execution TEXT NOT NULL, first_id INTEGER NOT NULL, events TEXT NOT NULL, cursor TEXT,
    PRIMARY KEY (execution, first_id)
);
"""
)


# Where an execution's rows are, by table and the column naming it (forget_executions).
_EXECUTION_TABLES = (("executions", "arn"), ("progress", "execution"),
                     ("map_runs", "execution_arn"))  # fmt: skip


def _log_failure(batch: asyncio.Future[None]) -> None:
    if not batch.cancelled() and batch.exception() is not None:
        log.error("workflow store: a commit failed: %s", batch.exception())


_ROWS_PER_STATEMENT = 500  # 2,500 parameters at most, well under SQLite's limit


def _insert_rows(c: sqlite3.Connection, table: str, rows: list[tuple[Any, ...]]) -> None:
    """``rows`` into ``table`` (a name of this module's schema) in multi-row statements."""
    for i in range(0, len(rows), _ROWS_PER_STATEMENT):
        part = rows[i : i + _ROWS_PER_STATEMENT]
        marks = "(" + ",".join("?" * len(part[0])) + ")"
        flat = [field for row in part for field in row]
        c.execute(f"INSERT OR REPLACE INTO {table} VALUES {','.join([marks] * len(part))}", flat)


class WorkflowStore:
    """All writes go through one group-committing writer thread."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="stepfunctions-db")
        self._pending: list[Callable[[sqlite3.Connection], object]] = []
        self._rows: list[tuple[Any, ...]] = []  # progress rows for the next commit
        # branch_progress / branch_ends rows for the next commit (see .branches), by table
        self._branch_rows: dict[str, list[tuple[Any, ...]]] = {}
        self._batch: asyncio.Future[None] | None = None
        self.prices = load_workflow_prices()
        # Ended and running branches of Parallel / Map states (see .branches), loaded once.
        self.branches = self.writer.call(load_branches)

    def close(self) -> None:
        self.writer.close()

    # -- state machines ---------------------------------------------------------------
    async def save_machine(self, sm: StateMachineRecord) -> None:
        row = (sm.arn, sm.name, sm.type, sm.definition, sm.role_arn, sm.created, sm.updated,
               sm.revision_id, sm.description, dumps(sm.logging), dumps(sm.tracing),
               dumps(sm.tags))  # fmt: skip
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

    # -- versions and aliases ---------------------------------------------------------
    async def save_version(self, v: VersionRecord) -> None:
        row = (v.arn, v.machine_arn, v.number, v.definition, v.role_arn, v.created,
               v.revision_id, v.description)  # fmt: skip
        await self.writer.run(
            lambda c: c.execute("INSERT OR REPLACE INTO versions VALUES (?,?,?,?,?,?,?,?)", row)
        )

    async def save_alias(self, a: AliasRecord) -> None:
        row = (a.arn, a.machine_arn, a.name, dumps(a.routing), a.created, a.updated,
               a.description)  # fmt: skip
        await self.writer.run(
            lambda c: c.execute("INSERT OR REPLACE INTO aliases VALUES (?,?,?,?,?,?,?)", row)
        )

    async def delete_version_or_alias(self, arn: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM versions WHERE arn=?", (arn,))
            c.execute("DELETE FROM aliases WHERE arn=?", (arn,))

        await self.writer.run(op)

    def load_versions(self) -> list[tuple[Any, ...]]:
        return self.writer.call(
            lambda c: c.execute(
                "SELECT arn, machine_arn, number, definition, role_arn, created, revision_id,"
                " description FROM versions ORDER BY number"
            ).fetchall()
        )

    def load_aliases(self) -> list[AliasRecord]:
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT arn, machine_arn, name, routing, created, updated, description FROM aliases"
            ).fetchall()
        )
        return [
            AliasRecord(a, m, n, [(v, w) for v, w in json.loads(r)], c, u, d)
            for a, m, n, r, c, u, d in rows
        ]

    # -- activities -------------------------------------------------------------------
    async def save_activity(self, act: ActivityRecord) -> None:
        row = (act.arn, act.name, act.created, dumps(act.tags))
        await self.writer.run(
            lambda c: c.execute("INSERT OR REPLACE INTO activities VALUES (?,?,?,?)", row)
        )

    async def delete_activity(self, arn: str) -> None:
        await self.writer.run(lambda c: c.execute("DELETE FROM activities WHERE arn=?", (arn,)))

    def load_activities(self) -> list[ActivityRecord]:
        rows = self.writer.call(
            lambda c: c.execute("SELECT arn, name, created, tags FROM activities").fetchall()
        )
        return [ActivityRecord(a, n, c, json.loads(t)) for a, n, c, t in rows]

    # -- Map Runs ---------------------------------------------------------------------
    def queue_map_run(self, arn: str, execution_arn: str, started: float, doc: str) -> None:
        """Keep an ended Map Run, in the next group commit."""
        row = (arn, execution_arn, started, doc)
        self._queue(
            lambda c: c.execute("INSERT OR REPLACE INTO map_runs VALUES (?,?,?,?)", row)
        ).add_done_callback(_log_failure)

    def load_map_runs(self) -> list[str]:
        rows = self.writer.call(
            lambda c: c.execute("SELECT doc FROM map_runs ORDER BY started, arn").fetchall()
        )
        return [doc for (doc,) in rows]

    # -- executions -------------------------------------------------------------------
    @staticmethod
    def _chunk(
        arn: str, events: list[HistoryEntry], cursor: dict[str, Any] | None
    ) -> tuple[Any, ...]:
        first = events[0].id if events else 0
        return (arn, first, events_text(events), None if cursor is None else cursor_text(cursor))

    async def insert_execution(self, ex: ExecutionRecord, cursor: dict[str, Any]) -> None:
        events = ex.history[ex.flushed :]
        ex.flushed += len(events)
        row = (ex.arn, ex.machine_arn, ex.name, ex.status, ex.input, ex.started, ex.definition,
               ex.role_arn, ex.test_case, ex.version_arn, ex.alias_arn)  # fmt: skip
        chunk = self._chunk(ex.arn, events, cursor)

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT INTO executions (arn, machine_arn, name, status, input, started,"
                " definition, role_arn, test_case, version_arn, alias_arn)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                row,
            )
            c.execute("INSERT OR REPLACE INTO progress VALUES (?,?,?,?)", chunk)

        await self._commit(op)

    async def commit_progress(self, ex: ExecutionRecord, cursor: dict[str, Any]) -> None:
        """Commit ``ex``'s new history and the cursor to resume from."""
        committed = self.queue_progress(ex, cursor)
        if committed is not None:
            await asyncio.shield(committed)

    def queue_progress(
        self, ex: ExecutionRecord, cursor: dict[str, Any]
    ) -> asyncio.Future[None] | None:
        """Queue ``ex``'s new history and cursor for the next commit; the future is done
        once it is committed (None: nothing new to write)."""
        events = ex.history[ex.flushed :]
        if not events:
            return None
        ex.flushed += len(events)
        ex.last_cursor = cursor
        self._rows.append(self._chunk(ex.arn, events, cursor))
        return self._queue(None)

    async def finish_execution(self, ex: ExecutionRecord) -> None:
        events = ex.history[ex.flushed :]
        ex.flushed += len(events)
        row = (ex.status, ex.output, ex.error, ex.cause, ex.stopped, ex.arn)
        chunk = self._chunk(ex.arn, events, None)
        usage = usage_row(ex, self.prices)

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE executions SET status=?, output=?, error=?, cause=?, stopped=? WHERE arn=?",
                row,
            )
            c.execute("INSERT OR REPLACE INTO progress VALUES (?,?,?,?)", chunk)
            c.execute(UPSERT, usage)
            forget(c)

        forget = forget_op(ex.arn)
        self.branches.forget(ex.arn)

        await self._commit(op)

    def branch_log(
        self, ex: ExecutionRecord, record: Record, check: Callable[[], None]
    ) -> StoredBranches:
        """The log of the branches of the top-level state ``ex`` is entering now (its
        transitions so far are committed: ``ex.flushed`` is the same when it resumes)."""

        def queue(table: str, row: tuple[Any, ...]) -> asyncio.Future[None]:
            self._branch_rows.setdefault(table, []).append(row)
            batch = self._queue(None)
            batch.add_done_callback(_log_failure)
            return batch

        link = ExecutionLink(ex.arn, ex.history, record, queue, self.branches, check)
        return StoredBranches(link, str(ex.flushed), None)

    def queue_express_usage(self, ex: ExecutionRecord) -> None:
        """Add an ended Express execution to the usage table in the next commit, without
        waiting for it (Express is at-most-once: a crash before the commit loses the row)."""
        usage = usage_row(ex, self.prices)
        batch = self._queue(lambda c: c.execute(UPSERT, usage))
        batch.add_done_callback(_log_failure)

    async def redrive_execution(self, ex: ExecutionRecord, cursor: dict[str, Any]) -> None:
        """The execution runs again: RUNNING, its redrive count, ``ExecutionRedriven``."""
        events = ex.history[ex.flushed :]
        ex.flushed += len(events)
        chunk = self._chunk(ex.arn, events, cursor)

        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "UPDATE executions SET status='RUNNING', output=NULL, error=NULL, cause=NULL,"
                " stopped=NULL, redrive_count=? WHERE arn=?",
                (ex.redrive_count, ex.arn),
            )
            c.execute("INSERT OR REPLACE INTO progress VALUES (?,?,?,?)", chunk)

        await self._commit(op)

    async def _commit(self, op: Callable[[sqlite3.Connection], object]) -> None:
        """Run ``op`` in the next commit. Every operation queued in one event-loop turn —
        transitions of all running executions, starts, ends — goes to the writer as one
        operation, so the thread hop and the commit are paid once per turn."""
        await asyncio.shield(self._queue(op))

    def _queue(self, op: Callable[[sqlite3.Connection], object] | None) -> asyncio.Future[None]:
        if op is not None:
            self._pending.append(op)
        if self._batch is None:
            loop = asyncio.get_running_loop()
            self._batch = loop.create_future()
            loop.call_soon(self._flush)
        return self._batch

    def _flush(self) -> None:
        batch, pending, rows, branch_rows = (
            self._batch, self._pending, self._rows, self._branch_rows)  # fmt: skip
        self._batch, self._pending, self._rows, self._branch_rows = None, [], [], {}
        assert batch is not None

        def op(c: sqlite3.Connection) -> None:
            for each in pending:
                each(c)
            # Progress rows go in a few multi-row statements: each statement is one trip
            # out of the GIL, and a busy event loop makes every trip back wait.
            _insert_rows(c, "progress", rows)
            for table, table_rows in branch_rows.items():
                _insert_rows(c, table, table_rows)

        def settle(fut: Future[None]) -> None:
            if batch.done():
                return
            exc = fut.exception()
            if exc is not None:
                batch.set_exception(exc)
            else:
                batch.set_result(None)

        done = self.writer.submit(op)
        loop = batch.get_loop()
        done.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))

    def load_executions(self) -> list[tuple[Any, ...]]:
        return self.writer.call(
            lambda c: c.execute(
                "SELECT arn, machine_arn, name, status, input, output, error, cause, started,"
                " stopped, definition, role_arn, test_case, version_arn, alias_arn, redrive_count"
                " FROM executions ORDER BY started"
            ).fetchall()
        )

    def load_progress(self) -> tuple[dict[str, list[HistoryEntry]], dict[str, dict[str, Any]]]:
        """The RUNNING executions' histories, and the cursor of each one's last committed
        transition (where it resumes). Ended executions are read back one by one, when
        asked for (:meth:`load_history`, .retention)."""
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT execution, events, cursor FROM progress WHERE execution IN"
                " (SELECT arn FROM executions WHERE status = 'RUNNING')"
                " ORDER BY execution, first_id"
            ).fetchall()
        )
        histories: dict[str, list[HistoryEntry]] = {}
        cursors: dict[str, dict[str, Any]] = {}
        for arn, events, cursor in rows:
            histories.setdefault(arn, []).extend(events_value(events))
            if cursor is not None:
                cursors[arn] = json.loads(cursor)
        return histories, cursors

    def load_cursor_holders(self) -> set[str]:
        """The executions with a committed cursor (an ended one can be redriven from it)."""
        rows = self.writer.call(
            lambda c: c.execute(
                "SELECT DISTINCT execution FROM progress WHERE cursor IS NOT NULL"
            ).fetchall()
        )
        return {str(arn) for (arn,) in rows}

    async def load_history(self, arn: str) -> tuple[list[HistoryEntry], dict[str, Any] | None]:
        """One execution's history and its last committed cursor, from the store (read and
        parsed in the writer's thread: a 25,000-event history stays off the event loop)."""

        def op(c: sqlite3.Connection) -> tuple[list[HistoryEntry], dict[str, Any] | None]:
            history: list[HistoryEntry] = []
            last: str | None = None
            for events, cursor in c.execute(
                "SELECT events, cursor FROM progress WHERE execution = ? ORDER BY first_id", (arn,)
            ):
                history.extend(events_value(events))
                if cursor is not None:
                    last = cursor
            return history, (json.loads(last) if last is not None else None)

        return await self.writer.run(op)

    async def forget_executions(self, arns: list[str]) -> None:
        """Delete ended executions, their histories and Map Runs (.retention)."""

        def op(c: sqlite3.Connection) -> None:
            for i in range(0, len(arns), _ROWS_PER_STATEMENT):
                part = arns[i : i + _ROWS_PER_STATEMENT]
                marks = ",".join("?" * len(part))
                for table, column in _EXECUTION_TABLES:
                    c.execute(f"DELETE FROM {table} WHERE {column} IN ({marks})", part)

        await self._commit(op)
