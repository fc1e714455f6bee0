"""One execution environment's Runtime API endpoint: where its runtime pulls events.

Each environment gets its own listening socket on loopback (its ``AWS_LAMBDA_RUNTIME_API``),
so the port tells which environment is calling and no connection is tied to an
environment: awslambdaric keeps one keep-alive connection, aws-lambda-ric opens a new
one for every ``/next`` and answers on yet another. A ``/next`` with no work is parked
until an event is delivered; an event delivered with no ``/next`` waiting is kept until
one arrives.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

from lamina.runtime_api import protocol
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, HttpLimits, Response, bound_port, serve

# No timeouts: the only client is the environment's own runtime, which is frozen between
# events and may hold a connection open, silent, for as long as the environment lives.
_LIMITS = HttpLimits(header_timeout_s=None, idle_timeout_s=None)


@dataclass(frozen=True, slots=True)
class RuntimeAnswer:
    """What the runtime posted for one event."""

    ok: bool
    body: bytes
    error_type: str | None = None
    too_large: bool = False
    at: float = 0.0  # perf_counter() when the answer arrived


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


@dataclass(frozen=True, slots=True)
class InitFailure:
    body: bytes
    error_type: str | None


class RuntimeChannel:
    """The Runtime API state of one environment, driven by HTTP requests."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[float] = loop.create_future()  # first /next: INIT done
        self.init_failed: asyncio.Future[InitFailure] = loop.create_future()
        self._parked: HttpConnection | None = None
        self._waiting: Delivery | None = None  # delivered, no /next yet
        self._current: Delivery | None = None  # handed to the runtime, not answered
        self._answered: deque[str] = deque(maxlen=16)
        self._server: asyncio.Server | None = None
        self.address = ""

    async def start(self, host: str = "127.0.0.1") -> str:
        """Listen on a free loopback port; returns ``host:port`` for AWS_LAMBDA_RUNTIME_API."""
        self._server = await serve(
            self.handle, host, 0, max_body=protocol.MAX_RESPONSE_BYTES, backlog=64, limits=_LIMITS
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

    # -- the platform side ------------------------------------------------------------
    def deliver(self, delivery: Delivery) -> None:
        """Hand an event to the runtime now if it waits on ``/next``, else when it asks."""
        if self._current is not None or self._waiting is not None:
            raise RuntimeError("environment already has an event in flight")
        conn = self._parked
        self._parked = None
        if conn is not None and self._send_event(conn, delivery):
            return
        self._waiting = delivery

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
    def handle(self, req: Request, conn: HttpConnection) -> Response | None:
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
            return self._finish(
                action.request_id,
                RuntimeAnswer(True, action.body, None, False, time.perf_counter()),
            )
        if isinstance(action, protocol.PostError):
            return self._finish(
                action.request_id,
                RuntimeAnswer(False, action.body, action.error_type, False, time.perf_counter()),
            )
        if isinstance(action, protocol.InitError):
            if self.ready.done() or self.init_failed.done():
                return protocol.invalid_state("init")
            self.init_failed.set_result(InitFailure(action.body, action.error_type))
            return protocol.accepted()
        return protocol.unknown(action)

    def _on_next(self, conn: HttpConnection) -> Response | None:
        if not self.ready.done():
            self.ready.set_result(time.perf_counter())
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
