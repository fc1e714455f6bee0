"""CloudWatch metrics on Lamina's port: Smithy RPC v2 CBOR (what botocore and the AWS CLI
send: ``POST /service/GraniteServiceVersion20100801/operation/<Op>``) and AWS JSON 1.0
(``X-Amz-Target: GraniteServiceVersion20100801.<Op>``, older SDKs), SigV4 ``monitoring``.

Both decode to the same bodies and run the same :class:`CloudWatchOperations`; errors carry
``x-amzn-query-error`` so SDKs report CloudWatch's classic codes (``InvalidParameterValue``).
The operations read SQLite, so they run on a worker thread after a ledger flush (so a
query right after an invoke sees it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
import zlib
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lamina.billing.ledger import Ledger
from lamina.errors import AwsServiceError, ServiceError
from lamina.logs.store import LogStore
from lamina.services.cloudwatch import query
from lamina.services.cloudwatch.alarm_runner import AlarmRunner
from lamina.services.cloudwatch.operations import CloudWatchOperations
from lamina.services.cloudwatch.put import parse_put
from lamina.services.cloudwatch.sources import MetricSources
from lamina.services.protocol import cbor
from lamina.services.protocol.awsjson import JsonOperation
from lamina.services.protocol.errors import Protocol, Wire, new_request_id
from lamina.services.protocol.errors import answer as answer_in
from lamina.services.protocol.query import envelope, query_params
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

SERVICE = "GraniteServiceVersion20100801"
CBOR_PREFIX = f"/service/{SERVICE}/operation/"
JSON_CONTENT_TYPE = "application/x-amz-json-1.0"
SIGV4_SERVICE = "monitoring"
# What CloudWatchService.accepts can pick (lamina.services.protocol.reach).
REACH = Reach(
    paths=(CBOR_PREFIX,),
    headers=("x-amz-target",),
    signed_for=frozenset({SIGV4_SERVICE}),
    unsigned=("Action=",),
)
# How errors raised before the handler runs (SigV4 refusals) are answered: as JSON 1.0; the
# handler answers its own errors in the caller's protocol (CBOR or JSON).
PROTOCOL = Protocol(Wire.JSON, content_type=JSON_CONTENT_TYPE)

log = logging.getLogger(__name__)


class CloudWatchService:
    """Serves ``boto3.client("cloudwatch")`` / ``aws cloudwatch``: AWS/Lambda metrics and
    custom ones (PutMetricData, EMF)."""

    def __init__(
        self,
        ledger: Ledger,
        sources: MetricSources,
        alarms: AlarmRunner | None = None,
        clock: Callable[[], float] = time.time,
        logs: LogStore | None = None,
    ) -> None:
        self.ledger = ledger
        self.alarms = alarms
        self.logs = logs
        self._clock = clock
        ops = CloudWatchOperations(sources, lambda: ledger.metric_totals().keys())
        self._table: dict[str, JsonOperation] = ops.table()
        self._custom = sources.custom
        if self._custom is not None:
            self._table["PutMetricData"] = self.put_metric_data
        if alarms is not None:
            self._table["PutMetricAlarm"] = alarms.put_metric_alarm
            self._table["DescribeAlarms"] = alarms.describe_alarms
            self._table["DeleteAlarms"] = alarms.delete_alarms
            self._table["ListTagsForResource"] = alarms.list_tags_for_resource
            self._table["TagResource"] = alarms.tag_resource
            self._table["UntagResource"] = alarms.untag_resource

    def put_metric_data(self, body: dict[str, Any]) -> dict[str, Any]:
        """Validate every datum first (one bad datum refuses the call), then store them."""
        datums = parse_put(body, self._clock())
        if self._custom is not None:
            self._custom.put(datums)
        if self.alarms is not None:
            self.alarms.poke()  # an alarm on these metrics reacts now, not at its next tick
        return {}

    @staticmethod
    def accepts(req: Request) -> bool:
        return (
            req.path.startswith(CBOR_PREFIX)
            or req.headers.get("x-amz-target", "").startswith(SERVICE + ".")
            or query.is_query_request(req)
        )

    def mount(self) -> Mount:
        """CloudWatch's face on the shared port, verified as ``monitoring``."""
        return Mount(self.accepts, self.handle, SIGV4_SERVICE, PROTOCOL, REACH)

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Any:
        if self.logs is not None and not _is_put(req):
            # On the loop, where the log store lives: EMF lines printed by invokes that
            # returned reach the metrics writer before this call's read is queued there.
            self.logs.flush()
        return asyncio.to_thread(self.answer, req)

    def answer(self, req: Request) -> Response:
        """Decode, run and encode one call (blocking)."""
        if not req.path.startswith(CBOR_PREFIX) and "x-amz-target" not in req.headers:
            return answer_in(query.PROTOCOL, lambda: self._query(req))
        as_cbor = req.path.startswith(CBOR_PREFIX)
        if as_cbor:
            name = req.path[len(CBOR_PREFIX) :]
        else:
            name = req.headers.get("x-amz-target", "")[len(SERVICE) + 1 :]
        try:
            op = self._table.get(name)
            if op is None or req.method != "POST":
                raise AwsServiceError("UnknownOperationException", f"Unknown operation {name!r}")
            raw = _inflated(req)
            body = _decode(raw, as_cbor)
            try:
                if name != "PutMetricData":  # reads: see every invoke that returned
                    self.ledger.flush(5.0)
            except ServiceError as exc:
                log.warning("cloudwatch: ledger flush failed, reading what is written: %s", exc)
            try:
                result = op(body)
            except ServiceError as exc:
                raise AwsServiceError(
                    "InternalServiceFault", str(exc), 500, "InternalServiceError"
                ) from exc
            return _answer(200, result, as_cbor)
        except AwsServiceError as exc:
            answer = _answer(exc.status, {"__type": exc.code, "message": exc.message}, as_cbor)
            if exc.query_code:
                sender = "Sender" if exc.status < 500 else "Receiver"
                answer.headers["x-amzn-query-error"] = f"{exc.query_code};{sender}"
            return answer

    def _query(self, req: Request) -> Response:
        """The query protocol: PutMetricData, the reads (GetMetricStatistics, GetMetricData,
        ListMetrics: aws-sdk-go v1, so Grafana) and the alarm operations (the AWS SDK for Go
        v2, so Terraform)."""
        params = query_params(replace(req, body=_inflated(req)))
        action = params.get("Action", "")
        op = self._table.get(action)
        if op is not None and action == "PutMetricData":
            result = op(query.put_metric_data_body(params))
        elif op is not None and action in query.ALARM_ACTIONS:
            result = op(query.alarm_body(params))
        elif op is not None and action in query.READ_ACTIONS:
            try:
                self.ledger.flush(5.0)  # reads see every invoke that returned
            except ServiceError as exc:
                log.warning("cloudwatch: ledger flush failed, reading what is written: %s", exc)
            result = op(query.read_body(params))
        else:
            raise AwsServiceError(
                "InvalidAction",
                f"Lamina serves {action or 'this action'} over the JSON and CBOR protocols "
                "only; the query protocol serves PutMetricData, the reads and the alarm operations.",
                400,
                "InvalidAction",
            )
        rid = new_request_id()
        inner = query.result_xml(result)
        body = envelope(action, inner, rid, query.XML_NAMESPACE)
        if not inner and action in ("TagResource", "UntagResource"):
            # Their (empty) result element is there on AWS, and the Go SDK looks for it.
            body = body.replace(
                b"<ResponseMetadata>", f"<{action}Result/><ResponseMetadata>".encode(), 1
            )
        return Response(200, body, {"Content-Type": "text/xml", "x-amzn-RequestId": rid})


# PutMetricData's largest request, as CloudWatch's (botocore gzips bodies past 10 KB).
MAX_INFLATED_BYTES = 1024 * 1024


def _is_put(req: Request) -> bool:
    """A PutMetricData call in any protocol (a write: it needs no log flush first)."""
    return (
        req.path.endswith("/PutMetricData")
        or req.headers.get("x-amz-target", "").endswith(".PutMetricData")
        or (query.is_query_request(req) and b"Action=PutMetricData" in (req.body or b""))
    )


def _inflated(req: Request) -> bytes:
    """The body, inflated when gzip-encoded; at most :data:`MAX_INFLATED_BYTES` either way
    (PutMetricData's limit; the read operations' requests are far smaller)."""
    raw = req.body or b""
    if req.headers.get("content-encoding", "").lower() == "gzip":
        raw = _gunzip(raw)
    if len(raw) > MAX_INFLATED_BYTES:
        raise _too_large()
    return raw


def _too_large() -> AwsServiceError:
    return AwsServiceError(
        "RequestEntityTooLarge",
        f"Request size exceeded {MAX_INFLATED_BYTES} bytes",
        413,
        "RequestEntityTooLarge",
    )


def _gunzip(raw: bytes) -> bytes:
    """A gzip-encoded body, inflated to at most :data:`MAX_INFLATED_BYTES`."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, MAX_INFLATED_BYTES)
    except zlib.error as exc:
        raise AwsServiceError("SerializationException", f"Malformed gzip body: {exc}") from None
    if inflater.unconsumed_tail:
        raise _too_large()
    return out


def _decode(raw: bytes, as_cbor: bool) -> dict[str, Any]:
    if not raw:
        return {}
    try:
        body = cbor.loads(raw) if as_cbor else json.loads(raw)
    except ValueError as exc:  # CborError and JSONDecodeError both are
        raise AwsServiceError("SerializationException", f"Malformed request body: {exc}") from None
    if not isinstance(body, dict):
        raise AwsServiceError("SerializationException", "The request body must be a structure")
    return body


def _answer(status: int, body: dict[str, Any], as_cbor: bool) -> Response:
    headers = {"x-amzn-RequestId": str(uuid.uuid4())}
    if as_cbor:
        headers["Content-Type"] = "application/cbor"
        headers["smithy-protocol"] = "rpc-v2-cbor"
        return Response(status, cbor.dumps(body), headers)
    headers["Content-Type"] = JSON_CONTENT_TYPE
    return Response(status, json.dumps(body, separators=(",", ":")).encode(), headers)
