"""What a worker ships back to the control plane: ledger records, log events, its state.

The worker runs Lamina's own scheduler, whose reporter writes records to a sink and
whose environments write log lines to a :class:`~lamina.logs.store.LogStore`. Here both
are buffered instead of written, and drained into the next frame the worker sends, so the
control plane's ledger and log groups receive exactly the lines and rows one machine
would have written (the node that ran an invoke is told in its answer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from lamina.cluster.frames import LogEvent, NodeState
from lamina.logs.store import LogStore
from lamina.models.invocation import InvocationRecord
from lamina.scheduler.driver import Scheduler

T = TypeVar("T")

# Bound what waits for a frame if the control plane is away: the oldest lines go first
# (the control plane counts what it missed from the ``dropped`` numbers it is sent).
MAX_PENDING = 100_000
# Streams whose function is remembered, at most (a stream is one environment's; those of
# environments gone are forgotten when the map is rebuilt past this).
MAX_NAMES = 10_000


class ShippingLogs(LogStore):
    """A log store that keeps events for the control plane instead of writing files.

    A line is written under its log group's folder; the control plane's live tail follows
    functions by name, so a line whose folder is not its function's name (a function with
    a ``LoggingConfig.LogGroup`` of its own) also carries the name, found from its stream
    (one environment's, or a zygote's) through ``owners``."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.pending: list[LogEvent] = []
        self.dropped = 0
        # (log stream, function name) of the node's environments and zygotes now.
        self.owners: Callable[[], Iterable[tuple[str, str]]] | None = None
        self._names: dict[str, str] = {}  # log stream → its function's name ("": unknown)

    def append(self, function: str, stream: str, timestamp_ms: int, message: str) -> None:
        if len(self.pending) >= MAX_PENDING:
            self.pending.pop(0)
            self.dropped += 1
        name = self._names.get(stream)
        if name is None:
            name = self._learn(stream)
        if name == function:
            name = ""
        self.pending.append(LogEvent(function, stream, timestamp_ms, message, name))

    def _learn(self, stream: str) -> str:
        """The function of a stream not seen before (a new environment's: it is listed
        before its first line is written)."""
        if self.owners is None:
            return ""
        if len(self._names) >= MAX_NAMES:
            self._names = {}
        self._names.update(self.owners())
        return self._names.setdefault(stream, "")

    def flush(self) -> None:
        """Nothing to write: events leave with the next frame."""


class Shipment:
    """Records and log events produced on this node and not yet sent."""

    def __init__(self, logs: ShippingLogs) -> None:
        self.logs = logs
        self.records: list[InvocationRecord] = []

    def record(self, rec: InvocationRecord) -> None:
        self.records.append(rec)

    def has_pending(self) -> bool:
        return bool(self.records or self.logs.pending)

    def take(
        self,
        scheduler: Scheduler,
        codes: tuple[str, ...] = (),
        *,
        records_max: int | None = None,
        lines_max: int | None = None,
    ) -> NodeState:
        """The node's state now, with what is pending (which is then sent): all of it, or
        at most ``records_max`` records and ``lines_max`` lines, the oldest (the rest stay
        for the next frame). Its load is the pool's tallies (an answer carries them too:
        see ``Peer.load``)."""
        records, self.records = _split(self.records, records_max)
        logs, self.logs.pending = _split(self.logs.pending, lines_max)
        pool = scheduler.pool
        return NodeState(pool.used_mb, dict(pool.idle_by_key), pool.idle_mb, records, logs, codes)


def _split(pending: list[T], at_most: int | None) -> tuple[tuple[T, ...], list[T]]:
    """The oldest ``at_most`` of ``pending`` (all if None), and what is left."""
    if at_most is None or len(pending) <= at_most:
        return tuple(pending), []
    return tuple(pending[:at_most]), pending[at_most:]
