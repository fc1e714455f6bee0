"""Custom metrics: datapoints of PutMetricData and of EMF log lines, kept in
``<data_dir>/metrics.db`` by one writer thread (:class:`~lamina.store.sqlite_writer.SqliteWriter`,
no fsync: metrics are not worth a disk flush per batch).

A series is (namespace, metric name, dimension set, unit). Its samples fold into buckets —
one per UTC minute, plus one per second for ``StorageResolution`` 1 — holding the
statistic set (SampleCount, Sum, Minimum, Maximum) and, while they number at most
:data:`MAX_DISTINCT`, the distinct values with their counts (for percentiles).

Retention (pruned at most every 10 minutes, on a write): per-second buckets 3 hours,
per-minute buckets 15 days, as CloudWatch keeps them at those resolutions (CloudWatch then
keeps 5-minute and hourly aggregates longer; Lamina does not).
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from lamina.errors import ServiceError
from lamina.logs import emf
from lamina.models.metric_datum import Dimensions, MetricDatum
from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS datapoints (
    namespace TEXT NOT NULL,
    metric TEXT NOT NULL,
    dims TEXT NOT NULL,          -- JSON [[name, value], ...] sorted by name
    unit TEXT NOT NULL,
    resolution INTEGER NOT NULL, -- bucket length in seconds: 60, or 1 (high resolution)
    at INTEGER NOT NULL,         -- bucket start, epoch seconds
    samples REAL NOT NULL,
    total REAL NOT NULL,
    low REAL NOT NULL,
    high REAL NOT NULL,
    vals TEXT,                   -- JSON [[value, count], ...]; NULL when not known
    PRIMARY KEY (namespace, metric, dims, unit, resolution, at)
) WITHOUT ROWID;
-- One row per series (any unit), for ListMetrics: its newest bucket's start.
CREATE TABLE IF NOT EXISTS series (
    namespace TEXT NOT NULL,
    metric TEXT NOT NULL,
    dims TEXT NOT NULL,
    last_at INTEGER NOT NULL,
    PRIMARY KEY (namespace, metric, dims)
) WITHOUT ROWID;
"""
MAX_DISTINCT = 500  # distinct values kept per bucket; past it, no percentiles for it
HIGH_RES_KEEP_S = 3 * 3600
MINUTE_KEEP_S = 15 * 24 * 3600
PRUNE_EVERY_S = 600.0
LIST_WINDOW_S = 14 * 24 * 3600  # ListMetrics shows series with data in the last two weeks
MAX_PENDING_LINES = 100_000  # EMF lines queued for the writer; more are dropped (logged)

log = logging.getLogger(__name__)
T = TypeVar("T")

BucketKey = tuple[str, str, str, str, int, int]  # namespace, metric, dims, unit, res, at


@dataclass(slots=True)
class Bucket:
    """One bucket's samples (mutable while folding a batch)."""

    samples: float
    total: float
    low: float
    high: float
    values: dict[float, float] | None

    @classmethod
    def of(cls, d: MetricDatum) -> Bucket:
        return cls(
            d.sample_count, d.total, d.minimum, d.maximum, dict(d.values) if d.values else None
        )

    def add(self, other: Bucket) -> None:
        self.samples += other.samples
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        if self.values is None or other.values is None:
            self.values = None
            return
        for v, c in other.values.items():
            self.values[v] = self.values.get(v, 0.0) + c
        if len(self.values) > MAX_DISTINCT:
            self.values = None


def dims_text(dims: Dimensions) -> str:
    return json.dumps([list(d) for d in sorted(dims)], separators=(",", ":"))


def text_dims(text: str) -> Dimensions:
    return tuple((str(n), str(v)) for n, v in json.loads(text))


def fold(datums: list[MetricDatum]) -> dict[BucketKey, Bucket]:
    """A batch's datums merged per bucket (minute, and second for high resolution)."""
    out: dict[BucketKey, Bucket] = {}
    for d in datums:
        dims = dims_text(d.dimensions)
        second = int(d.timestamp)
        keys = [(d.namespace, d.name, dims, d.unit, 60, second - second % 60)]
        if d.high_resolution:
            keys.append((d.namespace, d.name, dims, d.unit, 1, second))
        for key in keys:
            bucket = Bucket.of(d)
            if key in out:
                out[key].add(bucket)
            else:
                out[key] = bucket
    return out


class CustomMetrics:
    """The store; every method but :meth:`ingest_emf` blocks (call off the event loop)."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        self._writer = SqliteWriter(path, SCHEMA, fsync=False, name="metrics-writer")
        self._clock = clock
        self._pruned = 0.0
        self._lock = threading.Lock()
        self._pending = 0  # EMF lines queued, not yet parsed

    def close(self) -> None:
        self._writer.close()

    def _call(self, op: Callable[[sqlite3.Connection], T]) -> T:
        """``op`` on the writer thread; a database failure as a :class:`ServiceError`."""
        try:
            return self._writer.call(op)
        except sqlite3.Error as exc:
            raise ServiceError(f"metrics store {self._writer.path}: {exc}") from exc

    # -- writes --------------------------------------------------------------------------
    def put(self, datums: list[MetricDatum]) -> None:
        """Store ``datums``; returns once they are committed (visible to reads)."""
        self._call(lambda conn: self._store(conn, datums))

    def ingest_emf(self, lines: list[tuple[int, str]]) -> None:
        """Queue log lines that may be EMF documents (O(1); called by the log store's flush,
        on the event loop): parsed and stored on the writer thread."""
        with self._lock:
            if self._pending + len(lines) > MAX_PENDING_LINES:
                log.warning("metrics: %d EMF lines dropped, the writer is behind", len(lines))
                return
            self._pending += len(lines)
        done = self._writer.submit(lambda conn: self._store_emf(conn, lines))
        done.add_done_callback(_log_failure)

    def _store_emf(self, conn: sqlite3.Connection, lines: list[tuple[int, str]]) -> int:
        with self._lock:
            self._pending -= len(lines)
        now = self._clock()
        datums: list[MetricDatum] = []
        for _, message in lines:
            if not emf.candidate(message):
                continue
            try:
                datums.extend(emf.parse(message, now))
            except emf.InvalidEmf as exc:
                log.debug("not an EMF document (%s): %.200s", exc, message)
        return self._store(conn, datums)

    def _store(self, conn: sqlite3.Connection, datums: list[MetricDatum]) -> int:
        newest: dict[tuple[str, str, str], int] = {}
        for key, bucket in fold(datums).items():
            series = key[:3]
            newest[series] = max(newest.get(series, key[5]), key[5])
            row = conn.execute(
                "SELECT samples, total, low, high, vals FROM datapoints WHERE namespace = ? "
                "AND metric = ? AND dims = ? AND unit = ? AND resolution = ? AND at = ?",
                key,
            ).fetchone()
            if row is not None:
                old = Bucket(row[0], row[1], row[2], row[3], _values(row[4]))
                old.add(bucket)
                bucket = old
            vals = (
                None
                if bucket.values is None
                else json.dumps([[v, c] for v, c in bucket.values.items()])
            )
            conn.execute(
                "INSERT OR REPLACE INTO datapoints VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*key, bucket.samples, bucket.total, bucket.low, bucket.high, vals),
            )
        conn.executemany(
            "INSERT INTO series VALUES (?, ?, ?, ?) ON CONFLICT DO UPDATE "
            "SET last_at = max(last_at, excluded.last_at)",
            [(*series, at) for series, at in newest.items()],
        )
        now = self._clock()
        if now - self._pruned >= PRUNE_EVERY_S:
            self._pruned = now
            conn.execute(
                "DELETE FROM datapoints WHERE (resolution = 1 AND at < ?) "
                "OR (resolution = 60 AND at < ?)",
                (int(now) - HIGH_RES_KEEP_S, int(now) - MINUTE_KEEP_S),
            )
            conn.execute("DELETE FROM series WHERE last_at < ?", (int(now) - MINUTE_KEEP_S,))
        return len(datums)

    # -- reads ---------------------------------------------------------------------------
    def buckets(
        self,
        namespace: str,
        metric: str,
        dims: Dimensions,
        unit: str | None,
        start: float,
        end: float,
        resolution: int,
    ) -> list[tuple[int, str, Bucket]]:
        """(bucket start, unit, bucket) of one series in [start, end), oldest first."""
        sql = (
            "SELECT at, unit, samples, total, low, high, vals FROM datapoints "
            "WHERE namespace = ? AND metric = ? AND dims = ? AND resolution = ? "
            "AND at >= ? AND at < ?"
        )
        args: list[str | int | float] = [
            namespace,
            metric,
            dims_text(dims),
            resolution,
            start,
            end,
        ]
        if unit is not None:
            sql += " AND unit = ?"
            args.append(unit)
        sql += " ORDER BY at"
        rows = self._call(lambda conn: conn.execute(sql, args).fetchall())
        return [(r[0], r[1], Bucket(r[2], r[3], r[4], r[5], _values(r[6]))) for r in rows]

    def series(
        self, namespace: str | None, window_s: int = LIST_WINDOW_S
    ) -> list[tuple[str, str, Dimensions]]:
        """(namespace, metric, dimensions) with data in the last ``window_s``, sorted."""
        since = int(self._clock()) - window_s
        sql = "SELECT namespace, metric, dims FROM series WHERE last_at >= ?"
        args: list[str | int] = [since]
        if namespace is not None:
            sql += " AND namespace = ?"
            args.append(namespace)
        rows = self._call(lambda conn: conn.execute(sql + " ORDER BY 1, 2, 3", args).fetchall())
        return [(r[0], r[1], text_dims(r[2])) for r in rows]


def _log_failure(done: Future[int]) -> None:
    exc = done.exception()
    if exc is not None:
        log.error("metrics: storing EMF datapoints failed: %s", exc)


def _values(text: str | None) -> dict[float, float] | None:
    if text is None:
        return None
    return {float(v): float(c) for v, c in json.loads(text)}
