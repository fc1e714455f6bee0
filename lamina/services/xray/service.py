"""X-Ray's REST-JSON API on Lamina's port: ``BatchGetTraces`` (``POST /Traces``) and
``GetTraceSummaries`` (``POST /TraceSummaries``), over the traces of functions with active
tracing (:class:`lamina.xray.traces.TraceStore`), and ``PutTraceSegments``
(``POST /TraceSegments``: what an exporter sends instead of UDP datagrams, kept under the
daemon's rules: :meth:`lamina.xray.daemon.XrayDaemon.put`).

Requests are told apart by path and by their SigV4 credential scope
(``.../xray/aws4_request``), as EventBridge Scheduler's are; errors are answered in the
REST-JSON shape. ``GetTraceSummaries`` understands one filter expression,
``service("<function>")``; any other is refused rather than ignored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.protocol.errors import Protocol, Wire, answer, json_answer, new_request_id
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response
from lamina.xray.traces import TraceStore

PROTOCOL = Protocol(Wire.REST_JSON)
_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/xray/aws4_request")
_SERVICE_FILTER = re.compile(r'^\s*service\(\s*"(?P<name>[^"]{1,170})"\s*\)\s*$')
_PATHS = ("/Traces", "/TraceSummaries", "/TraceSegments")
MAX_DOCUMENTS = 100
MAX_TRACE_IDS = 5  # as X-Ray: a response holds at most 5 traces of at most 1 MB
MAX_SUMMARIES = 1000
REACH = Reach(paths=_PATHS)


def _invalid(message: str) -> AwsServiceError:
    return AwsServiceError("InvalidRequestException", message, 400)


def _timestamp(body: dict[str, Any], key: str) -> float:
    value = body.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise _invalid(f"{key} must be a timestamp")


class XrayService:
    """Serves ``boto3.client("xray")``'s trace reads."""

    def __init__(self, store: TraceStore, put: Callable[[str], str] | None = None) -> None:
        self.store = store
        self.put = put  # one document in, why it was refused out ("" when kept)

    @staticmethod
    def accepts(req: Request) -> bool:
        if req.path not in _PATHS:
            return False
        auth = req.headers.get("authorization", "")
        return bool(_SCOPE.search(auth)) or "xray%2Faws4_request" in req.target

    def mount(self) -> Mount:
        return Mount(self.accepts, self.handle, "xray", PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        return answer(PROTOCOL, lambda: self._answer(req))

    def _answer(self, req: Request) -> Response:
        if req.method != "POST":
            raise AwsServiceError("InvalidRequestException", f"{req.method} is not supported", 405)
        try:
            body = json.loads(req.body) if req.body else {}
        except ValueError as exc:
            raise _invalid(f"malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise _invalid("the body must be a JSON object")
        if req.path == "/Traces":
            result = self.batch_get(body)
        elif req.path == "/TraceSegments":
            result = self.put_segments(body)
        else:
            result = self.summaries(body)
        return json_answer(
            200, result, {"Content-Type": "application/json", "x-amzn-RequestId": new_request_id()}
        )

    def batch_get(self, body: dict[str, Any]) -> dict[str, Any]:
        ids = body.get("TraceIds")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise _invalid("TraceIds must be a list of trace ids")
        if not 1 <= len(ids) <= MAX_TRACE_IDS:
            raise _invalid(f"TraceIds must hold 1 to {MAX_TRACE_IDS} trace ids")
        traces, missing = self.store.traces(ids)
        return {"Traces": traces, "UnprocessedTraceIds": missing}

    def put_segments(self, body: dict[str, Any]) -> dict[str, Any]:
        documents = body.get("TraceSegmentDocuments")
        if not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            raise _invalid("TraceSegmentDocuments must be a list of JSON documents")
        if len(documents) > MAX_DOCUMENTS:
            raise _invalid(f"at most {MAX_DOCUMENTS} TraceSegmentDocuments")
        refused = []
        for document in documents:
            reason = self.put(document) if self.put is not None else "no daemon"
            if reason:
                refused.append({"Id": _id_of(document), "ErrorCode": "400", "Message": reason})
        return {"UnprocessedTraceSegments": refused}

    def summaries(self, body: dict[str, Any]) -> dict[str, Any]:
        start, end = _timestamp(body, "StartTime"), _timestamp(body, "EndTime")
        if end < start:
            raise _invalid("EndTime must not be before StartTime")
        service = None
        expression = body.get("FilterExpression")
        if expression:
            found = _SERVICE_FILTER.match(str(expression))
            if found is None:
                raise _invalid(
                    'Lamina understands one filter expression: service("<function name>")'
                )
            service = found.group("name")
        summaries, looked = self.store.summaries(start, end, service)
        return {
            "TraceSummaries": summaries[:MAX_SUMMARIES],
            "ApproximateTime": end,
            "TracesProcessedCount": looked,
        }


def _id_of(document: str) -> str:
    """The refused document's ``id``, when it has one to tell it by."""
    try:
        value = json.loads(document[:70_000]).get("id")
    except (ValueError, RecursionError, AttributeError):
        return ""
    return value if isinstance(value, str) and len(value) <= 64 else ""
