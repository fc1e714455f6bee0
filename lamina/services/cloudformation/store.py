"""Stacks in ``<data_dir>/stacks.db``: the stack, its resources, the events synthesised from
each deployment (newest kept, at most :data:`MAX_EVENTS` a stack) and its change sets.

A stack is recorded by ``lamina up`` (deployed on the client) or *managed*: deployed on the
server by an executed change set (``sam deploy``, :mod:`.engine`). A stack keeps its StackId
across updates; a stack marked DELETE_COMPLETE stays listed by ListStacks (as on AWS) until
a new deployment of the same name brings it back.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from pathlib import Path
from typing import Any

from lamina.services.cloudformation.changesets import (
    ChangeSet,
    change_set_doc,
    parse_change_set_doc,
)
from lamina.services.cloudformation.model import (
    DELETE_COMPLETE,
    REVIEW_IN_PROGRESS,
    Event,
    Resource,
    Stack,
    StackRecord,
    parse_record,
    record_doc,
)
from lamina.store.sqlite_db import SqliteDatabase

MAX_EVENTS = 1000

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE stacks (
            stack_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            status TEXT NOT NULL,
            created REAL NOT NULL,
            updated REAL,                   -- NULL: never updated
            deleted REAL,                   -- NULL: live
            record TEXT NOT NULL            -- the StackRecord as JSON (model.record_doc)
        )""",
        "CREATE INDEX stacks_by_name ON stacks (name)",
        """CREATE TABLE resources (
            stack_id TEXT NOT NULL,
            logical_id TEXT NOT NULL,
            physical_id TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            updated REAL NOT NULL,
            reason TEXT NOT NULL,
            PRIMARY KEY (stack_id, logical_id)
        )""",
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            event_id TEXT NOT NULL,
            stack_id TEXT NOT NULL,
            logical_id TEXT NOT NULL,
            physical_id TEXT NOT NULL,
            type TEXT NOT NULL,
            status TEXT NOT NULL,
            timestamp REAL NOT NULL,
            reason TEXT NOT NULL
        )""",
        "CREATE INDEX events_by_stack ON events (stack_id, seq)",
    ),
    (
        # 1: deployed on the server by change sets (sam deploy), not recorded by `lamina up`.
        "ALTER TABLE stacks ADD COLUMN managed INTEGER NOT NULL DEFAULT 0",
        """CREATE TABLE change_sets (
            id TEXT PRIMARY KEY,            -- its ARN
            stack_id TEXT NOT NULL,
            name TEXT NOT NULL,
            created REAL NOT NULL,
            doc TEXT NOT NULL               -- the ChangeSet as JSON (changesets.change_set_doc)
        )""",
        "CREATE INDEX change_sets_by_stack ON change_sets (stack_id, created)",
    ),
]

_STACK_TYPE = "AWS::CloudFormation::Stack"
# A stack row as _stack reads it (the stacks table as ``s``).
_STACK_COLUMNS = "s.status, s.created, s.updated, s.deleted, s.record, s.name"


class StackStore:
    """Thread-safe, synchronous; one shared connection (:class:`SqliteDatabase`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = SqliteDatabase(self.path, MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    # -- writes -------------------------------------------------------------------------
    def record(
        self,
        rec: StackRecord,
        now: float,
        *,
        managed: bool = False,
        started: bool = False,
        failure: str = "",
    ) -> Stack:
        """Keep what one deployment left the stack holding; synthesise its events.

        ``managed``: deployed by a change set on the server; ``started``: its
        ``*_IN_PROGRESS`` event was written when it began (:meth:`set_status`); ``failure``:
        why it failed (the stack is then ``CREATE_FAILED``/``UPDATE_FAILED``, Lamina does not
        roll back)."""
        doc = json.dumps(record_doc(rec))
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT created, deleted, status, updated, record FROM stacks WHERE stack_id = ?",
                (rec.stack_id,),
            ).fetchone()
            creating = row is None or row[1] is not None or row[2] == REVIEW_IN_PROGRESS
            if not creating and not rec.changed and row[4] == doc and not started:
                # Nothing changed: no update, no events (as CloudFormation answers).
                updated_at = None if row[3] is None else float(row[3])
                return Stack(rec, str(row[2]), float(row[0]), updated_at)
            if creating:
                conn.execute("DELETE FROM resources WHERE stack_id = ?", (rec.stack_id,))
            if started and row is not None and row[2] != REVIEW_IN_PROGRESS:
                creating = str(row[2]).startswith("CREATE_")
            verb = "CREATE" if creating else "UPDATE"
            status = f"{verb}_FAILED" if failure else f"{verb}_COMPLETE"
            reviewed = row is not None and row[1] is None and row[2] == REVIEW_IN_PROGRESS
            kept_created = row is not None and (not creating or reviewed or started)
            created = float(row[0]) if kept_created else now
            updated = None if creating else now
            conn.execute(
                "INSERT OR REPLACE INTO stacks VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
                (rec.stack_id, rec.name, status, created, updated, doc, int(managed)),
            )
            stack_event = (rec.stack_id, rec.name, rec.stack_id, _STACK_TYPE)
            if not started:
                self._event(conn, *stack_event, f"{verb}_IN_PROGRESS", now, "User Initiated")
            before = {
                r[0]: (r[1], r[2])
                for r in conn.execute(
                    "SELECT logical_id, physical_id, type FROM resources WHERE stack_id = ?",
                    (rec.stack_id,),
                )
            }
            for res in rec.resources:
                unchanged = not res.changed and not res.failed_reason
                if unchanged and before.get(res.logical_id) == (res.physical_id, res.type):
                    continue  # as it was: its status, time and events stay
                kind = "UPDATE" if res.logical_id in before else "CREATE"
                state = f"{kind}_FAILED" if res.failed_reason else f"{kind}_COMPLETE"
                # The resource's row, and its event, say the same.
                row = (res.logical_id, res.physical_id, res.type, state, now, res.failed_reason)
                conn.execute(
                    "INSERT OR REPLACE INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (rec.stack_id, *row),
                )
                self._event(conn, rec.stack_id, *row)
            kept = {r.logical_id for r in rec.resources}
            for lid, (physical, kind) in before.items():
                if lid not in kept:
                    conn.execute(
                        "DELETE FROM resources WHERE stack_id = ? AND logical_id = ?",
                        (rec.stack_id, lid),
                    )
                    self._event(conn, rec.stack_id, lid, physical, kind, DELETE_COMPLETE, now)
            self._event(conn, *stack_event, status, now, failure)
            self._trim(conn, rec.stack_id)
        return Stack(rec, status, created, updated)

    @staticmethod
    def _trim(conn: sqlite3.Connection, stack_id: str) -> None:
        conn.execute(
            "DELETE FROM events WHERE stack_id = ? AND seq <= (SELECT seq FROM events "
            "WHERE stack_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?)",
            (stack_id, stack_id, MAX_EVENTS),
        )

    def review(self, rec: StackRecord, now: float) -> Stack:
        """A stack a CREATE change set names: REVIEW_IN_PROGRESS (managed) until executed.

        A live stack of that id is left as it is (a second CREATE change set)."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT deleted FROM stacks WHERE stack_id = ?", (rec.stack_id,)
            ).fetchone()
            if row is None or row[0] is not None:
                conn.execute("DELETE FROM resources WHERE stack_id = ?", (rec.stack_id,))
                conn.execute(
                    "INSERT OR REPLACE INTO stacks VALUES (?, ?, ?, ?, NULL, NULL, ?, 1)",
                    (rec.stack_id, rec.name, REVIEW_IN_PROGRESS, now, json.dumps(record_doc(rec))),
                )
                stack_event = (rec.stack_id, rec.name, rec.stack_id, _STACK_TYPE)
                self._event(conn, *stack_event, REVIEW_IN_PROGRESS, now, "User Initiated")
        found = self.find(rec.stack_id)
        assert found is not None
        return found

    def set_status(self, stack_id: str, status: str, now: float, reason: str = "") -> None:
        """The stack's status changes (an execution starts, or fails): one stack event."""
        with self._db.transaction() as conn:
            row = conn.execute("SELECT name FROM stacks WHERE stack_id = ?", (stack_id,)).fetchone()
            if row is None:
                return
            conn.execute("UPDATE stacks SET status = ? WHERE stack_id = ?", (status, stack_id))
            self._event(conn, stack_id, str(row[0]), stack_id, _STACK_TYPE, status, now, reason)
            self._trim(conn, stack_id)

    def is_managed(self, stack_id: str) -> bool:
        rows = self._rows("SELECT managed FROM stacks WHERE stack_id = ?", stack_id)
        return bool(rows and rows[0][0])

    def drop(self, stack_id: str) -> None:
        """Forget a stack that never held anything (a REVIEW_IN_PROGRESS one deleted)."""
        with self._db.transaction() as conn:
            for table in ("stacks", "resources", "events", "change_sets"):
                conn.execute(f"DELETE FROM {table} WHERE stack_id = ?", (stack_id,))

    # -- change sets --------------------------------------------------------------------
    def put_change_set(self, cs: ChangeSet) -> None:
        with self._db.transaction() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO change_sets VALUES (?, ?, ?, ?, ?)",
                (cs.id, cs.stack_id, cs.name, cs.created, json.dumps(change_set_doc(cs))),
            )

    def change_set(self, name_or_id: str, stack_id: str | None) -> ChangeSet | None:
        """By ARN, or by name within the stack ``stack_id``."""
        if name_or_id.startswith("arn:"):
            rows = self._rows("SELECT doc FROM change_sets WHERE id = ?", name_or_id)
        else:
            rows = self._rows(
                "SELECT doc FROM change_sets WHERE stack_id = ? AND name = ?",
                stack_id or "",
                name_or_id,
            )
        return parse_change_set_doc(json.loads(str(rows[0][0]))) if rows else None

    def change_sets(self, stack_id: str) -> list[ChangeSet]:
        """The stack's change sets, oldest first."""
        rows = self._rows(
            "SELECT doc FROM change_sets WHERE stack_id = ? ORDER BY created, id", stack_id
        )
        return [parse_change_set_doc(json.loads(str(r[0]))) for r in rows]

    def delete_change_set(self, change_set_id: str) -> None:
        with self._db.transaction() as conn:
            conn.execute("DELETE FROM change_sets WHERE id = ?", (change_set_id,))

    def delete_change_sets(self, stack_id: str, *, keep: str = "") -> list[str]:
        """Delete the stack's change sets but ``keep``; their ids."""
        with self._db.transaction() as conn:
            ids = [
                str(r[0])
                for r in conn.execute(
                    "SELECT id FROM change_sets WHERE stack_id = ? AND id != ?", (stack_id, keep)
                ).fetchall()
            ]
            conn.execute("DELETE FROM change_sets WHERE stack_id = ? AND id != ?", (stack_id, keep))
        return ids

    def all_change_sets(self) -> list[ChangeSet]:
        rows = self._rows("SELECT doc FROM change_sets ORDER BY created")
        return [parse_change_set_doc(json.loads(str(r[0]))) for r in rows]

    def mark_deleted(self, stack_id: str, now: float) -> None:
        """The stack is gone (DELETE_COMPLETE), its resources with it."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT name FROM stacks WHERE stack_id = ? AND deleted IS NULL", (stack_id,)
            ).fetchone()
            if row is None:
                return
            for lid, physical, kind in conn.execute(
                "SELECT logical_id, physical_id, type FROM resources WHERE stack_id = ?",
                (stack_id,),
            ).fetchall():
                self._event(conn, stack_id, lid, physical, kind, DELETE_COMPLETE, now)
            conn.execute("DELETE FROM resources WHERE stack_id = ?", (stack_id,))
            conn.execute(
                "UPDATE stacks SET status = ?, deleted = ? WHERE stack_id = ?",
                (DELETE_COMPLETE, now, stack_id),
            )
            conn.execute("DELETE FROM change_sets WHERE stack_id = ?", (stack_id,))
            self._event(conn, stack_id, str(row[0]), stack_id, _STACK_TYPE, DELETE_COMPLETE, now)

    @staticmethod
    def _event(
        conn: sqlite3.Connection,
        stack_id: str,
        logical_id: str,
        physical_id: str,
        kind: str,
        status: str,
        now: float,
        reason: str = "",
    ) -> None:
        conn.execute(
            "INSERT INTO events (event_id, stack_id, logical_id, physical_id, type, status, "
            "timestamp, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), stack_id, logical_id, physical_id, kind, status, now, reason),
        )

    # -- reads --------------------------------------------------------------------------
    def _rows(self, sql: str, *args: object) -> list[tuple[Any, ...]]:
        with self._db.reading() as conn:
            return list(conn.execute(sql, args).fetchall())

    def find(self, name_or_id: str) -> Stack | None:
        """A live stack by name, or any stack (deleted ones too) by its StackId, as on AWS."""
        if name_or_id.startswith("arn:"):
            where = "s.stack_id = ?"
        else:
            where = "s.name = ? AND s.deleted IS NULL"
        rows = self._rows(f"SELECT {_STACK_COLUMNS} FROM stacks s WHERE {where}", name_or_id)
        return _stack(rows[0]) if rows else None

    def stacks(self, *, deleted: bool) -> list[Stack]:
        """Every live stack (and the deleted ones when ``deleted``), newest first."""
        where = "" if deleted else "WHERE s.deleted IS NULL"
        rows = self._rows(f"SELECT {_STACK_COLUMNS} FROM stacks s {where} ORDER BY s.created DESC")
        return [_stack(r) for r in rows]

    def resources(self, stack: Stack) -> list[Resource]:
        rec = stack.record
        rows = self._rows(
            "SELECT logical_id, physical_id, type, status, updated, reason FROM resources "
            "WHERE stack_id = ? ORDER BY logical_id",
            rec.stack_id,
        )
        return [Resource(rec.stack_id, rec.name, *r) for r in rows]

    def by_physical_id(self, physical_id: str) -> Stack | None:
        """The live stack holding a resource of that physical id."""
        rows = self._rows(
            f"SELECT {_STACK_COLUMNS} FROM resources r JOIN stacks s ON s.stack_id = r.stack_id "
            "WHERE r.physical_id = ? AND s.deleted IS NULL LIMIT 1",
            physical_id,
        )
        return _stack(rows[0]) if rows else None

    def events(self, stack: Stack) -> list[Event]:
        """The stack's events, newest first."""
        rec = stack.record
        rows = self._rows(
            "SELECT event_id, logical_id, physical_id, type, status, timestamp, reason "
            "FROM events WHERE stack_id = ? ORDER BY seq DESC",
            rec.stack_id,
        )
        return [Event(r[0], rec.stack_id, rec.name, *r[1:]) for r in rows]


def _stack(row: tuple[object, ...]) -> Stack:
    status, created, updated, deleted, record, name = row
    rec = parse_record(str(name), json.loads(str(record)))
    return Stack(
        rec,
        str(status),
        float(str(created)),
        None if updated is None else float(str(updated)),
        None if deleted is None else float(str(deleted)),
    )
