"""The ledger: every metered invocation, written to ``<data_dir>/ledger.db`` off the hot path.

Thread model
------------
* :meth:`Ledger.record` is called on the invoke path (usually the event loop). It only
  appends to a :class:`collections.deque` — atomic and lock-free in CPython — and, once per
  full batch, sets a :class:`threading.Event` to wake the flusher early. No I/O, no pricing.
* One daemon *flusher* thread owns the only writing connection. It wakes every
  ``flush_interval_s`` (or as soon as ``batch_size`` records wait), prices the records
  (:func:`~lamina.billing.meter.invocation_cost`) and inserts them, ``batch_size`` rows per
  transaction. A failed write puts the batch back and is retried on the next wake.
* :meth:`flush` and :meth:`close` block until the flusher has written everything recorded
  before the call; from a coroutine, run them with ``asyncio.to_thread``.
* The flusher also folds each batch into per-minute rollups (:mod:`lamina.billing.rollups`),
  stored in the same transaction, and keeps running totals per function version in memory
  (:meth:`metric_totals`) for ``/metrics``. Throttled invokes never run, so they come in
  through :meth:`record_throttle` — another O(1) append.
* The queries (:meth:`totals`, :meth:`records`; reports use
  :class:`~lamina.billing.ledger_reader.LedgerReader`, over the same
  :mod:`~lamina.billing.ledger_queries`) open a short read connection of their own per
  call, so any thread may call them; they see flushed rows only (call :meth:`flush` first
  to read your own writes). They block: ``asyncio.to_thread``.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from lamina.billing import ledger_db, ledger_queries, rollups_db
from lamina.billing.ledger_queries import GroupTotals, LedgerEntry
from lamina.billing.meter import invocation_cost
from lamina.billing.prices import PriceTable
from lamina.billing.provisioned import ProvisionedSpan
from lamina.billing.rollups import Minute, RollupKey, SeriesKey, fold_batch, fold_throttle
from lamina.errors import ServiceError
from lamina.models.invocation import InvocationRecord

log = logging.getLogger(__name__)

LEDGER_FILE = "ledger.db"

_T = TypeVar("_T")
# A flush writes its batch in chunks and pauses between them, so the flusher never holds
# the GIL for more than one chunk's Python work (~0.2 ms) while the event loop waits.
_CHUNK_ROWS = 64
_CHUNK_PAUSE_S = 0.0002
_PRICE_CACHE_SIZE = 16_384  # (memory, billed ms, arch, /tmp) → priced columns; ~4 MB at most


class _FlushRequest:
    """A caller of :meth:`Ledger.flush` waiting for the flusher's next full drain."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: Exception | None = None


class Ledger:
    """Append-only record of metered invocations, batched into SQLite by a background thread."""

    def __init__(
        self,
        path: Path,
        table: PriceTable,
        *,
        flush_interval_s: float = 0.2,
        batch_size: int = 500,
    ) -> None:
        if flush_interval_s <= 0 or batch_size < 1:
            raise ValueError("flush_interval_s must be > 0 and batch_size >= 1")
        self.path = path
        self._table = table
        self._interval = flush_interval_s
        self._batch_size = batch_size
        self._buffer: deque[InvocationRecord] = deque()
        # Throttled invokes, and (True) invocations recursive loop detection stopped.
        self._throttles: deque[tuple[str, str, float, bool]] = deque()
        self._spans: deque[ProvisionedSpan] = deque()  # provisioned concurrency's
        self._flush_requests: deque[_FlushRequest] = deque()
        self._wake = threading.Event()
        self._priced: dict[tuple[int, int, str, int, bool], ledger_db.CostColumns] = {}
        self._stopping = False
        self._closed = False
        # Create the file and schema now, on the caller's thread, so a bad data directory
        # fails at start-up rather than silently in the flusher.
        path.parent.mkdir(parents=True, exist_ok=True)
        with closing(ledger_db.connect(path)) as conn:
            rollups_db.ensure_schema(conn)
            self._totals: dict[SeriesKey, Minute] = rollups_db.totals(conn)
        self._totals_lock = threading.Lock()
        # Told of every batch once it is written (flusher thread): e.g. the OTLP exporter.
        self.observers: list[Callable[[list[InvocationRecord]], None]] = []
        self._thread = threading.Thread(target=self._run, name="lamina-ledger", daemon=True)
        self._thread.start()

    @classmethod
    def open(
        cls,
        data_dir: Path,
        table: PriceTable,
        *,
        flush_interval_s: float = 0.2,
        batch_size: int = 500,
    ) -> Ledger:
        """The ledger of a data directory: ``<data_dir>/ledger.db``."""
        return cls(
            data_dir / LEDGER_FILE,
            table,
            flush_interval_s=flush_interval_s,
            batch_size=batch_size,
        )

    # -- the hot path ------------------------------------------------------------------

    def record(self, record: InvocationRecord) -> None:
        """Queue one invocation for the ledger: O(1), no I/O, safe from any thread."""
        if self._closed:
            raise ServiceError("the ledger is closed")
        buffer = self._buffer
        buffer.append(record)
        # is_set() takes no lock; set() (a brief, uncontended lock) runs once per batch.
        if len(buffer) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def record_throttle(self, function: str, version: str, at: float) -> None:
        """Count one throttled invoke (epoch seconds ``at``): O(1), no I/O, any thread."""
        self._throttles.append((function, version, at, False))
        if not self._wake.is_set() and len(self._throttles) >= self._batch_size:
            self._wake.set()

    def record_recursive_drop(self, function: str, version: str, at: float) -> None:
        """Count one invocation recursive loop detection stopped (RecursiveInvocationsDropped):
        O(1), no I/O, any thread."""
        self._throttles.append((function, version, at, True))
        if not self._wake.is_set() and len(self._throttles) >= self._batch_size:
            self._wake.set()

    def record_provisioned(self, span: ProvisionedSpan) -> None:
        """Keep one ended READY span of a provisioned concurrency configuration (what its
        configured concurrency is billed for): O(1), no I/O, any thread."""
        if self._closed:
            raise ServiceError("the ledger is closed")
        self._spans.append(span)
        self._wake.set()

    def provisioned_spans(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[ProvisionedSpan]:
        """The ended READY spans within ``[since, until)`` (flushed ones)."""
        with self._reader() as conn:
            return ledger_queries.provisioned_spans(conn, function, since, until)

    @property
    def pending(self) -> int:
        """Records queued but not yet written."""
        return len(self._buffer)

    # -- lifecycle -----------------------------------------------------------------------

    def flush(self, timeout: float | None = 30.0) -> None:
        """Block until every record queued before this call is written (or raise)."""
        if not self._thread.is_alive():
            if self._buffer:
                raise ServiceError(f"the ledger is closed with {len(self._buffer)} unwritten")
            return
        request = _FlushRequest()
        self._flush_requests.append(request)
        self._wake.set()
        if not request.done.wait(timeout):
            raise ServiceError(f"ledger flush did not finish within {timeout} s")
        if request.error is not None:
            raise ServiceError(f"ledger write failed: {request.error}") from request.error

    def close(self, timeout: float | None = 30.0) -> None:
        """Write everything still queued, then stop the flusher. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise ServiceError(f"ledger flusher did not stop within {timeout} s")
        if self._buffer:
            raise ServiceError(f"ledger closed with {len(self._buffer)} records unwritten")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- queries (any thread; blocking) ----------------------------------------------------

    def totals(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[GroupTotals]:
        """Per-function totals over ``[since, until)`` (epoch seconds), sorted by name."""
        with self._reader() as conn:
            return ledger_queries.groups(conn, "function", function, since, until)

    def records(self, function: str | None = None, limit: int = 100) -> list[LedgerEntry]:
        """The most recent rows, newest first."""
        with self._reader() as conn:
            return ledger_queries.records(conn, function, limit)

    def rollups(
        self,
        function: str | None = None,
        version: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[tuple[RollupKey, Minute]]:
        """Per-minute rollups in ``[since, until)`` (minute starts), by function/version/time."""
        with self._reader() as conn:
            return rollups_db.minutes(conn, function, version, since, until)

    def function_summaries(self, since: float) -> dict[str, Minute]:
        """Each function's counts and duration histogram from the minute ``since`` on."""
        with self._reader() as conn:
            return rollups_db.function_summaries(conn, since)

    def cost_since(self, since: float, until: float | None = None) -> dict[str, Decimal]:
        """Each function's cost over the minutes in ``[since, until)`` (epoch seconds; no
        end without ``until``), from rollups."""
        with self._reader() as conn:
            return rollups_db.cost_since(conn, since, until)

    def last_active(self) -> dict[str, int]:
        """Each function's latest minute (epoch seconds) with an invocation."""
        with self._reader() as conn:
            return rollups_db.last_active(conn)

    def metric_totals(self) -> dict[SeriesKey, Minute]:
        """Everything written so far, per (function, version): a copy, no I/O."""
        with self._totals_lock:
            return {key: minute.copy() for key, minute in self._totals.items()}

    @contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        try:
            with closing(ledger_db.connect(self.path)) as conn:
                yield conn
        except sqlite3.Error as exc:
            raise ServiceError(f"ledger query failed: {exc}") from exc

    # -- the flusher thread ----------------------------------------------------------------

    def _run(self) -> None:
        conn: sqlite3.Connection | None = None
        try:
            while True:
                self._wake.wait(self._interval)
                # Clear before draining: a record() landing after this point re-arms it.
                self._wake.clear()
                stopping = self._stopping
                requests = _take_all(self._flush_requests)
                error: Exception | None = None
                if self._buffer or self._throttles:
                    try:
                        if conn is None:  # opened here, lazily, so it can be retried
                            conn = ledger_db.connect(self.path)
                        self._drain(conn)
                    except sqlite3.Error as exc:
                        log.error("ledger write failed, %d records kept: %s", self.pending, exc)
                        error = exc
                for request in requests:
                    request.error = error
                    request.done.set()
                if stopping:
                    if self._buffer:
                        log.error("ledger stopped with %d records unwritten", self.pending)
                    return
        finally:
            if conn is not None:
                conn.close()
            for request in _take_all(self._flush_requests):  # nobody is left to serve them
                request.error = ServiceError("the ledger is closed")
                request.done.set()

    def _cost_columns(self, record: InvocationRecord) -> ledger_db.CostColumns:
        """Price a record, memoised: pricing and formatting are several µs of GIL-holding
        Decimal work, and most invocations repeat a few (memory, billed ms) pairs.
        Flusher thread only.

        The key must hold every field :func:`invocation_cost` reads.
        """
        key = (
            record.memory_mb,
            record.billed_ms,
            record.architecture,
            record.ephemeral_mb,
            record.provisioned,
        )
        columns = self._priced.get(key)
        if columns is None:
            columns = ledger_db.cost_columns(invocation_cost(record, self._table))
            if len(self._priced) >= _PRICE_CACHE_SIZE:
                self._priced.clear()  # crude, but bounded and cheap
            self._priced[key] = columns
        return columns

    def _drain(self, conn: sqlite3.Connection) -> None:
        """Write the whole buffer, ``batch_size`` rows per transaction.

        On a write error the failed batch goes back to the front of the buffer (its
        transaction was rolled back, so nothing is written twice) and the error propagates.
        """
        while self._buffer or self._throttles or self._spans:
            spans = _take_all(self._spans)
            if spans:
                try:
                    conn.execute("BEGIN")
                    conn.executemany(ledger_db.INSERT_SPAN, [_span_row(s) for s in spans])
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    if conn.in_transaction:
                        conn.rollback()
                    self._spans.extendleft(reversed(spans))
                    raise
            batch = _take_all(self._buffer, self._batch_size)
            throttles = _take_all(self._throttles, self._batch_size)
            minutes: dict[RollupKey, Minute] = {}
            for function, version, at, recursive in throttles:
                fold_throttle(minutes, function, version, at, recursive)
            written: list[InvocationRecord] = []
            try:
                conn.execute("BEGIN")
                for start in range(0, len(batch), _CHUNK_ROWS):
                    if start:
                        # Hand the GIL to the event loop between chunks. sqlite3 releases
                        # it around each row's step, but the loop's thread wakes slower
                        # than this one takes it back, so without a real pause the loop
                        # waits out the 5 ms switch interval (a p99 stall per flush).
                        time.sleep(_CHUNK_PAUSE_S)
                    written += self._write_chunk(conn, batch[start : start + _CHUNK_ROWS], minutes)
                rollups_db.add(conn, minutes)
                conn.execute("COMMIT")
            except sqlite3.Error:
                if conn.in_transaction:
                    conn.rollback()
                self._buffer.extendleft(reversed(batch))
                self._throttles.extendleft(reversed(throttles))
                raise
            for observe in self.observers:
                try:
                    observe(written)
                except Exception as exc:  # an observer's bug must not stop the ledger
                    log.error("ledger observer %r failed: %s", observe, exc)
            with self._totals_lock:
                for (function, version, _), minute in minutes.items():
                    total = self._totals.get((function, version))
                    if total is None:
                        self._totals[(function, version)] = minute.copy()
                    else:
                        total.merge(minute)

    def _write_chunk(
        self,
        conn: sqlite3.Connection,
        chunk: list[InvocationRecord],
        minutes: dict[RollupKey, Minute],
    ) -> list[InvocationRecord]:
        """Price, insert and fold one chunk of a batch (inside its transaction); returns
        the records written (an unpriceable one is logged and dropped)."""
        rows: list[ledger_db.Row] = []
        priced: list[tuple[InvocationRecord, str, str]] = []
        for record in chunk:
            try:
                costs = self._cost_columns(record)
            except Exception as exc:
                # An unpriceable record (e.g. an architecture missing from a custom table)
                # must not block every record behind it: log it whole, then drop it.
                log.error("ledger dropped unpriceable invocation %r: %s", record, exc)
                continue
            rows.append(ledger_db.encode(record, costs))
            priced.append((record, costs[0], costs[5]))
        conn.executemany(ledger_db.INSERT, rows)
        fold_batch(minutes, priced)
        return [record for record, _, _ in priced]


def _span_row(s: ProvisionedSpan) -> tuple[object, ...]:
    return (s.function, s.qualifier, s.version, s.architecture, s.memory_mb, s.concurrency,
            s.ready_at, s.ended_at)  # fmt: skip


def _take_all(queue: deque[_T], limit: int | None = None) -> list[_T]:
    """Pop up to ``limit`` items from the left; popleft() is atomic against appends."""
    taken: list[_T] = []
    while queue and (limit is None or len(taken) < limit):
        try:
            taken.append(queue.popleft())
        except IndexError:  # pragma: no cover - only if another consumer raced us
            break
    return taken
