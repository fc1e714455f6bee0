"""A read-only view of a ledger file, for reports: per function, version, day and month.

The server's :class:`~lamina.billing.ledger.Ledger` owns the writing side (and a flusher
thread); reports only read. :class:`LedgerReader` opens ``<data_dir>/ledger.db`` with
SQLite's ``mode=ro``, so it never creates or changes the file, and it can run beside a
live server: the ledger is in WAL mode, where readers and the one writer do not block each
other. A reader sees what the server has flushed (at most ~200 ms behind; asking the
server's ``/lamina/v1/cost`` first flushes everything).
"""

from __future__ import annotations

import dataclasses
import math
import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from lamina.billing import ledger_db
from lamina.billing.ledger import LEDGER_FILE
from lamina.billing.meter import EXACT, gb_seconds
from lamina.billing.projection import Workload
from lamina.errors import ConfigError, ServiceError

GroupBy = Literal["function", "version", "day"]

_KEYS: dict[str, tuple[str, ...]] = {
    "function": ("function",),
    "version": ("function", "version"),
    "day": ("date(started_at, 'unixepoch')", "function"),
}


@dataclass(frozen=True, slots=True)
class GroupTotals:
    """The ledger's rows for one function (and version, or UTC day), summed.

    Costs are as the ledger recorded them: each invocation at its architecture's
    first-tier price. ``mb_ms`` (Σ memory * billed ms) lets a report reprice them.
    """

    function: str
    version: str | None
    day: date | None
    invocations: int
    cold_starts: int
    errors: int
    timeouts: int
    duration_ms: float
    init_ms: float  # Σ Init Duration of the cold starts (billed, inside billed_ms)
    billed_ms: int
    mb_ms: int
    ephemeral_gb_s: Decimal
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    # Nearest-rank duration percentiles, per function only (as the API's totals have them).
    p50_duration_ms: float | None = None
    p90_duration_ms: float | None = None

    @property
    def gb_s(self) -> Decimal:
        return gb_seconds(1, self.mb_ms)

    @property
    def total_cost(self) -> Decimal:
        return EXACT.add(EXACT.add(self.request_cost, self.duration_cost), self.ephemeral_cost)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """One calendar month's (UTC) usage of one architecture: a monthly bill's inputs."""

    month: str  # "2026-05"
    architecture: str
    requests: int
    mb_ms: int
    ephemeral_gb_s: Decimal

    @property
    def gb_s(self) -> Decimal:
        return gb_seconds(1, self.mb_ms)


def _where(
    function: str | None, since: float | None, until: float | None
) -> tuple[str, list[object]]:
    clauses: list[str] = []
    params: list[object] = []
    for clause, value in (("function = ?", function), ("started_at >= ?", since),
                          ("started_at < ?", until)):  # fmt: skip
        if value is not None:
            clauses.append(clause)
            params.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


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

    def groups(
        self,
        by: GroupBy = "function",
        function: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[GroupTotals]:
        """Totals per function, per (function, version) or per (UTC day, function)."""
        keys = _KEYS[by]
        key_sql = ", ".join(keys)
        where, params = _where(function, since, until)
        sql = (
            f"SELECT {key_sql}, COUNT(*), SUM(cold), SUM(outcome != 'success'), "
            "SUM(outcome = 'timeout'), TOTAL(duration_ms), TOTAL(init_ms), SUM(billed_ms), "
            "SUM(memory_mb * billed_ms), decimal_sum(ephemeral_gb_s), "
            "decimal_sum(request_cost), decimal_sum(duration_cost), decimal_sum(ephemeral_cost) "
            f"FROM invocations{where} GROUP BY {key_sql} ORDER BY {key_sql}"
        )
        with self._connect() as conn:
            groups = [_group(by, row) for row in conn.execute(sql, params).fetchall()]
            if by == "function":
                groups = [
                    dataclasses.replace(
                        g,
                        p50_duration_ms=_percentile(conn, g, since, until, 0.50),
                        p90_duration_ms=_percentile(conn, g, since, until, 0.90),
                    )
                    for g in groups
                ]
        return groups

    def workloads(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[tuple[str, Workload]]:
        """Each function's measured workload per architecture, with its billed-ms histogram."""
        where, params = _where(function, since, until)
        with self._connect() as conn:
            sums = conn.execute(
                "SELECT function, architecture, COUNT(*), SUM(memory_mb * billed_ms), "
                f"decimal_sum(ephemeral_gb_s) FROM invocations{where} "
                "GROUP BY function, architecture ORDER BY function, architecture",
                params,
            ).fetchall()
            buckets = conn.execute(
                "SELECT function, architecture, billed_ms, COUNT(*) "
                f"FROM invocations{where} GROUP BY function, architecture, billed_ms "
                "ORDER BY function, architecture, billed_ms",
                params,
            ).fetchall()
        histograms: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for name, arch, billed, count in buckets:
            histograms.setdefault((str(name), str(arch)), []).append((int(billed), int(count)))
        return [
            (
                str(name),
                Workload(
                    architecture=str(arch),
                    invocations=int(n),
                    mb_ms=int(mb_ms),
                    ephemeral_gb_s=Decimal(eph),
                    histogram=tuple(histograms.get((str(name), str(arch)), ())),
                ),
            )
            for name, arch, n, mb_ms, eph in sums
        ]

    def months(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[MonthUsage]:
        """Usage per UTC calendar month and architecture, oldest first."""
        where, params = _where(function, since, until)
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT strftime('%Y-%m', started_at, 'unixepoch') AS month, architecture, "
                "COUNT(*), SUM(memory_mb * billed_ms), decimal_sum(ephemeral_gb_s) "
                f"FROM invocations{where} GROUP BY month, architecture ORDER BY month, architecture",
                params,
            ).fetchall()
        return [
            MonthUsage(str(month), str(arch), int(n), int(mb_ms), Decimal(eph))
            for month, arch, n, mb_ms, eph in rows
        ]


def _percentile(
    conn: sqlite3.Connection,
    group: GroupTotals,
    since: float | None,
    until: float | None,
    fraction: float,
) -> float | None:
    """Nearest rank: the smallest duration with ``fraction`` of the group's rows at or below."""
    where, params = _where(group.function, since, until)
    rank = max(1, math.ceil(fraction * group.invocations))
    row = conn.execute(
        f"SELECT duration_ms FROM invocations{where} ORDER BY duration_ms LIMIT 1 OFFSET ?",
        [*params, rank - 1],
    ).fetchone()
    return None if row is None else float(row[0])


def _group(by: GroupBy, row: tuple[Any, ...]) -> GroupTotals:
    width = len(_KEYS[by])
    key, sums = row[:width], row[width:]
    (count, cold, errors, timeouts, duration, init, billed, mb_ms, eph, req, dur, eph_cost) = sums
    function = str(key[1] if by == "day" else key[0])
    return GroupTotals(
        function=function,
        version=str(key[1]) if by == "version" else None,
        day=date.fromisoformat(str(key[0])) if by == "day" else None,
        invocations=int(count),
        cold_starts=int(cold),
        errors=int(errors),
        timeouts=int(timeouts),
        duration_ms=float(duration),
        init_ms=float(init),
        billed_ms=int(billed),
        mb_ms=int(mb_ms),
        ephemeral_gb_s=Decimal(eph),
        request_cost=Decimal(req),
        duration_cost=Decimal(dur),
        ephemeral_cost=Decimal(eph_cost),
    )
