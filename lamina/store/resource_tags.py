"""Tags of resources that have no tag column of their own, by ARN, in ``<data_dir>/tags.db``.

EventBridge rules and event source mappings take tags on create and through
TagResource / UntagResource / ListTags(ForResource); Terraform's ``default_tags`` puts tags
on every resource and reads them back, so a tag that is dropped shows as drift.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
"""
MAX_TAGS = 50


class ResourceTags:
    """Synchronous (the operations that use it are), durable, small."""

    def __init__(self, path: Path) -> None:
        self._writer = SqliteWriter(path, SCHEMA, name="tags-db")

    def close(self) -> None:
        self._writer.close()

    def get(self, arn: str) -> dict[str, str]:
        rows = self._writer.call(
            lambda c: c.execute(
                "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", (arn,)
            ).fetchall()
        )
        return {str(k): str(v) for k, v in rows}

    def set(self, arn: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite ``tags``; others stay."""

        def op(c: sqlite3.Connection) -> None:
            c.executemany(
                "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                [(arn, k, v) for k, v in tags.items()],
            )

        self._writer.call(op)

    def remove(self, arn: str, keys: Iterable[str]) -> None:
        keys = list(keys)
        self._writer.call(
            lambda c: c.executemany(
                "DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys]
            )
        )

    def drop(self, arn: str) -> None:
        """Forget every tag of a deleted resource."""
        self._writer.call(lambda c: c.execute("DELETE FROM tags WHERE arn = ?", (arn,)))
