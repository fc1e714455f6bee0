"""One SQLite connection on a dedicated thread, with group commit.

Durable event sources must commit before they acknowledge (the async-invoke 202, an SQS
``SendMessage`` answer). A commit costs an fsync; a dedicated thread that runs every
operation queued while the previous commit was in flight inside one transaction pays
one fsync for the whole group, and the event loop never blocks on the disk: callers
``await writer.run(fn)`` and get ``fn(connection)``'s result once it is committed.

An operation that raises rolls back alone: the group is re-run without it (each
operation runs in its own SAVEPOINT), so one bad request never fails its neighbours.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

log = logging.getLogger("lamina.events.sqlite")

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection], Any]

_STOP = object()


class SqliteWriter:
    """Serialises all access to one database file through one thread."""

    def __init__(
        self,
        path: Path,
        schema: str,
        *,
        fsync: bool = True,
        max_group: int = 512,
        name: str = "sqlite-writer",
    ) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._queue: queue.SimpleQueue[tuple[Operation, Future[Any]] | object] = queue.SimpleQueue()
        self._max_group = max_group
        self._ready: Future[None] = Future()
        self._schema = schema
        self._sync = "FULL" if fsync else "NORMAL"
        self.commits = 0
        self.operations = 0
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.result()  # raise schema or open errors in the caller

    # -- callers ----------------------------------------------------------------------
    def submit(self, op: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Queue ``op``; the future resolves after the transaction holding it commits."""
        fut: Future[T] = Future()
        self._queue.put((op, fut))
        return fut

    async def run(self, op: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.wrap_future(self.submit(op))

    def call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """Blocking form, for start-up code and tests."""
        return self.submit(op).result()

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    # -- the thread -------------------------------------------------------------------
    def _main(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._sync}")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(self._schema)
        except BaseException as exc:
            self._ready.set_exception(exc)
            return
        self._ready.set_result(None)
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                break
            group = [first]
            while len(group) < self._max_group:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                group.append(item)
            self._run_group(conn, group)  # type: ignore[arg-type]
        conn.close()

    def _run_group(
        self, conn: sqlite3.Connection, group: list[tuple[Operation, Future[Any]]]
    ) -> None:
        results: list[tuple[Future[Any], bool, Any]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for op, fut in group:
                conn.execute("SAVEPOINT op")
                try:
                    value = op(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    results.append((fut, False, exc))
                else:
                    conn.execute("RELEASE op")
                    results.append((fut, True, value))
            conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed (disk full, I/O error)
            log.exception("commit of %d operations failed", len(group))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, fut in group:
                if not fut.done():
                    fut.set_exception(exc)
            return
        self.commits += 1
        self.operations += len(group)
        for fut, ok, value in results:
            if fut.set_running_or_notify_cancel():
                if ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)
