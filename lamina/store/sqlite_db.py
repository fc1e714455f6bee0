"""One SQLite file as Lamina's synchronous stores open it: WAL, one shared connection, migrations.

Every store (functions, layers, function policies) keeps one connection shared by all threads and
serialised by its own lock, in autocommit mode so that each write is an explicit
``BEGIN IMMEDIATE … COMMIT`` — IMMEDIATE takes the write lock up front, so a read-then-write
transaction never deadlocks against another writer.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lamina.store.schema import migrate


class SqliteDatabase:
    """``path`` opened and migrated to the end of ``migrations``; thread-safe."""

    def __init__(
        self, path: Path, migrations: list[tuple[str, ...]], *, foreign_keys: bool = False
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        if foreign_keys:
            self._conn.execute("PRAGMA foreign_keys=ON")
        self._conn.execute("PRAGMA busy_timeout=5000")
        self.schema_version = migrate(self._conn, migrations)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for reads: each is one statement, consistent on its own."""
        with self._lock:
            yield self._conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One serialised transaction, rolled back if the block raises."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")
