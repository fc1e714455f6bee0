"""The SQS endpoint: tells the two protocols apart and runs the operation.

* JSON protocol (current boto3, AWS CLI): ``POST /`` with ``X-Amz-Target: AmazonSQS.<Op>``
  and ``Content-Type: application/x-amz-json-1.0``.
* Query protocol (older SDKs): ``POST /`` or ``POST /<account>/<queue>`` with a form body
  ``Action=<Op>&...`` (or the same as a GET query string); answers are XML.

Errors the operations raise are answered by :mod:`lamina.services.protocol.errors` in the
protocol the request came in.
"""

from __future__ import annotations

from lamina.errors import AwsServiceError
from lamina.services.protocol.awsjson import JsonDialect, json_result, parse_call
from lamina.services.protocol.errors import Protocol, Wire, answering, new_request_id
from lamina.services.protocol.query import query_params
from lamina.services.protocol.reach import Reach
from lamina.services.protocol.routing import Mount
from lamina.services.protocol.sigv4 import access_key, header_service
from lamina.services.sqs.query import NAMESPACE, parse_query, render_result
from lamina.services.sqs.requests import DEFAULT_SENDER, Caller
from lamina.services.sqs.service import SqsService
from lamina.tracing import continued
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

TARGET_PREFIX = "AmazonSQS."
CONTENT_TYPE = "application/x-amz-json-1.0"
JSON_PROTOCOL = Protocol(Wire.JSON, CONTENT_TYPE, code_namespace="com.amazonaws.sqs")
QUERY_PROTOCOL = Protocol(Wire.QUERY, xml_namespace=NAMESPACE)


def _unsupported(target: str, name: str) -> AwsServiceError:
    return AwsServiceError(
        "UnsupportedOperation",
        f"Lamina's SQS does not implement {name}",
        400,
        "AWS.SimpleQueueService.UnsupportedOperation",
    )


DIALECT = JsonDialect(
    "AmazonSQS",
    JSON_PROTOCOL,
    unknown=_unsupported,
    malformed=lambda exc: "Malformed JSON body",
    not_object="The body must be a JSON object",
)


def is_sqs_request(req: Request) -> bool:
    """True for requests the SQS endpoint should answer (on a port shared with others)."""
    if req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX):
        return True
    ctype = req.headers.get("content-type", "")
    if req.method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
        return b"Action=" in req.body and header_service(req) in ("sqs", None)
    return "Action=" in req.target and header_service(req) in ("sqs", None)


# What is_sqs_request can pick (lamina.services.protocol.reach).
REACH = Reach(headers=("x-amz-target",), signed_for=frozenset({"sqs"}), unsigned=("Action=",))


def _caller(req: Request) -> Caller:
    return Caller(req.headers.get("host", "localhost"), access_key(req) or DEFAULT_SENDER)


class SqsHandler:
    def __init__(self, service: SqsService) -> None:
        self.service = service
        self._ops = service.operations()

    def mount(self) -> Mount:
        """SQS's face on the shared port: both protocols, verified as ``sqs``."""
        return Mount(is_sqs_request, self.handle, "sqs", JSON_PROTOCOL, REACH)

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        # A SendMessage(Batch)'s X-Ray header becomes its messages' AWSTraceHeader, unless
        # they carry their own (lamina.tracing).
        with continued(req.headers.get("x-amzn-trace-id")):
            if req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX):
                return await answering(JSON_PROTOCOL, self._json(req))
            return await answering(QUERY_PROTOCOL, self._query(req))

    async def _json(self, req: Request) -> Response:
        call = parse_call(req, DIALECT, self._ops)
        result = await self._ops[call.operation](call.members, _caller(req))
        return json_result(result, JSON_PROTOCOL)

    async def _query(self, req: Request) -> Response:
        action, body = parse_query(query_params(req))
        if "QueueUrl" not in body and req.path.count("/") >= 2:
            # query clients may address the queue by the request path instead
            body["QueueUrl"] = f"http://{req.headers.get('host', 'localhost')}{req.path}"
        op = self._ops.get(action)
        if op is None:
            raise AwsServiceError(
                "InvalidAction", f"The action {action} is not valid for this endpoint.", 400
            )
        result = await op(body, _caller(req))
        rid = new_request_id()
        return Response(
            200,
            render_result(action, result, rid),
            {"Content-Type": "text/xml", "x-amzn-RequestId": rid},
        )
