"""The server's telemetry bus: every environment's Telemetry stream, in one place.

Each environment's :class:`~lamina.runtime_api.telemetry.Telemetry` is the one producer of
its platform events (``platform.initStart`` … ``platform.report``) and of its ``function``
and ``extension`` records; it hands each event to its Telemetry API subscribers *and*
publishes it here. The console's live tail and ``lamina logs --follow`` read this bus, so
what they show and what an extension receives are the same events, made once.

In memory and bounded: the last ``per_function`` events of each function, for at most
``max_functions`` functions (the least recently active forgotten first). Readers poll
with the sequence number of the last event they saw. Used on the event loop only.

Nothing is built for nobody: an environment makes its events only while an extension
subscribed or someone reads its function from the bus (a read keeps the function
*watched* for ``WATCH_S``), so an invoke nobody observes pays one dictionary lookup.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from typing import NamedTuple

PER_FUNCTION = 2000
MAX_FUNCTIONS = 1000
WATCH_S = 30.0  # a function is watched this long after its last read


class BusEvent(NamedTuple):
    """One event (a tuple: made on every invoke, and a frozen dataclass's init is slow)."""

    seq: int  # increasing over the whole bus
    time_ms: int  # epoch milliseconds
    type: str  # platform.start, function, extension, ...
    record: object  # the Telemetry API record: a string for log lines, a mapping otherwise


class TelemetryBus:
    """Recent telemetry events per function."""

    def __init__(self, per_function: int = PER_FUNCTION, max_functions: int = MAX_FUNCTIONS):
        self.per_function = per_function
        self.max_functions = max_functions
        self.seq = 0
        self._events: OrderedDict[str, deque[BusEvent]] = OrderedDict()
        self._last = ""  # the function last published for
        self._watched: dict[str, float] = {}  # function → monotonic time its watch ends

    def watched(self, function: str) -> bool:
        """Whether someone reads ``function``'s events (its environments make them).
        Asked several times per invoke: with nobody watching it is one dict lookup."""
        watched = self._watched
        if not watched:
            return False
        until = watched.get(function)
        if until is None:
            return False
        if until > time.monotonic():
            return True
        del watched[function]  # the watch ended: the next question is a lookup again
        return False

    def watch(self, function: str) -> None:
        now = time.monotonic()
        if len(self._watched) >= self.max_functions:
            self._watched = {f: t for f, t in self._watched.items() if t > now}
        self._watched[function] = now + WATCH_S

    def publish(self, function: str, time_ms: int, event_type: str, record: object) -> None:
        """On every invoke (a few events each): kept to a deque append when the function
        is the one last published for."""
        self.seq += 1
        events = self._events.get(function)
        if events is None:
            events = self._events[function] = deque(maxlen=self.per_function)
            while len(self._events) > self.max_functions:
                self._events.popitem(last=False)
        elif function != self._last:
            self._events.move_to_end(function)  # now the most recently active
        self._last = function
        events.append(BusEvent(self.seq, time_ms, event_type, record))

    def read(self, function: str, after: int = 0, limit: int = 500) -> list[BusEvent]:
        """The function's events with a sequence number above ``after``, oldest first
        (and the function is watched from now on)."""
        self.watch(function)
        events = self._events.get(function)
        if not events:
            return []
        newer = [e for e in reversed(events) if e.seq > after]
        newer.reverse()
        return newer[:limit]


def text_of(event: BusEvent) -> str:
    """A line a person reads: a log record as it was written, a platform event as the
    START / END-like / REPORT line Lambda writes for it, or its type and record."""
    record = event.record
    if isinstance(record, str):
        return record.rstrip("\n")
    if not isinstance(record, dict):
        return f"{event.type} {record}"
    rid = record.get("requestId", "")
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    assert isinstance(metrics, dict)
    if event.type == "platform.start":
        return f"START RequestId: {rid} Version: {record.get('version', '')}"
    if event.type == "platform.runtimeDone":
        return f"RUNTIME DONE RequestId: {rid} Status: {record.get('status', '')}"
    if event.type == "platform.report":
        line = (
            f"REPORT RequestId: {rid}\tDuration: {metrics.get('durationMs', 0):.2f} ms\t"
            f"Billed Duration: {metrics.get('billedDurationMs', 0)} ms\t"
            f"Memory Size: {metrics.get('memorySizeMB', 0)} MB\t"
            f"Max Memory Used: {metrics.get('maxMemoryUsedMB', 0)} MB"
        )
        if "initDurationMs" in metrics:
            line += f"\tInit Duration: {metrics['initDurationMs']:.2f} ms"
        status = record.get("status")
        return line if status in (None, "success") else f"{line}\tStatus: {status}"
    if event.type == "platform.extension":
        events = record.get("events")
        names = ",".join(str(e) for e in events) if isinstance(events, list) else ""
        return (
            f"EXTENSION\tName: {record.get('name', '')}\tState: {record.get('state', '')}"
            f"\tEvents: [{names}]"
        )
    if event.type == "platform.initStart":
        return (
            f"INIT_START Runtime Version: {record.get('runtimeVersion', '')}"
            f"\tRuntime Version ARN: {record.get('runtimeVersionArn', '')}"
        )
    if event.type == "platform.initReport":
        return (
            f"INIT_REPORT Init Duration: {metrics.get('durationMs', 0):.2f} ms\t"
            f"Phase: {record.get('phase', '')}\tStatus: {record.get('status', '')}"
        )
    return f"{event.type} {record}"
