"""The AWS JSON protocol (``X-Amz-Target: Service.Operation``) as EventBridge and SQS speak it.

A service is a table of pure operations ``op(body) -> dict``; errors are
:class:`AwsJsonError` with the service's own error code, rendered as botocore parses
them: status 400 (or 500), ``{"__type": code, "message": ...}``, and for services that
keep their old query-protocol codes (SQS) an ``x-amzn-query-error`` header.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from lamina.errors import ApiError
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import Response

JsonOperation = Callable[[dict[str, Any]], dict[str, Any]]


class AwsJsonError(Exception):
    """Raised by an operation; carries the service's error code and HTTP status."""

    def __init__(
        self, code: str, message: str, status: int = 400, query_code: str | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.query_code = query_code


def json_response(status: int, body: dict[str, Any], content_type: str) -> Response:
    return Response(
        status,
        json.dumps(body, separators=(",", ":")).encode(),
        {"Content-Type": content_type, "x-amzn-RequestId": str(uuid.uuid4())},
    )


def error_response(exc: AwsJsonError, content_type: str) -> Response:
    resp = json_response(exc.status, {"__type": exc.code, "message": exc.message}, content_type)
    if exc.query_code:
        sender = "Sender" if exc.status < 500 else "Receiver"
        resp.headers["x-amzn-query-error"] = f"{exc.query_code};{sender}"
    return resp


def dispatch_json(
    req: Request,
    prefix: str,
    operations: dict[str, JsonOperation],
    content_type: str,
    translate: Callable[[ApiError], AwsJsonError],
) -> Response:
    """Run the operation named by ``X-Amz-Target: <prefix>.<Op>`` on the JSON body."""
    target = req.headers.get("x-amz-target", "")
    name = target[len(prefix) + 1 :] if target.startswith(prefix + ".") else ""
    op = operations.get(name)
    try:
        if op is None:
            raise AwsJsonError("UnknownOperationException", f"Unknown operation {target!r}")
        try:
            body = parse_json(req.body or b"{}")
        except ValueError as exc:
            raise AwsJsonError("SerializationException", f"Malformed JSON: {exc}") from None
        if not isinstance(body, dict):
            raise AwsJsonError("SerializationException", "The request body must be an object")
        try:
            return json_response(200, op(body), content_type)
        except ApiError as exc:
            raise translate(exc) from None
    except AwsJsonError as exc:
        return error_response(exc, content_type)
