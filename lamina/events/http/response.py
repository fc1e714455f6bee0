"""From a function's answer to the HTTP response, by payload 2.0's and 1.0's rules (pure).

2.0: an object with ``statusCode`` is a response (``headers``, ``cookies``, ``body``,
``isBase64Encoded``); anything else, a string included, is the body of a 200
``application/json`` answer (a string as itself, other values as JSON).
1.0: the answer must be an object with ``statusCode`` (``headers``, ``multiValueHeaders``,
``body``, ``isBase64Encoded``); anything else is a 502 from the gateway.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import ApiError, ResourceNotFound, TooManyRequests
from lamina.wire.jsonbody import parse_json


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


BAD_GATEWAY = HttpAnswer(
    502, [("content-type", "application/json")], b'{"message":"Internal Server Error"}'
)


def failure_answer(exc: ApiError | None) -> HttpAnswer:
    """What the URL's caller sees when the invoke itself failed (None: an unusable answer)."""
    if isinstance(exc, TooManyRequests):
        return HttpAnswer(
            429, [("content-type", "application/json")], b'{"message":"Too Many Requests"}'
        )
    if isinstance(exc, ResourceNotFound):
        return HttpAnswer(404, [("content-type", "application/json")], b'{"message":"Not Found"}')
    return BAD_GATEWAY


def _body(value: Any, b64: Any) -> bytes | None:
    if value is None:
        return b""
    text = value if isinstance(value, str) else json.dumps(value)
    if b64 is True:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None
    return text.encode()


def _headers(raw: Any) -> list[tuple[str, str]] | None:
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return None
    return [(str(k), v if isinstance(v, str) else json.dumps(v)) for k, v in raw.items()]


def _decoded(payload: bytes, function_error: str | None) -> tuple[bool, Any]:
    """(usable, the function's answer as JSON): not usable when the function failed or its
    answer is not JSON, which the gateway turns into a 502."""
    if function_error:
        return False, None
    try:
        return True, parse_json(payload) if payload else None
    except ValueError:
        return False, None


def answer_v2(payload: bytes, function_error: str | None) -> HttpAnswer:
    usable, value = _decoded(payload, function_error)
    if not usable:
        return BAD_GATEWAY
    if isinstance(value, dict) and "statusCode" in value:
        status = value.get("statusCode")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            return BAD_GATEWAY
        headers = _headers(value.get("headers"))
        body = _body(value.get("body"), value.get("isBase64Encoded"))
        cookies = value.get("cookies") or []
        if headers is None or body is None or not isinstance(cookies, list):
            return BAD_GATEWAY
        if not any(k.lower() == "content-type" for k, _ in headers):
            headers.append(("content-type", "application/json"))
        headers += [("set-cookie", str(c)) for c in cookies]
        return HttpAnswer(status, headers, body)
    text = value if isinstance(value, str) else json.dumps(value)
    return HttpAnswer(200, [("content-type", "application/json")], text.encode())


def answer_v1(payload: bytes, function_error: str | None) -> HttpAnswer:
    usable, value = _decoded(payload, function_error)
    if not usable:
        return BAD_GATEWAY
    if not isinstance(value, dict) or "statusCode" not in value:
        return BAD_GATEWAY
    status = value["statusCode"]
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return BAD_GATEWAY
    headers = _headers(value.get("headers"))
    body = _body(value.get("body"), value.get("isBase64Encoded"))
    multi = value.get("multiValueHeaders") or {}
    if headers is None or body is None or not isinstance(multi, dict):
        return BAD_GATEWAY
    single = {k.lower() for k, _ in headers}
    for k, values in multi.items():
        if k.lower() in single:
            continue  # headers wins over multiValueHeaders for the same name
        for v in values if isinstance(values, list) else [values]:
            headers.append((str(k), str(v)))
    return HttpAnswer(status, headers, body)
