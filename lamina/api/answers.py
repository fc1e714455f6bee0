"""Building the Lambda API's answers: JSON bodies and empty answers.

Errors are answered by :mod:`lamina.services.protocol.errors`, the one mapping from errors
to HTTP for every protocol Lamina speaks; :func:`error_response` is its Lambda face.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.errors import ApiError, InvalidRequestContent
from lamina.services.protocol.errors import LAMBDA, error_answer
from lamina.tracing import new_request_id
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import Response

JSON = "application/json"


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": JSON, "x-amzn-RequestId": new_request_id()}
    if headers:
        h.update(headers)
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(status, data, h)


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", {"x-amzn-RequestId": new_request_id()})


def error_response(exc: ApiError) -> Response:
    """``exc`` as the Lambda API answers it (REST-JSON)."""
    return error_answer(exc, LAMBDA)


def json_body(req: Request) -> dict[str, Any]:
    """The request's JSON object ({} for an empty body)."""
    if not req.body:
        return {}
    try:
        body = parse_json(req.body)
    except ValueError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequestContent("Request body must be a JSON object")
    return body
