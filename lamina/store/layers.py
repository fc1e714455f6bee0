"""The layer store: layer versions and their permissions in ``<data_dir>/layers.db``.

A file of its own (SQLite, WAL) rather than tables in ``lamina.db``: layers share nothing
transactional with functions — a function keeps the digests of the layers it was given,
so deleting a layer version never has to look at functions. Archives live in the code
store; this file holds what Lambda shows about them. Version numbers are never reused,
even after every version of a layer was deleted (as on Lambda).
"""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from lamina.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from lamina.models.layer import LayerPermission, LayerVersion
from lamina.store.sqlite_db import SqliteDatabase

MIGRATIONS: list[tuple[str, ...]] = [
    (
        """CREATE TABLE layer_versions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            config TEXT NOT NULL,           -- LayerVersion as JSON
            PRIMARY KEY (name, version)
        )""",
        """CREATE TABLE layer_names (
            name TEXT PRIMARY KEY,
            last_version INTEGER NOT NULL   -- numbers are never reused
        )""",
        """CREATE TABLE layer_permissions (
            name TEXT NOT NULL,
            version INTEGER NOT NULL,
            statement_id TEXT NOT NULL,
            config TEXT NOT NULL,           -- LayerPermission as JSON
            revision_id TEXT NOT NULL,
            PRIMARY KEY (name, version, statement_id)
        )""",
    ),
]


class LayerStore:
    """Layer versions and permissions, persisted in ``path``; thread-safe, synchronous."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._db = SqliteDatabase(self.path, MIGRATIONS)

    def close(self) -> None:
        self._db.close()

    # -- versions ------------------------------------------------------------------------------
    def publish(self, layer: LayerVersion) -> LayerVersion:
        """Store ``layer`` under the next version number of its name; return it numbered."""
        with self._db.transaction() as conn:
            row = conn.execute(
                "SELECT last_version FROM layer_names WHERE name = ?", (layer.name,)
            ).fetchone()
            number = (int(row[0]) if row else 0) + 1
            conn.execute(
                "INSERT INTO layer_names (name, last_version) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET last_version = excluded.last_version",
                (layer.name, number),
            )
            published = replace(layer, version=number)
            conn.execute(
                "INSERT INTO layer_versions (name, version, config) VALUES (?, ?, ?)",
                (layer.name, number, published.to_json()),
            )
        return published

    def get(self, name: str, version: int) -> LayerVersion | None:
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT config FROM layer_versions WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
        return None if row is None else LayerVersion.from_json(row[0])

    def versions(self, name: str) -> list[LayerVersion]:
        """Every version of ``name``, newest first (ListLayerVersions' order)."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT config FROM layer_versions WHERE name = ? ORDER BY version DESC", (name,)
            ).fetchall()
        return [LayerVersion.from_json(text) for (text,) in rows]

    def all_versions(self) -> list[LayerVersion]:
        """Every version of every layer, by name, newest first within a name."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT config FROM layer_versions ORDER BY name, version DESC"
            ).fetchall()
        return [LayerVersion.from_json(text) for (text,) in rows]

    def delete(self, name: str, version: int) -> None:
        """Delete one version and its permissions; deleting a missing one is not an error."""
        with self._db.transaction() as conn:
            conn.execute(
                "DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            )
            conn.execute(
                "DELETE FROM layer_permissions WHERE name = ? AND version = ?", (name, version)
            )

    # -- permissions ---------------------------------------------------------------------------
    def add_permission(
        self,
        name: str,
        version: int,
        permission: LayerPermission,
        revision_id: str,
        expected_revision: str | None,
    ) -> None:
        with self._db.transaction() as conn:
            self._check_revision(conn, name, version, expected_revision)
            taken = conn.execute(
                "SELECT 1 FROM layer_permissions WHERE name = ? AND version = ? "
                "AND statement_id = ?",
                (name, version, permission.statement_id),
            ).fetchone()
            if taken:
                raise ResourceConflict(
                    f"The statement id ({permission.statement_id}) provided already exists. "
                    "Please provide a new statement id, or remove the existing statement."
                )
            conn.execute(
                "UPDATE layer_permissions SET revision_id = ? WHERE name = ? AND version = ?",
                (revision_id, name, version),
            )
            conn.execute(
                "INSERT INTO layer_permissions (name, version, statement_id, config, revision_id)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, version, permission.statement_id, permission.to_json(), revision_id),
            )

    def permissions(self, name: str, version: int) -> tuple[list[LayerPermission], str]:
        """The version's statements in the order they were added, and the policy revision."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT config, revision_id FROM layer_permissions WHERE name = ? AND version = ?"
                " ORDER BY rowid",
                (name, version),
            ).fetchall()
        revision = str(rows[0][1]) if rows else ""
        return [LayerPermission.from_json(text) for text, _ in rows], revision

    def remove_permission(
        self,
        name: str,
        version: int,
        statement_id: str,
        revision_id: str,
        expected_revision: str | None,
    ) -> None:
        with self._db.transaction() as conn:
            self._check_revision(conn, name, version, expected_revision)
            gone = conn.execute(
                "DELETE FROM layer_permissions WHERE name = ? AND version = ? AND statement_id = ?",
                (name, version, statement_id),
            ).rowcount
            if not gone:
                raise ResourceNotFound(f"Statement {statement_id} is not found in resource policy.")
            conn.execute(
                "UPDATE layer_permissions SET revision_id = ? WHERE name = ? AND version = ?",
                (revision_id, name, version),
            )

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _check_revision(
        conn: sqlite3.Connection, name: str, version: int, expected: str | None
    ) -> None:
        if expected is None:
            return
        row = conn.execute(
            "SELECT revision_id FROM layer_permissions WHERE name = ? AND version = ? LIMIT 1",
            (name, version),
        ).fetchone()
        if row is None or row[0] != expected:
            raise PreconditionFailed(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetLayerVersionPolicy API to retrieve the latest Revision Id"
            )
