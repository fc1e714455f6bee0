"""The Telemetry API's response spans, from the scheduler's instants."""

from __future__ import annotations

from datetime import UTC, datetime

from lamina.scheduler.spans import (
    InvokeTrace,
    Span,
    TraceSource,
    iso_ms,
    parent_span_id,
    response_spans,
)


def test_a_streamed_response_has_latency_to_its_head_and_duration_to_its_end() -> None:
    # perf_counter instants 10.0 (event received), 10.25 (stream began), 11.0 (stream
    # ended); the wall clock read 1_700_000_100.0 at perf_counter 100.0.
    latency, duration = response_spans(10.0, 10.25, 11.0, 100.0, 1_700_000_100.0)
    assert latency == Span("responseLatency", 1_700_000_010.0, 250.0)
    assert duration == Span("responseDuration", 1_700_000_010.25, 750.0)


def test_a_buffered_response_arrives_whole_at_its_end() -> None:
    latency, duration = response_spans(10.0, 0.0, 10.5, 10.5, 1_700_000_000.0)
    assert latency.duration_ms == 500.0
    assert (duration.start, duration.duration_ms) == (1_700_000_000.0, 0.0)


def test_no_spans_without_a_receipt_or_an_answer() -> None:
    assert response_spans(0.0, 0.0, 11.0, 12.0, 1_700_000_000.0) == ()
    assert response_spans(10.0, 0.0, 0.0, 12.0, 1_700_000_000.0) == ()
    assert response_spans(10.0, 0.0, 9.0, 12.0, 1_700_000_000.0) == ()


def test_spans_and_tracing_in_the_schemas_shape() -> None:
    assert iso_ms(1_659_441_683.5214) == "2022-08-02T12:01:23.521Z"
    trace = InvokeTrace(
        "Root=1-a-b;Parent=c;Sampled=0",
        "54565fb41ac79632",
        (Span("responseLatency", 1_659_441_683.5214, 23.0204),),
    )
    assert trace.tracing() == {
        "spanId": "54565fb41ac79632",
        "type": "X-Amzn-Trace-Id",
        "value": "Root=1-a-b;Parent=c;Sampled=0",
    }
    assert trace.spans_json() == [
        {"name": "responseLatency", "start": "2022-08-02T12:01:23.521Z", "durationMs": 23.02}
    ]


def test_the_span_id_is_the_trace_headers_parent() -> None:
    header = "Root=1-6b1374a7-36b7a7456d4091e2ddade350;Parent=ced1236632b9b767;Sampled=0"
    assert parent_span_id(header) == "ced1236632b9b767"
    assert parent_span_id("Root=1-6b1374a7-36b7a7456d4091e2ddade350") == ""


def test_a_trace_source_makes_the_trace_only_when_asked() -> None:
    header = "Root=1-6b1374a7-36b7a7456d4091e2ddade350;Parent=ced1236632b9b767;Sampled=0"
    answered = TraceSource(header, delivered_at=10.0, responding_at=0.0, answered_at=10.5)
    trace = answered.trace()
    assert (trace.trace_id, trace.span_id) == (header, "ced1236632b9b767")
    assert [s.name for s in trace.spans] == ["responseLatency", "responseDuration"]
    assert trace.spans[0].duration_ms == 500.0
    # The runtime never answered (a timeout, a crash): the context without spans.
    assert TraceSource(header, delivered_at=10.0).trace() == InvokeTrace(header, "ced1236632b9b767")


def test_iso_ms_matches_datetime_across_seconds_and_rounding_edges() -> None:
    values = [1_659_441_683.5214, 1_659_441_683.9999996, 1_845_672_898.5839994, 1_659_441_684.0]
    values += [1_700_000_000 + i * 0.3333337 for i in range(50)]  # the cached second changes
    for value in values:
        expected = datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        assert iso_ms(value) == expected, value
