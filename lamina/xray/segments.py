"""X-Ray documents and OTLP spans (pure).

- :func:`invocation_segment`: an invocation's own segment, made from its ledger record, as
  Lambda makes the ``AWS::Lambda::Function`` segment: its id is the ``Parent`` the
  function was handed in ``_X_AMZN_TRACE_ID`` (the same id as Lamina's OTLP span), so the
  subsegments the function's SDK sends (``parent_id`` = that ``Parent``) are its children;
- :func:`otlp_spans`: a document the function sent, and its nested subsegments, as OTLP
  spans, with ids mapped as OpenTelemetry's X-Ray propagator maps them (trace id = the
  ``Root``'s 32 hex digits, span id = the entity's ``id``, parent = ``parent_id``).
"""

from __future__ import annotations

from typing import Any

from lamina.models.invocation import InvocationRecord, Outcome
from lamina.tracing import header_ids
from lamina.xray.documents import Document, walk

ORIGIN = "AWS::Lambda::Function"
SPAN_KIND_INTERNAL, SPAN_KIND_CLIENT = 1, 3
STATUS_OK, STATUS_ERROR = 1, 2


def root_of(trace_hex: str) -> str:
    """``1-<8 hex>-<24 hex>`` of a 32-hex trace id."""
    return f"1-{trace_hex[:8]}-{trace_hex[8:]}"


def trace_hex(root: str) -> str:
    """The 32-hex trace id (OTLP's) of an X-Ray root."""
    return root[2:].replace("-", "")


def invocation_segment(rec: InvocationRecord, function_arn: str) -> dict[str, Any] | None:
    """The segment of one traced invocation (None when its header has no Parent)."""
    ids = header_ids(rec.trace_header)
    if ids is None:
        return None
    trace, span = ids
    doc: dict[str, Any] = {
        "name": rec.function_name,
        "id": span,
        "trace_id": root_of(trace),
        "start_time": rec.started_at,
        "end_time": rec.started_at + rec.duration_ms / 1000,
        "origin": ORIGIN,
        "aws": {
            "request_id": rec.request_id,
            "function_arn": function_arn,
            "resource_names": [rec.function_name],
        },
        "annotations": {"cold_start": rec.cold} if rec.init_ms is not None else {},
    }
    if rec.outcome is not Outcome.SUCCESS:
        # Lambda marks a function error (an unhandled error, a timeout) as a fault.
        doc["fault"] = True
        doc["cause"] = {"exceptions": [{"message": rec.outcome.value}]}
    return doc


def otlp_spans(doc: Document) -> list[dict[str, Any]]:
    """The completed entities of ``doc`` as OTLP spans (one still in progress is sent
    again by its SDK once it ends)."""
    trace = trace_hex(doc.trace_id)
    spans = []
    for entity, parent in walk(doc.body):
        end = entity.get("end_time")
        if end is None:
            continue
        span: dict[str, Any] = {
            "traceId": trace,
            "spanId": entity["id"],
            "name": entity["name"],
            "kind": SPAN_KIND_CLIENT if entity.get("namespace") else SPAN_KIND_INTERNAL,
            "startTimeUnixNano": str(int(entity["start_time"] * 1e9)),
            "endTimeUnixNano": str(int(end * 1e9)),
            "attributes": _attributes(entity),
            "status": {"code": STATUS_ERROR if failed(entity) else STATUS_OK},
        }
        if parent:
            span["parentSpanId"] = parent
        spans.append(span)
    return spans


def failed(entity: dict[str, Any]) -> bool:
    return any(entity.get(k) is True for k in ("fault", "error", "throttle"))


def _attributes(entity: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    annotations = entity.get("annotations")
    if isinstance(annotations, dict):
        for key, value in list(annotations.items())[:50]:
            if isinstance(value, bool):
                out.append({"key": str(key), "value": {"boolValue": value}})
            elif isinstance(value, (int, float)):
                out.append({"key": str(key), "value": {"doubleValue": float(value)}})
            elif isinstance(value, str):
                out.append({"key": str(key), "value": {"stringValue": value[:1000]}})
    namespace = entity.get("namespace")
    if isinstance(namespace, str):
        out.append({"key": "aws.xray.namespace", "value": {"stringValue": namespace[:100]}})
    aws = entity.get("aws")
    if isinstance(aws, dict) and isinstance(aws.get("operation"), str):
        out.append({"key": "aws.operation", "value": {"stringValue": aws["operation"][:100]}})
    return out
