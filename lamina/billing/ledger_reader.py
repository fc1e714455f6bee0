"""A read-only view of a ledger file, for reports: per function, version, day and month.

The server's :class:`~lamina.billing.ledger.Ledger` owns the writing side (and a flusher
thread); reports only read. :class:`LedgerReader` opens ``<data_dir>/ledger.db`` with
SQLite's ``mode=ro``, so it never creates or changes the file, and it can run beside a
live server: the ledger is in WAL mode, where readers and the one writer do not block each
other. A reader sees what the server has flushed (at most ~200 ms behind; asking the
server's ``/lamina/v1/cost`` first flushes everything). The queries themselves are
:mod:`lamina.billing.ledger_queries`, the one read path the server uses too.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from lamina.billing import ledger_db, ledger_queries
from lamina.billing.ledger import LEDGER_FILE
from lamina.billing.ledger_queries import GroupBy, GroupTotals, LedgerEntry, MonthUsage
from lamina.billing.projection import Workload
from lamina.billing.provisioned import ProvisionedSpan
from lamina.errors import ConfigError, ServiceError

__all__ = ["GroupBy", "GroupTotals", "LedgerReader", "MonthUsage"]


class LedgerReader:
    """Reports over a ledger file that this process only reads."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ConfigError(f"no ledger at {path}: has a Lamina server run with this data dir?")
        self.path = path

    @classmethod
    def open(cls, data_dir: Path) -> LedgerReader:
        return cls(data_dir / LEDGER_FILE)

    @property
    def source(self) -> str:
        """Where the report's numbers come from, for its header."""
        return f"ledger {self.path}"

    def groups(
        self,
        by: GroupBy = "function",
        function: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[GroupTotals]:
        """Totals per function, per (function, version) or per (UTC day, function)."""
        with self._connect() as conn:
            return ledger_queries.groups(conn, by, function, since, until)

    def workloads(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[tuple[str, Workload]]:
        """Each function's measured workload per architecture, with its billed-ms histogram."""
        with self._connect() as conn:
            return ledger_queries.workloads(conn, function, since, until)

    def months(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[MonthUsage]:
        """Usage per UTC calendar month and architecture, oldest first."""
        with self._connect() as conn:
            return ledger_queries.months(conn, function, since, until)

    def provisioned_spans(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[ProvisionedSpan]:
        """Provisioned concurrency's ended READY spans within ``[since, until)``."""
        with self._connect() as conn:
            return ledger_queries.provisioned_spans(conn, function, since, until)

    def records(self, function: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """The most recent rows, newest first."""
        with self._connect() as conn:
            return ledger_queries.records(conn, function, limit)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?mode=ro", uri=True, timeout=10)
        except sqlite3.Error as exc:
            raise ServiceError(f"cannot open the ledger {self.path}: {exc}") from exc
        with closing(conn):
            # typeshed's aggregate protocol wants finalize() -> int; SQLite takes any value.
            conn.create_aggregate("decimal_sum", 1, ledger_db.DecimalSum)  # type: ignore[arg-type]
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version != ledger_db.SCHEMA_VERSION:
                    raise ConfigError(
                        f"{self.path}: ledger schema version {version}, this Lamina reads "
                        f"{ledger_db.SCHEMA_VERSION}"
                    )
                yield conn
            except sqlite3.Error as exc:
                raise ServiceError(f"ledger query failed: {exc}") from exc
