"""One execution environment's Runtime API endpoint: where its runtime pulls events.

Each environment gets its own listening socket (its ``AWS_LAMBDA_RUNTIME_API``): in the
process tier ``127.0.0.1:9001`` on the loopback of the environment's own network namespace
(made by :mod:`lamina.sandbox.netns`), else a free port on the host's loopback. So the
socket tells which environment is calling and no connection is tied to an
environment: awslambdaric keeps one keep-alive connection, aws-lambda-ric opens a new
one for every ``/next`` and answers on yet another. A ``/next`` with no work is parked
until an event is delivered; an event delivered with no ``/next`` waiting is kept until
one arrives.

A streaming response (``Lambda-Runtime-Function-Response-Mode: streaming``) to an event
whose caller reads a stream (``Delivery.stream``) is taken at its head: its chunks go to
the :class:`~lamina.runtime_api.stream.ResponseStream` as they arrive, and the event is
answered when the body ends (its trailers say whether with an error). To a caller that
wants the whole answer, the same POST is read whole, as a buffered response.

A runtime that pipelines its next ``GET /next`` behind its answer (Lamina's Python and
Node runtimes do) gets the ``202`` to the answer in the same write as its next event: the
``202`` is held only when that ``/next`` has already arrived on the connection, and goes
out with the event, or before the environment is frozen (:meth:`RuntimeChannel.flush`),
or when the connection is closed. A runtime that waits for its ``202`` before asking
(AWS's clients, the Rust examples) gets it at once.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.runtime_api import extensions, protocol
from lamina.runtime_api.extensions import ExtensionsApi
from lamina.runtime_api.protocol import RuntimeAnswer as RuntimeAnswer
from lamina.runtime_api.stream import ResponseStream, StreamFeed
from lamina.runtime_api.telemetry import LOGS_PATH, Telemetry
from lamina.runtime_api.telemetry import PATH as TELEMETRY_PATH
from lamina.wire.http import Request
from lamina.wire.server import (
    HandlerResult,
    HttpConnection,
    HttpLimits,
    Response,
    bound_port,
    serve,
    serve_socket,
)

# No timeouts: the only client is the environment's own runtime, which is frozen between
# events and may hold a connection open, silent, for as long as the environment lives.
_LIMITS = HttpLimits(header_timeout_s=None, idle_timeout_s=None, body_timeout_s=None)


@dataclass(slots=True)
class Delivery:
    """One event on its way through an environment."""

    request_id: str
    payload: bytes
    deadline_ms: int
    function_arn: str
    trace_id: str
    client_context: str | None = None
    cognito_identity: str | None = None
    answer: asyncio.Future[RuntimeAnswer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    delivered_at: float = 0.0  # perf_counter() when the runtime received the event
    responding_at: float = 0.0  # perf_counter() when a streamed response began
    # Where a streaming response goes as it is produced (None: the caller wants it whole).
    stream: ResponseStream | None = None


# Lamina's own endpoint for its extension launcher (lamina/runtimes/launch_extensions.sh).
LAUNCHER_PREFIX = "/lamina/extensions/"


@dataclass(frozen=True, slots=True)
class InitFailure:
    body: bytes
    error_type: str | None


class RuntimeChannel:
    """The Runtime API state of one environment, driven by HTTP requests."""

    def __init__(self, function: tuple[str, str, str] = ("", "", "")) -> None:
        """``function``: (name, version, handler), what an extension's registration returns."""
        # The loop this environment lives in, kept: in Python 3.11 every
        # asyncio.get_running_loop() is a getpid() system call, several per invoke.
        self.loop = loop = asyncio.get_running_loop()
        self.function = function
        self.extensions = ExtensionsApi(*function)
        self.extensions.on_settle = self._check_ready
        self.telemetry = Telemetry()
        self._runtime_ready = False  # the runtime's first /next came
        # Called with an extension's name when its process ends after INIT, outside SHUTDOWN.
        self.on_extension_crash: Callable[[str], None] | None = None
        self.ready: asyncio.Future[float] = loop.create_future()  # first /next: INIT done
        self.init_failed: asyncio.Future[InitFailure] = loop.create_future()
        # The runtime exited in SHUTDOWN while extensions still ran (the launcher says so).
        self.runtime_gone: asyncio.Future[None] = loop.create_future()
        self._parked: HttpConnection | None = None
        self._waiting: Delivery | None = None  # delivered, no /next yet
        self._current: Delivery | None = None  # handed to the runtime, not answered
        self._answered: deque[str] = deque(maxlen=16)
        self._feed: StreamFeed | None = None  # the streaming response being received
        self._server: asyncio.Server | None = None
        self.address = ""
        # The runtime's last /next (epoch s), and what waits for its next one: the invoke's
        # platform.runtimeDone, whose runtimeOverhead span ends there (lamina.scheduler).
        self.last_next_at = 0.0
        self.on_next: Callable[[float | None], None] | None = None

    async def start(self, host: str = "127.0.0.1", sock: socket.socket | None = None) -> str:
        """Listen on ``sock`` (a listener made in the environment's network namespace), or
        on a free port of ``host``; returns ``host:port`` for AWS_LAMBDA_RUNTIME_API."""
        if sock is not None:
            bound_host, port = sock.getsockname()[:2]
            self._server = await serve_socket(
                self.handle,
                sock,
                max_body=protocol.MAX_RESPONSE_BYTES,
                stream_picker=self._pick_stream,
                limits=_LIMITS,
            )
            self.address = f"{bound_host}:{port}"
            return self.address
        self._server = await serve(
            self.handle,
            host,
            0,
            max_body=protocol.MAX_RESPONSE_BYTES,
            backlog=64,
            stream_picker=self._pick_stream,
            limits=_LIMITS,
        )
        self.address = f"{host}:{bound_port(self._server)}"
        return self.address

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        if self._parked is not None:
            self._parked.close()
            self._parked = None
        for d in (self._waiting, self._current):
            if d is not None and not d.answer.done():
                d.answer.cancel()
        self._waiting = self._current = None
        self.settle_next()
        self.extensions.close()
        self.telemetry.close()

    # -- the platform side ------------------------------------------------------------
    async def wait_next(self, timeout_s: float) -> None:
        """Wait at most ``timeout_s`` for the runtime's next ``/next``, if something waits
        for it (an invoke's ``platform.runtimeDone``); return at once otherwise."""
        hook = self.on_next
        if hook is None:
            return
        asked: asyncio.Future[None] = self.loop.create_future()

        def then(at: float | None) -> None:
            hook(at)
            if not asked.done():
                asked.set_result(None)

        self.on_next = then
        try:
            await asyncio.wait_for(asyncio.shield(asked), timeout_s)
        except TimeoutError:
            return  # it did not ask: settle_next sends runtimeDone without the span

    def settle_next(self) -> None:
        """The runtime will not ask again (reset, shutdown): run what waits for it now."""
        hook, self.on_next = self.on_next, None
        if hook is not None:
            hook(None)

    def deliver(self, delivery: Delivery) -> None:
        """Hand an event to the runtime now if it waits on ``/next``, else when it asks."""
        if self._current is not None or self._waiting is not None:
            raise RuntimeError("environment already has an event in flight")
        conn = self._parked
        self._parked = None
        if conn is None or not self._send_event(conn, delivery):
            self._waiting = delivery
        if self.extensions.by_id:
            # INVOKE goes to the extensions as the runtime gets the event (just after).
            self.extensions.invoke(
                delivery.request_id, delivery.deadline_ms, delivery.function_arn, delivery.trace_id
            )

    def forget(self, request_id: str) -> None:
        """Drop an event the platform gave up on (timeout): a late answer gets 403."""
        for d in (self._waiting, self._current):
            if d is not None and d.request_id == request_id:
                self._answered.append(request_id)
        if self._waiting is not None and self._waiting.request_id == request_id:
            self._waiting = None
        if self._current is not None and self._current.request_id == request_id:
            self._current = None

    def fail_current(self, answer: RuntimeAnswer) -> None:
        """End the event in flight without the runtime's word (its process died)."""
        for d in (self._current, self._waiting):
            if d is not None and not d.answer.done():
                d.answer.set_result(answer)
        self._current = self._waiting = None

    # -- the runtime side -------------------------------------------------------------
    def _pick_stream(self, req: Request, conn: HttpConnection) -> StreamFeed | None:
        """At a chunked request's head: stream it if it is the streaming response to the
        event in flight and that event's caller reads a stream."""
        request_id = protocol.streaming_request_id(req)
        current = self._current
        if (
            request_id is None
            or current is None
            or current.request_id != request_id
            or current.stream is None
        ):
            return None
        stream = current.stream
        current.responding_at = time.perf_counter()
        stream.start(req.headers.get("content-type"), conn.pause_reading, conn.resume_reading)
        self._feed = feed = StreamFeed(request_id, stream)
        return feed

    async def _streamed(self, feed: StreamFeed) -> Response:
        answer = await feed.done
        if self._feed is feed:
            self._feed = None
        reply = protocol.too_large() if feed.stream.too_large else None
        return self._finish(feed.request_id, answer, reply=reply)

    def handle(self, req: Request, conn: HttpConnection) -> HandlerResult:
        if req.streamed and self._feed is not None:
            return self._streamed(self._feed)
        path = req.path
        if path.startswith(extensions.PREFIX):
            answer = self.extensions.handle(req, conn)
            failed = self.extensions.init_failed
            if failed is not None and not self.ready.done() and not self.init_failed.done():
                self.init_failed.set_result(InitFailure(failed.error_document(), failed.fatal_type))
            return answer
        if path in (TELEMETRY_PATH, LOGS_PATH) and req.method == "PUT":
            ident = req.headers.get(extensions.IDENTIFIER, "")
            if ident not in self.extensions.by_id:
                return protocol.unknown(protocol.Unknown(403, "unknown extension identifier"))
            return self.telemetry.subscribe(ident, req.body, legacy=path == LOGS_PATH)
        if path.startswith(LAUNCHER_PREFIX):
            return self._launcher(req)
        action = protocol.parse_action(req)
        if isinstance(action, protocol.Next):
            return self._on_next(conn)
        if isinstance(action, protocol.PostResponse):
            if action.too_large:
                return self._finish(
                    action.request_id,
                    RuntimeAnswer(
                        False, b"", "Function.ResponseSizeTooLarge", True, time.perf_counter()
                    ),
                    reply=protocol.too_large(),
                )
            return self._acknowledge(
                conn,
                self._finish(
                    action.request_id,
                    RuntimeAnswer(True, action.body, None, False, time.perf_counter()),
                ),
            )
        if isinstance(action, protocol.PostError):
            return self._acknowledge(
                conn,
                self._finish(
                    action.request_id,
                    RuntimeAnswer(
                        False, action.body, action.error_type, False, time.perf_counter()
                    ),
                ),
            )
        if isinstance(action, protocol.InitError):
            if self.ready.done() or self.init_failed.done():
                return protocol.invalid_state("init")
            self.init_failed.set_result(InitFailure(action.body, action.error_type))
            return protocol.accepted()
        return protocol.unknown(action)

    @staticmethod
    def _acknowledge(conn: HttpConnection, reply: Response) -> Response | None:
        """The answer to an invoke's answer. The ``202`` is held for the connection's next
        write when the runtime's next request is already there (the wire layer checks):
        the ``202`` and the next event then reach the runtime in one write."""
        if reply is protocol.ACCEPTED:
            conn.send(reply, hold=True)
            return None  # answered (or held): the connection goes on with its next request
        return reply

    def flush(self) -> None:
        """Send the ``202`` held on the runtime's parked ``/next`` connection now (before
        the environment is frozen: it never waits out an idle period)."""
        parked = self._parked
        if parked is not None:
            parked.flush()

    def _launcher(self, req: Request) -> Response:
        """Lamina's extension launcher asks whether the extensions it started registered
        (``ready?count=N``), or says one of them exited (``exited?name=X&status=S``), or
        that the runtime did in SHUTDOWN (``exited?runtime=S``)."""
        verb = req.path[len(LAUNCHER_PREFIX) :]
        query = req.query
        if verb == "exited" and "runtime" in query:
            if not self.runtime_gone.done():
                self.runtime_gone.set_result(None)
            return Response(202, b"")
        if verb == "exited":
            name = query.get("name", "")
            if not self.ready.done() and not self.init_failed.done():
                # Gone before INIT ended: INIT fails as on Lambda.
                message = f"Extension {name} exited with status {query.get('status', '?')}"
                error_type = self.extensions.exit_error_type()
                body = json.dumps({"errorMessage": message, "errorType": error_type})
                self.init_failed.set_result(InitFailure(body.encode(), error_type))
            ext = self.extensions.exited(name)
            crashed = ext is not None and self.ready.done() and not self.extensions.shutting_down
            if crashed and self.on_extension_crash is not None:
                self.on_extension_crash(name)
            return Response(202, b"")
        try:
            count = int(query.get("count", "0"))
        except ValueError:
            count = 0
        if len(self.extensions) >= count:
            return Response(200, b"ready")
        return Response(409, b"waiting")

    def _check_ready(self) -> None:
        # INIT is over when the runtime and every extension have asked for their next event.
        if (
            self._runtime_ready
            and not self.ready.done()
            and not self.init_failed.done()
            and self.extensions.all_settled()
        ):
            self.extensions.init_closed = True
            self.telemetry.end_init()
            self.ready.set_result(time.perf_counter())

    def _on_next(self, conn: HttpConnection) -> Response | None:
        self.last_next_at = now = time.time()
        hook = self.on_next
        if hook is not None:
            self.on_next = None
            hook(now)
        if not self._runtime_ready:
            self._runtime_ready = True
            self._check_ready()
        if self._current is not None:
            # A runtime asking for more work without answering has dropped the event.
            d, self._current = self._current, None
            if not d.answer.done():
                d.answer.set_result(
                    RuntimeAnswer(
                        False,
                        b'{"errorMessage":"runtime asked for the next event without '
                        b'answering this one","errorType":"Runtime.InvalidResponse"}',
                        "Runtime.InvalidResponse",
                        False,
                        time.perf_counter(),
                    )
                )
        waiting = self._waiting
        if waiting is not None:
            self._waiting = None
            self._current = waiting
            waiting.delivered_at = time.perf_counter()
            return self._event(waiting)
        if self._parked is not None and not self._parked.closed:
            self._parked.close()  # only one /next can wait; the newest wins
        self._parked = conn
        # One bound method for every /next: a kept-alive connection holds one entry, not
        # one per warm invoke (they used to pile up until the connection closed).
        conn.on_lost(self._parked_lost)
        return None

    def _parked_lost(self) -> None:
        parked = self._parked
        if parked is not None and parked.closed:
            self._parked = None

    def _send_event(self, conn: HttpConnection, delivery: Delivery) -> bool:
        if conn.closed:
            return False
        self._current = delivery
        delivery.delivered_at = time.perf_counter()
        if not conn.send(self._event(delivery)):
            self._current = None
            return False
        return True

    @staticmethod
    def _event(d: Delivery) -> Response:
        return protocol.event_response(
            d.payload,
            d.request_id,
            d.deadline_ms,
            d.function_arn,
            d.trace_id,
            d.client_context,
            d.cognito_identity,
        )

    def _finish(
        self, request_id: str, answer: RuntimeAnswer, reply: Response | None = None
    ) -> Response:
        current = self._current
        if current is None or current.request_id != request_id:
            if request_id in self._answered:
                return protocol.invalid_state(request_id)
            return protocol.invalid_request_id(request_id)
        self._current = None
        self._answered.append(request_id)
        if not current.answer.done():
            current.answer.set_result(answer)
        return reply if reply is not None else protocol.accepted()
