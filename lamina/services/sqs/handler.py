"""The SQS endpoint: tells the two protocols apart and runs the operation.

* JSON protocol (current boto3, AWS CLI): ``POST /`` with ``X-Amz-Target: AmazonSQS.<Op>``
  and ``Content-Type: application/x-amz-json-1.0``.
* Query protocol (older SDKs): ``POST /`` or ``POST /<account>/<queue>`` with a form body
  ``Action=<Op>&...`` (or the same as a GET query string); answers are XML.
"""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qsl

from lamina.services.protocol.awsjson import AwsJsonError, error_response, json_response
from lamina.services.sqs.query import parse_query, render_error, render_result
from lamina.services.sqs.service import DEFAULT_SENDER, Caller, SqsService
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import HttpConnection, Response

TARGET_PREFIX = "AmazonSQS."
CONTENT_TYPE = "application/x-amz-json-1.0"
_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")


def is_sqs_request(req: Request) -> bool:
    """True for requests the SQS endpoint should answer (on a port shared with others)."""
    if req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX):
        return True
    ctype = req.headers.get("content-type", "")
    if req.method == "POST" and ctype.startswith("application/x-www-form-urlencoded"):
        return b"Action=" in req.body and _service_from_auth(req) in ("sqs", None)
    return "Action=" in req.target and _service_from_auth(req) in ("sqs", None)


def _service_from_auth(req: Request) -> str | None:
    auth = req.headers.get("authorization", "")
    m = re.search(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/", auth)
    return m.group(1) if m else None


def _caller(req: Request) -> Caller:
    m = _CREDENTIAL.search(req.headers.get("authorization", ""))
    return Caller(req.headers.get("host", "localhost"), m.group(1) if m else DEFAULT_SENDER)


class SqsHandler:
    def __init__(self, service: SqsService) -> None:
        self.service = service
        self._ops = service.operations()

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        if req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX):
            return await self._json(req)
        return await self._query(req)

    async def _json(self, req: Request) -> Response:
        name = req.headers["x-amz-target"][len(TARGET_PREFIX) :]
        try:
            op = self._ops.get(name)
            if op is None:
                raise AwsJsonError(
                    "UnsupportedOperation",
                    f"Lamina's SQS does not implement {name}",
                    400,
                    "AWS.SimpleQueueService.UnsupportedOperation",
                )
            try:
                body = parse_json(req.body or b"{}")
            except ValueError:
                raise AwsJsonError("SerializationException", "Malformed JSON body") from None
            if not isinstance(body, dict):
                raise AwsJsonError("SerializationException", "The body must be a JSON object")
            return json_response(200, await op(body, _caller(req)), CONTENT_TYPE)
        except AwsJsonError as exc:
            if "#" not in exc.code and exc.code not in ("SerializationException",):
                exc.code = f"com.amazonaws.sqs#{exc.code}"
            return error_response(exc, CONTENT_TYPE)

    async def _query(self, req: Request) -> Response:
        params: dict[str, str] = dict(
            parse_qsl(req.target.partition("?")[2], keep_blank_values=True)
        )
        if req.method == "POST" and req.body:
            params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
        action, body = parse_query(params)
        if "QueueUrl" not in body and req.path.count("/") >= 2:
            # query clients may address the queue by the request path instead
            body["QueueUrl"] = f"http://{req.headers.get('host', 'localhost')}{req.path}"
        rid = str(uuid.uuid4())
        headers = {"Content-Type": "text/xml", "x-amzn-RequestId": rid}
        op = self._ops.get(action)
        try:
            if op is None:
                raise AwsJsonError(
                    "InvalidAction", f"The action {action} is not valid for this endpoint.", 400
                )
            result: dict[str, Any] = await op(body, _caller(req))
        except AwsJsonError as exc:
            code = exc.query_code or exc.code
            return Response(
                exc.status, render_error(code, exc.message, exc.status < 500, rid), headers
            )
        return Response(200, render_result(action, result, rid), headers)
