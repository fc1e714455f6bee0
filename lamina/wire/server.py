"""A thin asyncio HTTP/1.1 server: sockets in, :class:`Request` values out, one write back.

A handler answers a request in one of three ways, so the hot path costs no task when it
need not: return a :class:`Response` (sent at once), return a coroutine (run as a task,
its response sent when done), or return ``None`` after keeping the connection to answer
later with :meth:`HttpConnection.send` (how the Runtime API parks a ``/next`` until work
arrives). Requests on one connection are answered in order, in a loop (10,000 pipelined
requests cost no stack).

Memory per connection stays bounded whatever the client does (:class:`HttpLimits`): a
client that sends requests without reading the answers is stopped being read once the
transport's write buffer is over its high-water mark or a few requests are queued
(``pause_reading``), and slow or silent clients are closed by one sweeper per server.

A coroutine may also stream its answer: :meth:`HttpConnection.start_stream` sends the head
(``Transfer-Encoding: chunked``), :meth:`~HttpConnection.write_chunk` each piece as it is
produced (await :meth:`~HttpConnection.drain` after it: the transport's write-buffer
limits are respected), and returning :class:`Streamed` ends the body. Streamed *request*
bodies (a runtime's streaming response) are picked per request with a ``stream_picker``
(see :class:`~lamina.wire.http.RequestParser`); :meth:`~HttpConnection.pause_reading`
lets their consumer hold the sender back.

An answer may also be *held* (``send(response, hold=True)``) while the client's next
request on the connection has already arrived: its bytes then go out with the
connection's next write, in one ``write`` with the answer to that request (the Runtime
API holds its ``202`` to a runtime that pipelined its ``GET /next`` behind its answer, so
the ``202`` and the next event wake the runtime once). Held bytes never wait on their
own: they go out with the next answer, on :meth:`HttpConnection.flush`, before the
server closes the connection, or at once if nothing is left in progress.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from lamina.wire.http import (
    BodySink,
    HttpLimits,
    HttpParseError,
    Request,
    RequestParser,
    Response,
    Screen,
    render_response,
)

__all__ = [
    "HttpConnection",
    "HttpLimits",
    "Response",
    "Streamed",
    "bound_port",
    "render_response",
    "serve",
    "serve_socket",
]

log = logging.getLogger("lamina.http")


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

# Parsed requests waiting behind the one in progress before the connection stops being
# read (a pipelining client gets its answers in order; it cannot queue without bound).
MAX_QUEUED = 32
# ... or when the queued requests' bodies hold this much (32 pipelined 70 MB uploads must
# not be 2 GB in memory; one body being read is bounded by max_body on its own).
MAX_QUEUED_BYTES = 1024 * 1024
# A refused connection lingers (see HttpConnection._refuse): at most this long, reading
# and discarding at most this much of what its client still sends.
LINGER_S = 2.0
LINGER_MAX_BYTES = 64 * 1024 * 1024
_INTERNAL_ERROR = b'{"message":"Internal error"}'


class HttpConnection(asyncio.Protocol):
    """One client connection. Owns the parser and the order of answers."""

    __slots__ = (
        "_body_bytes",
        "_body_since",
        "_busy",
        "_closed",
        "_dispatching",
        "_handler",
        "_head_since",
        "_held",
        "_held_out",
        "_last_io",
        "_linger_left",
        "_loop",
        "_lost_callbacks",
        "_parser",
        "_queue",
        "_queued_bytes",
        "_read_paused",
        "_streaming",
        "_sweeper",
        "_task",
        "_transport",
        "_writable",
        "_write_paused",
        "peer",
    )

    def __init__(
        self,
        handler: Handler,
        max_body: int,
        limits: HttpLimits | None = None,
        screen: Screen | None = None,
        sweeper: _Sweeper | None = None,
        stream_picker: StreamPicker | None = None,
    ) -> None:
        self._handler = handler
        picker = None if stream_picker is None else (lambda req: stream_picker(req, self))
        self._parser = RequestParser(max_body, picker, limits=limits, screen=screen)
        self._streaming = False  # a chunked answer is under way
        self._writable: asyncio.Future[None] | None = None  # set while writing is paused
        self._held = False  # a streamed body's consumer asked to stop reading
        self._held_out = b""  # an answer held to go out with the next write (send(hold=))
        self._transport: asyncio.Transport | None = None
        self._queue: deque[Request] = deque()
        self._queued_bytes = 0
        self._busy: Request | None = None
        self._task: asyncio.Task[None] | None = None
        # Set once the connection is made (asyncio.get_running_loop() is a getpid() system
        # call in Python 3.11: not once per request).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._linger_left = 0  # bytes a refused connection may still discard
        self._dispatching = False
        self._write_paused = False
        self._read_paused = False
        self._lost_callbacks: list[Callable[[], None]] = []
        self._sweeper = sweeper
        self._last_io = time.monotonic()
        self._head_since = 0.0  # when the head now arriving began (0: none arriving)
        self._body_since = 0.0  # when the body now arriving began (0: none arriving)
        self._body_bytes = 0  # what has arrived of it since
        self.peer: tuple[str, int] | None = None

    # -- asyncio.Protocol -------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._loop = asyncio.get_running_loop()
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):  # not a TCP socket
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.peer = transport.get_extra_info("peername")
        if self._sweeper is not None:
            self._sweeper.add(self)

    def data_received(self, data: bytes) -> None:
        if self._closed:
            if self._linger_left > 0:  # refused: what the client still sends is discarded
                self._linger_left -= len(data)
                if self._linger_left <= 0 and self._transport is not None:
                    self._transport.close()
            return
        parser = self._parser
        now = self._last_io = time.monotonic()
        try:
            requests = parser.feed(data)
        except HttpParseError as exc:
            log.debug("closing connection from %s: %s", self.peer, exc)
            self._refuse(exc.status)
            return
        if parser.in_head():
            if not self._head_since:
                self._head_since = now
            self._body_since = 0.0
        else:
            self._head_since = 0.0
            if not parser.mid_message():
                self._body_since = 0.0
            elif self._body_since:
                self._body_bytes += len(data)
            else:  # the head just ended: the body's clock starts
                self._body_since, self._body_bytes = now, 0
        if parser.continue_due:
            parser.continue_due = False
            if parser.has_pending():
                self._write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if requests:
            self._queue.extend(requests)
            if len(requests) == 1:  # the usual case: no generator
                self._queued_bytes += len(requests[0].body)
            else:
                self._queued_bytes += sum(len(r.body) for r in requests)
            if len(self._queue) >= MAX_QUEUED or self._queued_bytes > MAX_QUEUED_BYTES:
                self._update_reading()
            if self._busy is None:
                self._next()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._held_out = b""
        self._parser.abort()
        self._wake_writer()
        if self._sweeper is not None:
            self._sweeper.discard(self)
        if self._task is not None and not self._task.done():
            self._task.cancel()
        callbacks, self._lost_callbacks = self._lost_callbacks, []
        for cb in callbacks:
            cb()

    def pause_writing(self) -> None:
        # The client is not reading its answers: stop reading its requests.
        self._write_paused = True
        if self._writable is None:
            self._writable = asyncio.get_running_loop().create_future()
        self._update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()
        self._update_reading()
        if self._busy is None and self._queue:
            self._next()

    def _wake_writer(self) -> None:
        waiter, self._writable = self._writable, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- for handlers -----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def lost_watchers(self) -> int:
        """How many callbacks wait for this connection to go away (stays bounded)."""
        return len(self._lost_callbacks)

    def on_lost(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once if the client goes away (e.g. a parked ``/next``).

        Registering the same callback again (an equal bound method) is a no-op, so an
        owner that watches every request of a kept-alive connection holds one entry,
        not one per request.
        """
        if self._closed:
            callback()
        elif callback not in self._lost_callbacks:
            self._lost_callbacks.append(callback)

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> bool:
        """Send the head of a chunked answer to the request in progress (a handler's
        coroutine then writes chunks and returns :class:`Streamed`)."""
        if self._busy is None or self._closed or self._streaming:
            return False
        self._streaming = True
        lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}"]
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
        """Hold the sender back (a streamed body's consumer is behind)."""
        self._held = True
        self._update_reading()

    def resume_reading(self) -> None:
        self._held = False
        self._update_reading()

    def send(self, response: Response, *, hold: bool = False) -> bool:
        """Answer the request in progress; False if the client has gone.

        ``hold``: if the client's next request has arrived already, keep the answer's
        bytes to go out with the connection's next write (see the module's docstring);
        otherwise, or when the connection is to close, send it now."""
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
        if hold and keep and self._queue:
            self._held_out += response.render()
        else:
            self._write(response.render(close=not keep))
        if not keep:
            self.close()
            return True
        if self._queue:
            self._next()  # a no-op inside _next's own loop: no recursion
        return True

    @property
    def holding(self) -> bool:
        """Whether a held answer waits for the connection's next write."""
        return bool(self._held_out)

    def flush(self) -> None:
        """Send a held answer now (nothing to send: nothing happens)."""
        held = self._held_out
        if held:
            self._held_out = b""
            self._write(held)

    def close(self) -> None:
        if self._transport is not None and not self._closed:
            self.flush()  # an answer already given is not lost with the connection
            self._transport.close()
        self._closed = True

    # -- internals --------------------------------------------------------------------
    def _write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            held = self._held_out
            if held:  # one write for both: one send, one wake-up of the client
                self._held_out = b""
                data = held + data
            transport.write(data)
            self._last_io = time.monotonic()

    def _refuse(self, status: int) -> None:
        """Answer a connection the server will read no more of, and close it.

        A lingering close, as HTTP servers make one: the client may still be sending what
        was refused (the rest of a huge head or body), and a socket closed with bytes
        unread makes the kernel answer with a reset, which the client sees instead of the
        refusal and its end of stream. So the answer goes out with a FIN (``write_eof``),
        what still arrives is discarded, and the connection closes when the client closes
        its end, after :data:`LINGER_S`, or past :data:`LINGER_MAX_BYTES`."""
        body = b'{"message":"%s"}' % HTTPStatus(status).phrase.encode()
        headers = {"Content-Type": "application/json"}
        self._write(render_response(status, headers, body, close=True))
        transport = self._transport
        if (
            transport is None
            or self._closed
            or transport.is_closing()
            or not transport.can_write_eof()
            or self._loop is None
        ):
            self.close()
            return
        self.flush()
        self._closed = True  # nothing more is parsed, dispatched or answered
        self._linger_left = LINGER_MAX_BYTES
        transport.write_eof()
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        self._loop.call_later(LINGER_S, transport.close)

    def _update_reading(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pause = (
            self._held
            or self._write_paused
            or len(self._queue) >= MAX_QUEUED
            or self._queued_bytes > MAX_QUEUED_BYTES
        )
        if pause != self._read_paused:
            self._read_paused = pause
            if pause:
                transport.pause_reading()
            else:
                transport.resume_reading()

    def _next(self) -> None:
        if self._dispatching:
            return
        self._dispatching = True
        try:
            self._dispatch()
        finally:
            self._dispatching = False
        if self._held_out and self._busy is None:
            self.flush()  # nothing in progress to go out with: held bytes never wait alone

    def _dispatch(self) -> None:
        queue = self._queue
        while queue and self._busy is None and not self._closed and not self._write_paused:
            req = queue.popleft()
            self._queued_bytes -= len(req.body)
            if self._read_paused:
                self._update_reading()
            self._busy = req
            result: HandlerResult
            if req.answer is not None:
                result = req.answer  # refused from its head by the server's screen
            else:
                try:
                    result = self._handler(req, self)
                except Exception:  # a handler bug must not kill the connection silently
                    log.exception("handler failed for %s %s", req.method, req.path)
                    result = Response(
                        500, _INTERNAL_ERROR, {"x-amzn-ErrorType": "ServiceException"}
                    )
            if result is None:
                continue  # parked: the handler answers later with send() (the loop ends)
            if isinstance(result, Response):
                self.send(result)
                continue
            loop = self._loop or asyncio.get_running_loop()
            self._task = loop.create_task(self._answer(result))
            return

    async def _answer(self, pending: Coroutine[Any, Any, Response]) -> None:
        """Await a handler's answer and send it in the same task step: a done callback
        would send it one loop iteration later (a poll and a callback more per request).
        A cancelled handler (the client went away) sends nothing."""
        try:
            response = await pending
        except Exception:
            log.exception("handler task failed")
            response = Response(500, _INTERNAL_ERROR, {"x-amzn-ErrorType": "ServiceException"})
        self._task = None
        self.send(response)

    def sweep(self, now: float, limits: HttpLimits) -> None:
        """Close the connection if its client is too slow or silent (the sweeper's tick)."""
        if self._closed or self._busy is not None or self._queue or self._write_paused:
            return  # the server owes this client something: not the client's delay
        parser = self._parser
        if parser.in_head():
            limit = limits.header_timeout_s
            if limit is not None and self._head_since and now - self._head_since > limit:
                log.debug("closing %s: request head not complete after %gs", self.peer, limit)
                self._refuse(408)
            return
        limit = limits.body_timeout_s
        if limit is not None and self._body_since and parser.mid_message():
            allowed = limit + self._body_bytes / max(1, limits.min_body_rate)
            if now - self._body_since > allowed:
                log.debug("closing %s: request body slower than the minimum rate", self.peer)
                self._refuse(408)
                return
        limit = limits.idle_timeout_s
        if limit is not None and now - self._last_io > limit:
            if parser.mid_message():
                log.debug("closing %s: request body stalled for %gs", self.peer, limit)
                self._refuse(408)
            else:
                self.close()  # an idle keep-alive connection: clients reconnect quietly


class _Sweeper:
    """One timer per server that closes slow and idle connections (none on the hot path)."""

    __slots__ = ("_conns", "_handle", "_limits", "_period")

    def __init__(self, limits: HttpLimits) -> None:
        self._limits = limits
        self._conns: set[HttpConnection] = set()
        self._handle: asyncio.TimerHandle | None = None
        timeouts = [
            t for t in (limits.header_timeout_s, limits.idle_timeout_s, limits.body_timeout_s) if t
        ]
        self._period = max(0.05, min(1.0, min(timeouts) / 4)) if timeouts else 1.0

    def add(self, conn: HttpConnection) -> None:
        self._conns.add(conn)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_later(self._period, self._tick)

    def discard(self, conn: HttpConnection) -> None:
        self._conns.discard(conn)

    def _tick(self) -> None:
        self._handle = None
        now = time.monotonic()
        for conn in list(self._conns):
            conn.sweep(now, self._limits)
        if self._conns:  # stops with the last connection: nothing outlives the server
            self._handle = asyncio.get_running_loop().call_later(self._period, self._tick)


async def serve(
    handler: Handler,
    host: str,
    port: int,
    *,
    max_body: int,
    backlog: int = 1024,
    limits: HttpLimits | None = None,
    screen: Screen | None = None,
    stream_picker: StreamPicker | None = None,
) -> asyncio.Server:
    """Listen on ``host:port`` (0 = any free port) and hand requests to ``handler``.

    ``limits``: header limits and timeouts (default :class:`HttpLimits`). ``screen``:
    refuses a request from its head alone, before its body is read (see ``Screen``).
    """
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        _factory(handler, max_body, limits, screen, stream_picker),
        host,
        port,
        backlog=backlog,
        reuse_address=True,
    )


async def serve_socket(
    handler: Handler,
    sock: socket.socket,
    *,
    max_body: int,
    limits: HttpLimits | None = None,
    screen: Screen | None = None,
    stream_picker: StreamPicker | None = None,
) -> asyncio.Server:
    """Serve ``handler`` on an already listening socket (one made in another network
    namespace, for instance), as :func:`serve` does; closing the server closes the socket."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        _factory(handler, max_body, limits, screen, stream_picker), sock=sock
    )


def _factory(
    handler: Handler,
    max_body: int,
    limits: HttpLimits | None,
    screen: Screen | None,
    stream_picker: StreamPicker | None,
) -> Callable[[], HttpConnection]:
    limits = limits or HttpLimits()
    guarded = None if screen is None else _guarded(screen)
    timed = any(
        t is not None
        for t in (limits.header_timeout_s, limits.idle_timeout_s, limits.body_timeout_s)
    )
    sweeper = _Sweeper(limits) if timed else None
    return lambda: HttpConnection(handler, max_body, limits, guarded, sweeper, stream_picker)


def _guarded(screen: Screen) -> Screen:
    """A screen whose bug lets the request through (the handler still decides) and is
    logged, instead of killing the connection from inside ``data_received``."""

    def guarded(req: Request) -> Response | None:
        try:
            return screen(req)
        except Exception:
            log.exception("screen failed for %s %s; the handler decides", req.method, req.path)
            return None

    return guarded


def bound_port(server: asyncio.Server) -> int:
    sockets = server.sockets
    return int(sockets[0].getsockname()[1])
