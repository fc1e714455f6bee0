"""A thin asyncio HTTP/1.1 server: sockets in, :class:`Request` values out, one write back.

A handler answers a request in one of three ways, so the hot path costs no task when it
need not: return a :class:`Response` (sent at once), return a coroutine (run as a task,
its response sent when done), or return ``None`` after keeping the connection to answer
later with :meth:`HttpConnection.send` (how the Runtime API parks a ``/next`` until work
arrives). Requests on one connection are answered in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from lamina.wire.http import HttpParseError, Request, RequestParser, render_response

log = logging.getLogger("lamina.http")


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def render(self, close: bool = False) -> bytes:
        return render_response(self.status, self.headers, self.body, close=close)


HandlerResult = Response | Coroutine[Any, Any, Response] | None
Handler = Callable[[Request, "HttpConnection"], HandlerResult]


class HttpConnection(asyncio.Protocol):
    """One client connection. Owns the parser and the order of answers."""

    __slots__ = (
        "_busy",
        "_closed",
        "_handler",
        "_lost_callbacks",
        "_parser",
        "_queue",
        "_task",
        "_transport",
        "peer",
    )

    def __init__(self, handler: Handler, max_body: int) -> None:
        self._handler = handler
        self._parser = RequestParser(max_body)
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        self._busy: Request | None = None
        self._task: asyncio.Task[Response] | None = None
        self._closed = False
        self._lost_callbacks: list[Callable[[], None]] = []
        self.peer: tuple[str, int] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = transport.get_extra_info("peername")

    def data_received(self, data: bytes) -> None:
        try:
            requests = self._parser.feed(data)
        except HttpParseError as exc:
            log.debug("closing connection from %s: %s", self.peer, exc)
            self._write(Response(400, b'{"message":"Bad Request"}').render(close=True))
            self.close()
            return
        if self._parser.continue_due:
            self._parser.continue_due = False
            if not requests or self._parser.has_pending():
                self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if requests:
            self._queue.extend(requests)
            if self._busy is None:
                self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._task is not None and not self._task.done():
            self._task.cancel()
        callbacks, self._lost_callbacks = self._lost_callbacks, []
        for cb in callbacks:
            cb()

    # -- for handlers -----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` if the client goes away (e.g. a parked ``/next``)."""
        if self._closed:
            callback()
        else:
            self._lost_callbacks.append(callback)

    def send(self, response: Response) -> bool:
        """Answer the request in progress; False if the client has gone."""
        req = self._busy
        if req is None or self._closed:
            return False
        self._busy = None
        keep = req.keep_alive
        self._write(response.render(close=not keep))
        if not keep:
            self.close()
            return True
        if self._queue:
            self._next()
        return True

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.close()
        self._closed = True

    # -- internals --------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)

    def _next(self) -> None:
        while self._queue and self._busy is None and not self._closed:
            req = self._queue.popleft()
            self._busy = req
            try:
                result = self._handler(req, self)
            except Exception:  # a handler bug must not kill the connection silently
                log.exception("handler failed for %s %s", req.method, req.path)
                result = Response(
                    500, b'{"message":"Internal error"}', {"x-amzn-ErrorType": "ServiceException"}
                )
            if result is None:
                return  # parked: the handler answers later with send()
            if isinstance(result, Response):
                self.send(result)
                continue
            self._task = asyncio.get_running_loop().create_task(result)
            self._task.add_done_callback(self._task_done)
            return

    def _task_done(self, task: asyncio.Task[Response]) -> None:
        self._task = None
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("handler task failed", exc_info=exc)
            self.send(
                Response(
                    500, b'{"message":"Internal error"}', {"x-amzn-ErrorType": "ServiceException"}
                )
            )
            return
        self.send(task.result())


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    max_body: int,
    backlog: int = 1024,
) -> asyncio.Server:
    """Listen on ``host:port`` (0 = any free port) and hand requests to ``handler``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpConnection(handler, max_body),
        host,
        port,
        backlog=backlog,
        reuse_address=True,
    )


def bound_port(server: asyncio.Server) -> int:
    sockets = server.sockets
    return int(sockets[0].getsockname()[1])
