"""Building answers: JSON bodies, empty answers, and the one mapping from errors to HTTP."""

from __future__ import annotations

import json
import uuid
from typing import Any

from lamina.errors import ApiError, InvalidRequestContent
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import Response

JSON = "application/json"


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": JSON, "x-amzn-RequestId": str(uuid.uuid4())}
    if headers:
        h.update(headers)
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(status, data, h)


def empty_response(status: int = 204) -> Response:
    return Response(status, b"", {"x-amzn-RequestId": str(uuid.uuid4())})


def error_response(exc: ApiError) -> Response:
    """The one mapping from an error to its HTTP answer."""
    return json_response(exc.status, exc.body(), exc.headers())


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
