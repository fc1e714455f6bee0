"""The Extensions API of one environment, served on its Runtime API endpoint.

An extension registers (``POST /2020-01-01/extension/register`` with
``Lambda-Extension-Name`` and the events it wants, ``INVOKE`` and/or ``SHUTDOWN``), gets
a ``Lambda-Extension-Identifier``, then loops on ``GET /2020-01-01/extension/event/next``,
which is parked until the platform has an event for it. An extension is *settled* while it
waits on ``next`` (or has an event queued it has not asked for yet is *not* settled):
INIT ends, and the environment may be frozen or given its next event, only when the
runtime and every extension are settled — so an extension doing work after an INVOKE
delays the freeze, not the caller's answer. ``/init/error`` and ``/exit/error`` report an
extension's failure before it exits: as on Lambda, the first such report is the
environment's fatal error — ``Extension.InitError`` (which fails INIT at once) or
``Extension.ExitError`` (what an extension's exit then fails with, instead of
``Extension.Crash``); the type the extension gave is logged with it.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PREFIX = "/2020-01-01/extension/"
EVENTS = frozenset({"INVOKE", "SHUTDOWN"})
NAME = "lambda-extension-name"
IDENTIFIER = "lambda-extension-identifier"
ERROR_TYPE = "lambda-extension-function-error-type"
# Lambda's error types for an extension's failure (its "first fatal error").
INIT_ERROR = "Extension.InitError"  # it called /init/error
EXIT_ERROR = "Extension.ExitError"  # it called /exit/error
CRASH = "Extension.Crash"  # it exited without either


def _error(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return Response(status, body, {"Content-Type": "application/json"})


@dataclass(slots=True)
class Extension:
    name: str
    ident: str
    events: frozenset[str]
    queue: deque[bytes] = field(default_factory=deque)
    parked: HttpConnection | None = None
    settled: bool = False  # waiting on next, with nothing to do
    gone: bool = False  # its process exited (an exited extension holds nothing up)

    def parked_lost(self) -> None:
        """The connection of a parked ``next`` went away: forget it (one bound method per
        extension, so a kept-alive connection registers it once, not once per event)."""
        parked = self.parked
        if parked is not None and parked.closed:
            self.parked = None

    def send(self, event: bytes) -> None:
        self.settled = False
        conn, self.parked = self.parked, None
        if conn is not None and not conn.closed and conn.send(_event(event)):
            return
        self.queue.append(event)


def _event(body: bytes) -> Response:
    return Response(
        200,
        body,
        {
            "Content-Type": "application/json",
            "Lambda-Extension-Event-Identifier": str(uuid.uuid4()),
        },
    )


@dataclass(frozen=True, slots=True)
class ExtensionFailure:
    """An extension's ``/init/error`` or ``/exit/error``: ``fatal_type`` is Lambda's
    (:data:`INIT_ERROR` or :data:`EXIT_ERROR`), ``error_type`` the extension's own."""

    name: str
    fatal_type: str
    error_type: str
    body: bytes

    def error_document(self) -> bytes:
        """What the failed INIT or invoke answers (Lambda's type, the extension's in the
        message)."""
        message = f"Extension {self.name} reported {self.error_type}"
        return json.dumps({"errorMessage": message, "errorType": self.fatal_type}).encode()


class ExtensionsApi:
    """Registered extensions of one environment and their events."""

    def __init__(self, function_name: str, function_version: str, handler: str) -> None:
        self._info = json.dumps(
            {"functionName": function_name, "functionVersion": function_version, "handler": handler}
        ).encode()
        self.by_id: dict[str, Extension] = {}
        self.init_closed = False  # registration ends with INIT
        self.shutting_down = False  # SHUTDOWN was sent: exits are expected
        self.init_failed: ExtensionFailure | None = None
        self.fatal: ExtensionFailure | None = None  # the first /init/error or /exit/error
        self._settled_waiters: list[asyncio.Future[None]] = []
        # Called when every extension waits on next (the channel ends INIT on it).
        self.on_settle: Callable[[], None] | None = None

    # -- questions --------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.by_id)

    def all_settled(self) -> bool:
        return all(e.settled for e in self.by_id.values())

    async def settled(self) -> None:
        """Wait until every extension waits on ``next`` again (at once when none)."""
        if self.all_settled():
            return
        waiter = asyncio.get_running_loop().create_future()
        self._settled_waiters.append(waiter)
        await waiter

    def wants(self, event: str) -> list[Extension]:
        return [e for e in self.by_id.values() if event in e.events and not e.gone]

    def exit_error_type(self) -> str:
        """What an extension's exit fails INIT or the invoke in flight with."""
        return CRASH if self.fatal is None else self.fatal.fatal_type

    def exited(self, name: str) -> Extension | None:
        """The extension ``name``'s process ended (Lamina's launcher says so)."""
        for ext in self.by_id.values():
            if ext.name == name:
                ext.gone = True
                ext.settled = True
                ext.queue.clear()
                if ext.parked is not None:
                    ext.parked.close()
                    ext.parked = None
                self._wake_settled()
                return ext
        return None

    def abandon(self) -> None:
        """The environment is gone: no extension will ask for its next event again, so
        whoever waits for them to settle (an invoke's END and REPORT) goes on now."""
        for ext in self.by_id.values():
            ext.gone = True
            ext.settled = True
        waiters, self._settled_waiters = self._settled_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)

    def _wake_settled(self) -> None:
        if not self.all_settled():
            return
        waiters, self._settled_waiters = self._settled_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
        if self.on_settle is not None:
            self.on_settle()

    # -- the platform's events --------------------------------------------------------
    def invoke(self, request_id: str, deadline_ms: int, arn: str, trace_id: str) -> None:
        """Tell every extension registered for INVOKE about the event being delivered."""
        targets = self.wants("INVOKE")
        if not targets:
            return
        body = json.dumps(
            {
                "eventType": "INVOKE",
                "deadlineMs": deadline_ms,
                "requestId": request_id,
                "invokedFunctionArn": arn,
                "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id},
            }
        ).encode()
        for ext in targets:
            ext.send(body)

    def shutdown(self, reason: str, grace_s: float) -> list[Extension]:
        """Send SHUTDOWN; returns the extensions the platform should wait for."""
        self.shutting_down = True
        targets = self.wants("SHUTDOWN")
        deadline_ms = int((time.time() + grace_s) * 1000)
        body = json.dumps(
            {"eventType": "SHUTDOWN", "shutdownReason": reason, "deadlineMs": deadline_ms}
        ).encode()
        for ext in targets:
            ext.send(body)
        return targets

    # -- the extensions' requests -----------------------------------------------------
    def handle(self, req: Request, conn: HttpConnection) -> Response | None:
        verb = req.path[len(PREFIX) :]
        if verb == "register":
            return (
                self._register(req)
                if req.method == "POST"
                else _error(405, "InvalidRequest", "use POST")
            )
        ext = self.by_id.get(req.headers.get(IDENTIFIER, ""))
        if ext is None:
            return _error(
                403, "Extension.UnknownExtensionIdentifier", "Unknown extension identifier"
            )
        if verb == "event/next" and req.method == "GET":
            return self._next(ext, conn)
        if verb in ("init/error", "exit/error") and req.method == "POST":
            error_type = req.headers.get(ERROR_TYPE, "")
            if not error_type:
                return _error(
                    403, "Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found"
                )
            if verb == "init/error" and self.init_closed:
                return _error(403, "Extension.InvalidExtensionState", "INIT is over")
            fatal_type = INIT_ERROR if verb == "init/error" else EXIT_ERROR
            failure = ExtensionFailure(ext.name, fatal_type, error_type, req.body)
            self.fatal = self.fatal or failure
            if verb == "init/error":
                self.init_failed = self.init_failed or failure
            return Response(202, b'{"status":"OK"}', {"Content-Type": "application/json"})
        return _error(404, "InvalidRequest", f"unknown path {req.path}")

    def _register(self, req: Request) -> Response:
        name = req.headers.get(NAME, "")
        if not name:
            return _error(400, "InvalidRequest", "Lambda-Extension-Name is required")
        if self.init_closed:
            return _error(403, "Extension.RegistrationError", "registration is closed after INIT")
        try:
            doc = json.loads(req.body or b"{}")
        except ValueError:
            return _error(400, "InvalidRequest", "the body must be JSON")
        events = doc.get("events", []) if isinstance(doc, dict) else None
        if not isinstance(events, list) or not set(events) <= EVENTS:
            return _error(400, "InvalidRequest", "events must be a list of INVOKE and SHUTDOWN")
        if any(e.name == name for e in self.by_id.values()):
            return _error(409, "Extension.AlreadyRegistered", f"{name} is already registered")
        ident = str(uuid.uuid4())
        self.by_id[ident] = Extension(name, ident, frozenset(events))
        return Response(
            200,
            self._info,
            {"Content-Type": "application/json", "Lambda-Extension-Identifier": ident},
        )

    def _next(self, ext: Extension, conn: HttpConnection) -> Response | None:
        if ext.queue:
            return _event(ext.queue.popleft())
        if ext.parked is not None and not ext.parked.closed:
            ext.parked.close()
        ext.parked = conn
        ext.settled = True
        conn.on_lost(ext.parked_lost)
        self._wake_settled()
        return None

    def close(self) -> None:
        for ext in self.by_id.values():
            if ext.parked is not None:
                ext.parked.close()
                ext.parked = None
        waiters, self._settled_waiters = self._settled_waiters, []
        for w in waiters:
            if not w.done():
                w.set_result(None)
