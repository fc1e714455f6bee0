"""A thin asyncio HTTP/1.1 server: sockets in, :class:`Request` values out, one write back.

A handler answers a request in one of three ways, so the hot path costs no task when it
need not: return a :class:`Response` (sent at once), return a coroutine (run as a task,
its response sent when done), or return ``None`` after keeping the connection to answer
later with :meth:`HttpConnection.send` (how the Runtime API parks a ``/next`` until work
arrives). Requests on one connection are answered in order.

A coroutine may also stream its answer: :meth:`HttpConnection.start_stream` sends the head
(``Transfer-Encoding: chunked``), :meth:`~HttpConnection.write_chunk` each piece as it is
produced (await :meth:`~HttpConnection.drain` after it: the transport's write-buffer
limits are respected), and returning :class:`Streamed` ends the body. Streamed *request*
bodies (a runtime's streaming response) are picked per request with a ``stream_picker``
(see :class:`~lamina.wire.http.RequestParser`); :meth:`~HttpConnection.pause_reading`
lets their consumer hold the sender back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from lamina.wire.http import (
    BodySink,
    HttpParseError,
    Request,
    RequestParser,
    render_response,
)

log = logging.getLogger("lamina.http")

_REASONS = {s.value: s.phrase for s in HTTPStatus}


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def render(self, close: bool = False) -> bytes:
        return render_response(self.status, self.headers, self.body, close=close)


@dataclass(slots=True)
class Streamed(Response):
    """Returned by a handler that streamed its answer: ends the chunked body."""

    status: int = 200
    trailers: list[tuple[str, str]] = field(default_factory=list)


# Decides, at a chunked request's head, whether its body streams to a sink (see
# lamina.wire.http.RequestParser), knowing the connection it came on.
StreamPicker = Callable[[Request, "HttpConnection"], BodySink | None]

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
        "_streaming",
        "_task",
        "_transport",
        "_writable",
        "peer",
    )

    def __init__(
        self, handler: Handler, max_body: int, stream_picker: StreamPicker | None = None
    ) -> None:
        self._handler = handler
        self._parser = RequestParser(
            max_body, None if stream_picker is None else lambda req: stream_picker(req, self)
        )
        self._streaming = False  # a chunked answer is under way
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
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
        self._parser.abort()
        self._wake_writer()
        if self._task is not None and not self._task.done():
            self._task.cancel()
        callbacks, self._lost_callbacks = self._lost_callbacks, []
        for cb in callbacks:
            cb()

    def pause_writing(self) -> None:
        # The transport's write buffer is over its high-water mark.
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writer()

    def _wake_writer(self) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

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

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> bool:
        """Send the head of a chunked answer to the request in progress (a handler's
        coroutine then writes chunks and returns :class:`Streamed`)."""
        if self._busy is None or self._closed or self._streaming:
            return False
        self._streaming = True
        lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
        lines += [f"{name}: {value}" for name, value in headers]
        lines.append("Transfer-Encoding: chunked")
        self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        return True

    def write_chunk(self, data: bytes) -> None:
        """One piece of a streamed answer, sent as it is (empty data sends nothing)."""
        if self._streaming and data:
            self._write(b"%x\r\n%b\r\n" % (len(data), data))

    async def drain(self) -> None:
        """Wait while the transport's write buffer is over its limit (or return if the
        client has gone)."""
        waiter = self._writable
        if waiter is not None and not self._closed:
            await waiter

    def pause_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if self._transport is not None and not self._closed:
            self._transport.resume_reading()

    def send(self, response: Response) -> bool:
        """Answer the request in progress; False if the client has gone."""
        req = self._busy
        if req is None or self._closed:
            return False
        self._busy = None
        keep = req.keep_alive
        if self._streaming:
            self._streaming = False
            if not isinstance(response, Streamed):
                # A failure after the head went out: only closing can tell the client.
                log.warning("streamed answer to %s %s ended abnormally", req.method, req.path)
                self.close()
                return True
            tail = "".join(f"{n}: {v}\r\n" for n, v in response.trailers)
            self._write(f"0\r\n{tail}\r\n".encode("latin-1"))
            if not keep:
                self.close()
                return True
            if self._queue:
                self._next()
            return True
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
    stream_picker: StreamPicker | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0 = any free port) and hand requests to ``handler``."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpConnection(handler, max_body, stream_picker),
        host,
        port,
        backlog=backlog,
        reuse_address=True,
    )


def bound_port(server: asyncio.Server) -> int:
    sockets = server.sockets
    return int(sockets[0].getsockname()[1])


async def serve_socket(
    handler: Handler,
    sock: socket.socket,
    *,
    max_body: int,
    stream_picker: StreamPicker | None = None,
) -> asyncio.Server:
    """Serve ``handler`` on an already listening socket (one made in another network
    namespace, for instance), as :func:`serve` does; closing the server closes the socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: HttpConnection(handler, max_body, stream_picker), sock=sock
    )
