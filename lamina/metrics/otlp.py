"""OTLP trace export: one span per invocation, sent to a collector (Jaeger, Tempo, an
OpenTelemetry Collector) as OTLP/HTTP JSON at ``<LAMINA_OTLP_ENDPOINT>/v1/traces``.

Spans are made from the ledger's records *after* they are written (the ledger's flusher
hands each batch to :meth:`OtlpExporter.observe`), so the invoke path pays nothing. An
exporter thread posts them in batches; a collector that is down costs dropped spans
(bounded, logged), never memory or a blocked invoke.

The span's trace and span ids are those the function was given in ``_X_AMZN_TRACE_ID``
(:mod:`lamina.tracing`), so a function's own spans, propagated in the X-Ray format, are
its children in the same trace; attributes follow the OpenTelemetry FaaS
conventions (``faas.invocation_id``, ``faas.coldstart``, ``faas.trigger``: what started
the invoke, :mod:`lamina.triggers`; ``faas.name``, ``faas.version``, ``faas.max_memory``)
plus ``lamina.init_duration_ms`` and ``lamina.billed_duration_ms``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Iterable
from typing import Any

from lamina.models.invocation import InvocationRecord, Outcome
from lamina.tracing import header_ids, invocation_ids

MAX_QUEUED = 10_000
BATCH = 512
SPAN_KIND_SERVER = 2
STATUS_OK, STATUS_ERROR = 1, 2

log = logging.getLogger(__name__)


def _attr(key: str, value: str | int | float | bool) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"key": key, "value": {"boolValue": value}}
    if isinstance(value, int):
        return {"key": key, "value": {"intValue": str(value)}}
    if isinstance(value, float):
        return {"key": key, "value": {"doubleValue": value}}
    return {"key": key, "value": {"stringValue": value}}


def span_ids(rec: InvocationRecord) -> tuple[str, str]:
    """(trace id, span id): those the function saw in ``_X_AMZN_TRACE_ID`` (a caller's
    trace it continued, or one derived from a UUID request id by :mod:`lamina.tracing`),
    else a hash of the request id."""
    seen = header_ids(rec.trace_header)
    if seen is not None:
        return seen
    ids = invocation_ids(rec.request_id, rec.started_at)
    if ids is not None:
        return ids
    digest = hashlib.sha256(rec.request_id.encode()).hexdigest()
    return digest[:32], digest[32:48]


def span(rec: InvocationRecord, region: str, account: str) -> dict[str, Any]:
    """One invocation as an OTLP span (JSON mapping)."""
    start_ns = int(rec.started_at * 1e9)
    end_ns = start_ns + int(rec.duration_ms * 1e6)
    attributes = [
        _attr("faas.invocation_id", rec.request_id),
        _attr("faas.name", rec.function_name),
        _attr("faas.version", rec.version),
        _attr("faas.coldstart", rec.cold),
        _attr("faas.trigger", rec.trigger),
        _attr("faas.max_memory", rec.memory_mb * 1024 * 1024),
        _attr("cloud.region", region),
        _attr("cloud.account.id", account),
        _attr("lamina.billed_duration_ms", rec.billed_ms),
        _attr("lamina.max_memory_used_mb", rec.max_memory_used_mb),
    ]
    if rec.init_ms is not None:
        attributes.append(_attr("lamina.init_duration_ms", float(rec.init_ms)))
    ok = rec.outcome is Outcome.SUCCESS
    status: dict[str, Any] = {"code": STATUS_OK if ok else STATUS_ERROR}
    if not ok:
        status["message"] = rec.outcome.value
    trace, span_id = span_ids(rec)
    return {
        "traceId": trace,
        "spanId": span_id,
        "name": rec.function_name,
        "kind": SPAN_KIND_SERVER,
        "startTimeUnixNano": str(start_ns),
        "endTimeUnixNano": str(end_ns),
        "attributes": attributes,
        "status": status,
    }


def export_request(
    records: Iterable[InvocationRecord], region: str, account: str
) -> dict[str, Any]:
    """An ``ExportTraceServiceRequest`` (OTLP JSON) for ``records``."""
    return {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        _attr("service.name", "lamina"),
                        _attr("cloud.provider", "lamina"),
                    ]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "lamina"},
                        "spans": [span(r, region, account) for r in records],
                    }
                ],
            }
        ]
    }


def function_spans(sent: Iterable[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``resourceSpans`` of spans functions sent as X-Ray segments: one resource per
    function (``service.name`` = its name, as Lambda's X-Ray segments name it)."""
    by_function: dict[str, list[dict[str, Any]]] = {}
    for function, span_ in sent:
        by_function.setdefault(function, []).append(span_)
    return [
        {
            "resource": {
                "attributes": [_attr("service.name", function), _attr("faas.name", function)]
            },
            "scopeSpans": [{"scope": {"name": "lamina.xray"}, "spans": spans}],
        }
        for function, spans in by_function.items()
    ]


class OtlpExporter:
    """Posts spans of observed records to ``<endpoint>/v1/traces`` from its own thread."""

    def __init__(self, endpoint: str, region: str, account: str, interval_s: float = 1.0):
        self.url = endpoint.rstrip("/") + "/v1/traces"
        self.region = region
        self.account = account
        self._interval = interval_s
        self._queue: deque[InvocationRecord] = deque(maxlen=MAX_QUEUED)
        # Spans functions sent as X-Ray segments (lamina.xray), with their function's name.
        self._spans: deque[tuple[str, dict[str, Any]]] = deque(maxlen=MAX_QUEUED)
        self._dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lamina-otlp", daemon=True)
        self._thread.start()

    def observe(self, records: list[InvocationRecord]) -> None:
        """Queue a written batch (the ledger's flusher thread calls this)."""
        overflow = len(self._queue) + len(records) - MAX_QUEUED
        if overflow > 0:
            self._dropped += overflow  # deque(maxlen) drops the oldest
        self._queue.extend(records)

    def observe_spans(self, function: str, spans: list[dict[str, Any]]) -> None:
        """Queue spans made from a function's X-Ray segments (the event loop calls this)."""
        overflow = len(self._spans) + len(spans) - MAX_QUEUED
        if overflow > 0:
            self._dropped += overflow
        self._spans.extend((function, s) for s in spans)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._send_all()
        self._send_all()

    def _send_all(self) -> None:
        if self._dropped:
            log.warning("OTLP: %d spans dropped (the collector is behind)", self._dropped)
            self._dropped = 0
        while self._queue or self._spans:
            batch: list[InvocationRecord] = []
            while self._queue and len(batch) < BATCH:
                batch.append(self._queue.popleft())
            sent: list[tuple[str, dict[str, Any]]] = []
            while self._spans and len(sent) < BATCH:
                sent.append(self._spans.popleft())
            request: dict[str, Any] = (
                export_request(batch, self.region, self.account) if batch else {"resourceSpans": []}
            )
            request["resourceSpans"].extend(function_spans(sent))
            body = json.dumps(request).encode()
            req = urllib.request.Request(
                self.url, data=body, headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    resp.read()
            except (urllib.error.URLError, OSError) as exc:
                log.warning(
                    "OTLP export to %s failed, %d spans dropped: %s",
                    self.url,
                    len(batch) + len(sent),
                    exc,
                )
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
