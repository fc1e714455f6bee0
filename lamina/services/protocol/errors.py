"""The one place errors become AWS answers, per protocol (pure: no sockets, no state).

Every AWS API speaks one of four wire protocols, and each shapes its errors its own way:

==========  =========================  ==================================================
Wire        who speaks it              the error answer botocore parses
==========  =========================  ==================================================
REST_JSON   Lambda (and ``/lamina``)   ``x-amzn-ErrorType: <Code>``; JSON ``Type``,
                                       ``message``, ``Message``
JSON        SQS (1.0), EventBridge     JSON ``{"__type": <Code>, "message": ...}``; SQS
            (1.1)                      adds ``x-amzn-query-error: <old code>;Sender``
QUERY       SQS's older clients, IAM   XML ``<ErrorResponse><Error><Type>``, ``<Code>``,
                                       ``<Message>``
REST_XML    S3                         XML ``<Error><Code>``, ``<Message>``,
                                       ``<Resource>``; no body on ``HEAD``
==========  =========================  ==================================================

A service describes how it speaks with one :class:`Protocol` value; a handler lets
:class:`~lamina.errors.ApiError` and :class:`~lamina.errors.AwsServiceError` escape, and
:func:`answer` / :func:`answering` (or the Lambda API's boundary) hand them to
:func:`error_answer`, logging the server's own failures (5xx) first. Any other error is a
bug: it goes on to the wire layer, which logs it with the request and answers 500.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from xml.sax.saxutils import escape

from lamina.errors import ApiError, AwsServiceError, MethodNotAllowed, S3Error, TooManyRequests
from lamina.wire.server import Response

log = logging.getLogger("lamina.services")

# What a boundary catches and answers; anything else is a bug for the wire layer to log.
ANSWERABLE = (ApiError, AwsServiceError)
# Errors of the JSON protocol itself, sent unqualified even by services that qualify codes.
_PROTOCOL_CODES = frozenset({"SerializationException"})


class Wire(Enum):
    REST_JSON = "rest-json"
    JSON = "json"
    QUERY = "query"
    REST_XML = "rest-xml"


def _keep_code(exc: ApiError) -> AwsServiceError:
    return AwsServiceError(exc.error_type, exc.message, exc.status)


@dataclass(frozen=True, slots=True)
class Protocol:
    """How one service's errors are answered.

    ``content_type`` is the JSON protocol's (``application/x-amz-json-1.0`` or ``-1.1``);
    ``code_namespace`` qualifies JSON codes as ``<namespace>#<Code>`` (SQS does);
    ``xml_namespace`` is the query protocol's document namespace, and services differ in
    whether its error document starts with an XML declaration and ends its ``<Error>``
    with ``<Detail/>`` (SQS does both, IAM neither); ``translate`` turns a Lambda-shaped
    :class:`ApiError` raised by shared validation into the service's code.
    """

    wire: Wire
    content_type: str = "application/json"
    code_namespace: str | None = None
    xml_namespace: str = ""
    xml_declaration: bool = True
    error_detail: bool = True
    translate: Callable[[ApiError], AwsServiceError] = _keep_code


LAMBDA = Protocol(Wire.REST_JSON)


def new_request_id() -> str:
    return str(uuid.uuid4())


def s3_request_id() -> str:
    """S3's request ids are 16 upper-case hex digits."""
    return uuid.uuid4().hex[:16].upper()


def json_answer(status: int, body: object, headers: dict[str, str]) -> Response:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(status, data, headers)


def error_answer(
    exc: ApiError | AwsServiceError, protocol: Protocol, *, head: bool = False
) -> Response:
    """The answer ``exc`` gets in ``protocol`` (``head``: the request was a ``HEAD``)."""
    wire = protocol.wire
    if wire is Wire.REST_JSON:
        return _rest_json(exc)
    err = protocol.translate(exc) if isinstance(exc, ApiError) else exc
    if wire is Wire.JSON:
        return _json(err, protocol)
    if wire is Wire.QUERY:
        return _query(err, protocol)
    return _rest_xml(err, head)


def _rest_json(exc: ApiError | AwsServiceError) -> Response:
    code = exc.error_type if isinstance(exc, ApiError) else exc.code
    headers = {
        "Content-Type": "application/json",
        "x-amzn-RequestId": new_request_id(),
        "x-amzn-ErrorType": code,
    }
    # botocore reads ``message`` or ``Message``; Lambda sends both.
    kind = "User" if exc.status < 500 else "Service"
    body = {"Type": kind, "message": exc.message, "Message": exc.message}
    if isinstance(exc, TooManyRequests):
        body["Reason"] = exc.reason
        headers["Retry-After"] = str(exc.retry_after_s)
    if isinstance(exc, MethodNotAllowed):
        headers["Allow"] = ", ".join(exc.allowed)
    return json_answer(exc.status, body, headers)


def _json(exc: AwsServiceError, protocol: Protocol) -> Response:
    code = exc.code
    if protocol.code_namespace and "#" not in code and code not in _PROTOCOL_CODES:
        code = f"{protocol.code_namespace}#{code}"
    headers = {"Content-Type": protocol.content_type, "x-amzn-RequestId": new_request_id()}
    if exc.query_code:
        sender = "Sender" if exc.status < 500 else "Receiver"
        headers["x-amzn-query-error"] = f"{exc.query_code};{sender}"
    return json_answer(exc.status, {"__type": code, "message": exc.message}, headers)


def _query(exc: AwsServiceError, protocol: Protocol) -> Response:
    rid = new_request_id()
    body = (
        ('<?xml version="1.0"?>' if protocol.xml_declaration else "")
        + f'<ErrorResponse xmlns="{protocol.xml_namespace}"><Error>'
        f"<Type>{'Sender' if exc.status < 500 else 'Receiver'}</Type>"
        f"<Code>{escape(exc.query_code or exc.code)}</Code>"
        f"<Message>{escape(exc.message)}</Message>"
        + ("<Detail/>" if protocol.error_detail else "")
        + f"</Error><RequestId>{rid}</RequestId></ErrorResponse>"
    ).encode()
    return Response(exc.status, body, {"Content-Type": "text/xml", "x-amzn-RequestId": rid})


def _rest_xml(exc: AwsServiceError, head: bool) -> Response:
    rid = s3_request_id()
    resource = exc.resource if isinstance(exc, S3Error) else ""
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{exc.code}</Code><Message>{escape(exc.message)}</Message>"
        f"<Resource>{escape(resource)}</Resource><RequestId>{rid}</RequestId></Error>"
    ).encode()
    headers = {"Content-Type": "application/xml", "x-amz-request-id": rid}
    # HEAD answers carry no body; clients read the status alone.
    return Response(exc.status, b"" if head else body, headers)


def logged(exc: ApiError | AwsServiceError) -> ApiError | AwsServiceError:
    """``exc``, logged first when it is the server's fault (5xx), so none goes unseen."""
    if exc.status >= 500:
        log.error("answering %d: %s: %s", exc.status, type(exc).__name__, exc.message)
    return exc


def answer(protocol: Protocol, run: Callable[[], Response]) -> Response:
    """Run a synchronous service call; an error it raises becomes ``protocol``'s answer."""
    try:
        return run()
    except ANSWERABLE as exc:
        return error_answer(logged(exc), protocol)


async def answering(
    protocol: Protocol, run: Awaitable[Response], *, head: bool = False
) -> Response:
    """Await a service's answer; an error it raises becomes ``protocol``'s error answer."""
    try:
        return await run
    except ANSWERABLE as exc:
        return error_answer(logged(exc), protocol, head=head)
