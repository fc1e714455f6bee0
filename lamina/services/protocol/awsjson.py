"""The AWS JSON protocol (1.0 and 1.1): ``POST /`` with ``X-Amz-Target: <Prefix>.<Operation>``.

A request becomes a :class:`JsonCall` (the operation's name and its JSON object) before
any operation runs; what is wrong with the request itself (an unknown operation, a body
that is not a JSON object) is raised as the service's :class:`AwsServiceError`, and
rendered, like every error, by :mod:`lamina.services.protocol.errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Container
from dataclasses import dataclass
from typing import Any

from lamina.errors import ApiError, AwsServiceError
from lamina.services.protocol.errors import (
    Protocol,
    Wire,
    error_answer,
    json_answer,
    new_request_id,
)
from lamina.wire.http import Request
from lamina.wire.jsonbody import parse_json
from lamina.wire.server import Response

JsonOperation = Callable[[dict[str, Any]], dict[str, Any]]


def _unknown_operation(target: str, name: str) -> AwsServiceError:
    return AwsServiceError("UnknownOperationException", f"Unknown operation {target!r}")


@dataclass(frozen=True, slots=True)
class JsonDialect:
    """One service's JSON protocol: its target prefix, how it answers, and its messages."""

    prefix: str  # "AmazonSQS", "AWSEvents"
    protocol: Protocol
    unknown: Callable[[str, str], AwsServiceError] = _unknown_operation  # (target, name)
    malformed: Callable[[ValueError], str] = lambda exc: f"Malformed JSON: {exc}"
    not_object: str = "The request body must be an object"

    def accepts(self, req: Request) -> bool:
        return req.headers.get("x-amz-target", "").startswith(self.prefix + ".")


@dataclass(frozen=True, slots=True)
class JsonCall:
    """A JSON-protocol request: the operation named and its (still unchecked) members."""

    operation: str
    members: dict[str, Any]


def parse_call(req: Request, dialect: JsonDialect, known: Container[str]) -> JsonCall:
    """The call ``req`` makes; raises the service's error for an unknown operation or a
    body that is not a JSON object (in that order, as AWS checks them)."""
    target = req.headers.get("x-amz-target", "")
    start = dialect.prefix + "."
    name = target[len(start) :] if target.startswith(start) else ""
    if name not in known:
        raise dialect.unknown(target, name)
    try:
        body = parse_json(req.body or b"{}")
    except ValueError as exc:
        raise AwsServiceError("SerializationException", dialect.malformed(exc)) from None
    if not isinstance(body, dict):
        raise AwsServiceError("SerializationException", dialect.not_object)
    return JsonCall(name, body)


def json_result(result: dict[str, Any], protocol: Protocol) -> Response:
    """A successful JSON-protocol answer."""
    headers = {"Content-Type": protocol.content_type, "x-amzn-RequestId": new_request_id()}
    return json_answer(200, result, headers)


# -- the first version's helpers, for services written against them ------------------------
def json_response(status: int, body: dict[str, Any], content_type: str) -> Response:
    return json_answer(
        status, body, {"Content-Type": content_type, "x-amzn-RequestId": new_request_id()}
    )


def error_response(exc: AwsServiceError, content_type: str) -> Response:
    return error_answer(exc, Protocol(Wire.JSON, content_type))


def dispatch_json(
    req: Request,
    prefix: str,
    operations: dict[str, JsonOperation],
    content_type: str,
    translate: Callable[[ApiError], AwsServiceError],
) -> Response:
    """Run the operation named by ``X-Amz-Target: <prefix>.<Op>`` on the JSON body."""
    dialect = JsonDialect(prefix, Protocol(Wire.JSON, content_type, translate=translate))
    try:
        call = parse_call(req, dialect, operations)
        return json_result(operations[call.operation](call.members), dialect.protocol)
    except (ApiError, AwsServiceError) as exc:
        return error_answer(exc, dialect.protocol)
