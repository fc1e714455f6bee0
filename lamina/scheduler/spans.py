"""The tracing context and spans of one invocation, as the Telemetry API (schema
2022-12-13) reports them in ``platform.start``, ``platform.runtimeDone`` and
``platform.report``.

``responseLatency`` runs from the runtime's receipt of the event to the first byte of its
response; ``responseDuration`` from that byte to the last. A buffered response arrives in
one request, so its first byte is taken when the whole of it arrived (duration 0, as
near as Lamina can tell); a streamed one starts when the runtime's streaming request
began. ``runtimeOverhead`` (the runtime's work between its answer and its next ``next``)
is added to ``platform.runtimeDone`` when that ``next`` comes
(:func:`lamina.scheduler.telemetry_events.invoke_done`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

TRACE_TYPE = "X-Amzn-Trace-Id"


@dataclass(frozen=True, slots=True)
class Span:
    name: str
    start: float  # epoch seconds
    duration_ms: float

    def to_json(self) -> dict[str, str | float]:
        return {
            "name": self.name,
            "start": iso_ms(self.start),
            "durationMs": round(self.duration_ms, 3),
        }


@dataclass(frozen=True, slots=True)
class InvokeTrace:
    """The X-Ray context of one invocation (``Root=…;Parent=…``), the platform's span id
    for it, and the response's spans (none when the runtime never answered)."""

    trace_id: str
    span_id: str
    spans: tuple[Span, ...] = ()

    def tracing(self) -> dict[str, str]:
        return {"spanId": self.span_id, "type": TRACE_TYPE, "value": self.trace_id}

    def spans_json(self) -> list[dict[str, str | float]]:
        return [s.to_json() for s in self.spans]


def parent_span_id(trace_header: str) -> str:
    """The ``Parent=`` part of an X-Ray trace header: the span Lamina exports for the
    invocation (:mod:`lamina.tracing`), which the Telemetry API calls its ``spanId``."""
    for part in trace_header.split(";"):
        key, _, value = part.partition("=")
        if key == "Parent":
            return value
    return ""


_SECOND: list[tuple[int, str]] = [(-1, "")]  # the last whole second formatted


def iso_ms(epoch_s: float) -> str:
    """``2022-08-02T12:01:23.521Z``: the Telemetry API's timestamps.

    On every invoke (the telemetry bus gets its events): the date and time of the last
    second seen are kept, so most calls only format the milliseconds (strftime costs
    ~10 µs)."""
    # As datetime.fromtimestamp rounds: the fraction of the second, to microseconds.
    second = math.floor(epoch_s)
    rest = round((epoch_s - second) * 1_000_000)
    if rest >= 1_000_000:
        second, rest = second + 1, rest - 1_000_000
    cached_second, text = _SECOND[0]
    if second != cached_second:
        text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        _SECOND[0] = (second, text)
    return f"{text}.{rest // 1000:03d}Z"


def response_spans(
    delivered_at: float, responding_at: float, answered_at: float, now: float, now_epoch: float
) -> tuple[Span, ...]:
    """``responseLatency`` and ``responseDuration`` from ``perf_counter()`` instants: the
    runtime's receipt of the event, the start of its response (0: unknown, the whole
    response came at once) and its end; ``now``/``now_epoch`` pin them to the wall clock.
    Empty when the runtime did not receive the event or did not answer."""
    if not delivered_at or not answered_at or answered_at < delivered_at:
        return ()
    first = responding_at if delivered_at <= responding_at <= answered_at else answered_at

    def epoch(instant: float) -> float:
        return now_epoch - (now - instant)

    return (
        Span("responseLatency", epoch(delivered_at), (first - delivered_at) * 1000),
        Span("responseDuration", epoch(first), (answered_at - first) * 1000),
    )


def invoke_spans(delivered_at: float, responding_at: float, answered_at: float) -> tuple[Span, ...]:
    """:func:`response_spans` against the clocks now."""
    return response_spans(
        delivered_at, responding_at, answered_at, time.perf_counter(), time.time()
    )


@dataclass(frozen=True, slots=True)
class TraceSource:
    """What an :class:`InvokeTrace` is made from: the trace header and the response's
    ``perf_counter()`` instants (``answered_at`` 0: the runtime never answered).

    Only the Telemetry API reads an invocation's trace, and most environments have no
    subscriber, so the invoke path keeps these four numbers and builds the trace (span
    id, spans, their wall-clock times) only when a subscriber will receive it."""

    trace_id: str
    delivered_at: float = 0.0
    responding_at: float = 0.0
    answered_at: float = 0.0
    # What started the invocation (lamina.triggers): its record's, and its OTLP span's.
    trigger: str = "other"

    def trace(self) -> InvokeTrace:
        spans = (
            invoke_spans(self.delivered_at, self.responding_at, self.answered_at)
            if self.answered_at
            else ()
        )
        return InvokeTrace(self.trace_id, parent_span_id(self.trace_id), spans)
