"""Event source mappings on disk (``event-source-mappings.db``) and in memory."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from lamina.events.esm.config import Mapping
from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS mappings (uuid TEXT PRIMARY KEY, config TEXT NOT NULL);
"""


class MappingStore:
    def __init__(self, path: Path) -> None:
        self._writer = SqliteWriter(path, SCHEMA, name="esm-db")
        rows = self._writer.call(lambda c: c.execute("SELECT config FROM mappings").fetchall())
        self.mappings: dict[str, Mapping] = {}
        for (raw,) in rows:
            m = Mapping.from_json(raw)
            self.mappings[m.uuid] = m

    def close(self) -> None:
        self._writer.close()

    def save(self, m: Mapping) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("INSERT OR REPLACE INTO mappings VALUES (?, ?)", (m.uuid, m.to_json()))

        self._writer.call(op)
        self.mappings[m.uuid] = m

    def delete(self, uuid: str) -> None:
        self._writer.call(lambda c: c.execute("DELETE FROM mappings WHERE uuid = ?", (uuid,)))
        self.mappings.pop(uuid, None)
