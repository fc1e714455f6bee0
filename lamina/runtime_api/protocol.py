"""The Runtime API as pure functions: requests become typed actions, events become answers.

No sockets here. :mod:`lamina.runtime_api.channel` drives these over a connection.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from lamina.wire.http import Rendered, Request
from lamina.wire.server import Response

PREFIX = "/2018-06-01/runtime/"
# Lambda accepts a response of up to 6 MiB, plus 100 bytes of slack for the JSON framing.
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
# A streaming response: the mode header, and the trailers that report an error mid-stream.
RESPONSE_MODE = "lambda-runtime-function-response-mode"
ERROR_TYPE = "lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = "lambda-runtime-function-error-body"


@dataclass(frozen=True, slots=True)
class RuntimeAnswer:
    """What the runtime posted for one event."""

    ok: bool
    body: bytes
    error_type: str | None = None
    too_large: bool = False
    at: float = 0.0  # perf_counter() when the answer arrived


@dataclass(frozen=True, slots=True)
class Next:
    """``GET /runtime/invocation/next``: the runtime is ready for work."""


@dataclass(frozen=True, slots=True)
class PostResponse:
    request_id: str
    body: bytes
    too_large: bool


@dataclass(frozen=True, slots=True)
class PostError:
    request_id: str
    body: bytes
    error_type: str | None


@dataclass(frozen=True, slots=True)
class InitError:
    body: bytes
    error_type: str | None


@dataclass(frozen=True, slots=True)
class Unknown:
    status: int
    message: str


Action = Next | PostResponse | PostError | InitError | Unknown


def parse_action(req: Request) -> Action:
    """Decide what a request to the Runtime API asks for."""
    path = req.path
    if not path.startswith(PREFIX):
        return Unknown(404, f"unknown path {path}")
    rest = path[len(PREFIX) :]
    if rest == "invocation/next":
        return Next() if req.method == "GET" else Unknown(405, "use GET")
    if req.method != "POST":
        return Unknown(405, "use POST")
    if rest == "init/error":
        return InitError(req.body, req.headers.get("lambda-runtime-function-error-type"))
    if rest.startswith("invocation/"):
        request_id, _, verb = rest[len("invocation/") :].partition("/")
        if verb == "response":
            failed = trailer_error(req.trailers)
            if failed is not None:  # a streamed response that ended in an error
                return PostError(request_id, failed[1], failed[0])
            return PostResponse(request_id, req.body, req.too_large)
        if verb == "error":
            return PostError(
                request_id, req.body, req.headers.get("lambda-runtime-function-error-type")
            )
    return Unknown(404, f"unknown path {path}")


def streaming_request_id(req: Request) -> str | None:
    """The request id a streaming response (``POST .../response`` in streaming mode) is
    for, or None if ``req`` is not one."""
    if req.method != "POST" or req.headers.get(RESPONSE_MODE, "").lower() != "streaming":
        return None
    path = req.path
    if not path.startswith(PREFIX + "invocation/") or not path.endswith("/response"):
        return None
    request_id = path[len(PREFIX + "invocation/") : -len("/response")]
    return request_id if request_id and "/" not in request_id else None


def trailer_error(trailers: dict[str, str]) -> tuple[str, bytes] | None:
    """(error type, error body) when a streamed response's trailers report an error.

    The body trailer is the error document base64-encoded (trailer values are one line);
    a value that is not base64 is taken as it is.
    """
    error_type = trailers.get(ERROR_TYPE)
    if error_type is None:
        return None
    raw = trailers.get(ERROR_BODY_TRAILER, "")
    try:
        body = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        body = raw.encode()
    return error_type, body


def _error(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return Response(status, body, {"Content-Type": "application/json"})


# Rendered once: every invoke's answer is acknowledged with these bytes.
ACCEPTED = Rendered(202, b'{"status":"OK"}', {"Content-Type": "application/json"})


def accepted() -> Response:
    """The 202 to a runtime's answer (one shared object: nothing may change it)."""
    return ACCEPTED


def invalid_request_id(request_id: str) -> Response:
    return _error(400, "InvalidRequestID", f"Invalid request ID: {request_id}")


def invalid_state(request_id: str) -> Response:
    return _error(
        403,
        "InvalidStateTransition",
        f"Transition is not allowed: request {request_id} was already answered",
    )


def too_large() -> Response:
    return _error(
        413,
        "RequestEntityTooLarge",
        f"Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes).",
    )


def unknown(action: Unknown) -> Response:
    return _error(action.status, "InvalidRequest", action.message)


class EventAnswer(Response):
    """The answer to a parked ``/next``: the event and its headers, rendered by one
    f-string (every warm invoke sends one). The bytes are exactly what
    :func:`~lamina.wire.http.render_response` makes of :attr:`headers`: a test compares them."""

    __slots__ = ("_head",)

    def __init__(self, payload: bytes, headers: dict[str, str], head: str) -> None:
        super().__init__(200, payload, headers)
        self._head = head  # the head up to (not including) Content-Length

    def render(self, close: bool = False) -> bytes:
        end = "Connection: close\r\n\r\n" if close else "\r\n"
        head = f"{self._head}Content-Length: {len(self.body)}\r\n{end}"
        return head.encode("latin-1") + self.body


def event_response(
    payload: bytes,
    request_id: str,
    deadline_ms: int,
    function_arn: str,
    trace_id: str,
    client_context: str | None,
    cognito_identity: str | None,
) -> Response:
    """The answer to a parked ``/next``: the event and its headers.

    ``Content-Type`` is always set: AWS's C++-based runtime clients crash without it.
    """
    headers = {
        "Content-Type": "application/json",
        "Lambda-Runtime-Aws-Request-Id": request_id,
        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
        "Lambda-Runtime-Invoked-Function-Arn": function_arn,
        "Lambda-Runtime-Trace-Id": trace_id,
    }
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\n"
        f"Lambda-Runtime-Deadline-Ms: {deadline_ms}\r\n"
        f"Lambda-Runtime-Invoked-Function-Arn: {function_arn}\r\n"
        f"Lambda-Runtime-Trace-Id: {trace_id}\r\n"
    )
    if client_context:
        headers["Lambda-Runtime-Client-Context"] = client_context
        head += f"Lambda-Runtime-Client-Context: {client_context}\r\n"
    if cognito_identity:
        headers["Lambda-Runtime-Cognito-Identity"] = cognito_identity
        head += f"Lambda-Runtime-Cognito-Identity: {cognito_identity}\r\n"
    return EventAnswer(payload, headers, head)
