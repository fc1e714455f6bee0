"""The error bodies an invoke answers with when the function fails, in one place (pure).

Two kinds: the platform's own (a timeout, a runtime that exited, a response too large,
an environment that could not start), worded as Lambda words them; and the runtime's
error posts (``/init/error``, ``/invocation/<id>/error``), which are read by ONE parser,
:func:`read_error_post`, and then shaped for the phase they belong to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from lamina.models.invocation import FunctionError
from lamina.wire.jsonbody import parse_json

MAX_RESPONSE_MESSAGE = (
    "Response payload size exceeded maximum allowed payload size (6291556 bytes)."
)
UNKNOWN = "Runtime.Unknown"
TIMED_OUT = "Sandbox.Timedout"

TraceKey = Literal["stackTrace", "trace"]


@dataclass(frozen=True, slots=True)
class ErrorPost:
    """A runtime's error post, read: each field as posted, None when absent.

    Python runtimes send ``stackTrace`` (and ``requestId``), Node's send ``trace``; the
    invoke answer keeps the runtime's own key, as Lambda does.
    """

    error_type: str | None
    error_message: str | None
    trace: tuple[str, ...]
    trace_key: TraceKey
    request_id: str | None

    @property
    def names_an_error(self) -> bool:
        """Whether it looks like an error body at all (``errorType`` or ``errorMessage``)."""
        return self.error_type is not None or self.error_message is not None


def _text(value: object) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def read_error_post(value: object) -> ErrorPost | None:
    """The one reader of a runtime's error body (already JSON-decoded); None unless an object."""
    if not isinstance(value, dict):
        return None
    stack, trace = value.get("stackTrace"), value.get("trace")
    key: TraceKey = "stackTrace" if "stackTrace" in value or "trace" not in value else "trace"
    frames = stack or trace
    return ErrorPost(
        error_type=_text(value.get("errorType")),
        error_message=_text(value.get("errorMessage")),
        trace=tuple(str(t) for t in frames) if isinstance(frames, list) else (),
        trace_key=key,
        request_id=_text(value.get("requestId")),
    )


def parse_error_post(body: bytes) -> ErrorPost | None:
    """:func:`read_error_post` of raw bytes (None for anything that is not a JSON object)."""
    try:
        value = parse_json(body)  # a function's post: deep nesting is "not JSON", no crash
    except ValueError:
        return None
    return read_error_post(value)


# -- INIT ---------------------------------------------------------------------------------
def init_error(
    post: ErrorPost | None, header_type: str | None = None, default_message: str = ""
) -> FunctionError:
    """An INIT failure the runtime reported (``/init/error``, or a zygote's INIT)."""
    if post is None:
        return FunctionError(header_type or UNKNOWN, default_message)
    return FunctionError(
        post.error_type or header_type or UNKNOWN,
        post.error_message or default_message,
        post.trace,
    )


def init_timeout(limit_s: float) -> FunctionError:
    return FunctionError(TIMED_OUT, f"INIT timed out after {limit_s:.2f} seconds")


def invalid_entrypoint(message: str) -> FunctionError:
    return FunctionError("Runtime.InvalidEntrypoint", message)


def invalid_runtime(message: str) -> FunctionError:
    return FunctionError("Runtime.InvalidRuntime", message)


def platform_failure(message: str) -> FunctionError:
    """Lamina could not create or restore the environment (a sandbox or zygote failure)."""
    return FunctionError(UNKNOWN, message)


def init_failure_body(error: FunctionError, request_id: str) -> bytes:
    """The invoke's answer when INIT failed: the error plus the request id."""
    body = json.loads(error.to_json())
    body["requestId"] = request_id
    return json.dumps(body).encode()


# -- the invoke ---------------------------------------------------------------------------
def invoke_error_body(body: bytes, header_type: str | None) -> bytes:
    """A runtime's ``/invocation/<id>/error`` post as the invoke's answer.

    An error-shaped body keeps its fields (and the runtime's name for the trace); anything
    else becomes the message of an error named by the ``Lambda-Runtime-Function-Error-Type``
    header.
    """
    post = parse_error_post(body)
    if post is None or not post.names_an_error:
        return FunctionError(header_type or UNKNOWN, body.decode("utf-8", "replace")).to_json()
    out: dict[str, object] = {
        "errorMessage": post.error_message or "",
        "errorType": post.error_type if post.error_type is not None else header_type or "",
    }
    if post.trace:
        out[post.trace_key] = list(post.trace)
    if post.request_id is not None:
        out["requestId"] = post.request_id
    return json.dumps(out, separators=(",", ":")).encode()


def response_too_large() -> bytes:
    return FunctionError("Function.ResponseSizeTooLarge", MAX_RESPONSE_MESSAGE).to_json()


def task_timeout(request_id: str, timeout_s: float) -> FunctionError:
    return FunctionError(
        TIMED_OUT, f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds"
    )


def runtime_exited(status: int, oom: bool, request_id: str | None) -> FunctionError:
    """The runtime process ended on its own (``status``: exit code, or 128 + signal, or
    minus the signal); out of memory when the cgroup's OOM killer did it."""
    if status < 0 or status >= 128:
        signo = -status if status < 0 else status - 128
        what = "signal: killed" if signo == 9 else f"signal: {signo}"
    else:
        what = f"exit status {status}"
    prefix = f"RequestId: {request_id} " if request_id else ""
    message = f"{prefix}Error: Runtime exited with error: {what}"
    return FunctionError("Runtime.OutOfMemory" if oom else "Runtime.ExitError", message)
