"""Functions' resource-based policies (AddPermission's statements) in ``<data_dir>/policies.db``.

A file of its own, like layers: a policy shares nothing transactional with the function's
configuration, and deleting a function deletes its policies through ``Functions.on_deleted``.
Statements are kept as the JSON Lambda shows, in the order they were added, keyed by
(function, qualifier, Sid); ``qualifier`` is ``""`` for the unqualified function.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lamina.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from lamina.store.sqlite_db import SqliteDatabase

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE statements (
            function TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            sid TEXT NOT NULL,
            seq INTEGER NOT NULL,
            statement TEXT NOT NULL,        -- the statement as GetPolicy shows it
            PRIMARY KEY (function, qualifier, sid)
        )""",
        """CREATE TABLE revisions (
            function TEXT NOT NULL,
            qualifier TEXT NOT NULL,
            revision_id TEXT NOT NULL,
            PRIMARY KEY (function, qualifier)
        )""",
    ),
]
Statements = list[dict[str, Any]]


class FunctionPolicyStore:
    """Policies per (function, qualifier), persisted in ``path``; thread-safe, synchronous."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = SqliteDatabase(self.path, MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    def statements(self, function: str, qualifier: str) -> tuple[Statements, str | None]:
        """The policy's statements in order, and its revision (None: no policy)."""
        with self._db.reading() as conn:
            return self._read(conn, function, qualifier)

    def add(
        self,
        function: str,
        qualifier: str,
        statement: dict[str, Any],
        revision_id: str | None,
        check: Callable[[Statements], object],
    ) -> str:
        """Add ``statement``; ``check`` sees the whole new policy first. Returns the revision."""
        sid = str(statement["Sid"])
        with self._db.transaction() as conn:
            current, revision = self._read(conn, function, qualifier)
            _check_revision(revision, revision_id)
            if any(s.get("Sid") == sid for s in current):
                raise ResourceConflict(
                    f"The statement id ({sid}) provided already exists. Please provide a new "
                    "statement id, or remove the existing statement."
                )
            check([*current, statement])
            seq = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM statements WHERE function = ? "
                "AND qualifier = ?",
                (function, qualifier),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO statements VALUES (?, ?, ?, ?, ?)",
                (function, qualifier, sid, seq, json.dumps(statement)),
            )
            return self._bump(conn, function, qualifier)

    def remove(self, function: str, qualifier: str, sid: str, revision_id: str | None) -> None:
        with self._db.transaction() as conn:
            _, revision = self._read(conn, function, qualifier)
            _check_revision(revision, revision_id)
            gone = conn.execute(
                "DELETE FROM statements WHERE function = ? AND qualifier = ? AND sid = ?",
                (function, qualifier, sid),
            ).rowcount
            if not gone:
                raise ResourceNotFound(f"Statement {sid} is not found in resource policy.")
            self._bump(conn, function, qualifier)

    def delete_function(self, function: str, qualifier: str | None = None) -> None:
        """Forget the policies of a deleted function (or of one deleted version or alias)."""
        where, args = "function = ?", [function]
        if qualifier is not None:
            where, args = where + " AND qualifier = ?", [function, qualifier]
        with self._db.transaction() as conn:
            conn.execute(f"DELETE FROM statements WHERE {where}", args)
            conn.execute(f"DELETE FROM revisions WHERE {where}", args)

    # -- internals ---------------------------------------------------------------------
    @staticmethod
    def _read(
        conn: sqlite3.Connection, function: str, qualifier: str
    ) -> tuple[Statements, str | None]:
        rows = conn.execute(
            "SELECT statement FROM statements WHERE function = ? AND qualifier = ? ORDER BY seq",
            (function, qualifier),
        ).fetchall()
        if not rows:
            return [], None
        rev = conn.execute(
            "SELECT revision_id FROM revisions WHERE function = ? AND qualifier = ?",
            (function, qualifier),
        ).fetchone()
        return [json.loads(r[0]) for r in rows], (str(rev[0]) if rev else None)

    @staticmethod
    def _bump(conn: sqlite3.Connection, function: str, qualifier: str) -> str:
        revision = str(uuid.uuid4())
        conn.execute(
            "INSERT OR REPLACE INTO revisions VALUES (?, ?, ?)", (function, qualifier, revision)
        )
        return revision


def _check_revision(current: str | None, wanted: str | None) -> None:
    if wanted is not None and wanted != current:
        raise PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the "
            "GetPolicy API to retrieve the latest Revision Id"
        )
