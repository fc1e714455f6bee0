"""HTTP/1.1 message parsing and rendering, with no sockets in sight.

Lamina serves two HTTP faces (the Lambda API and the Runtime API) and both sit on the
invoke hot path, so the wire layer is small and allocation-light: an incremental parser
fed raw bytes that yields :class:`Request` values, and a renderer that builds a whole
answer as one buffer so it goes out in one ``write`` (split writes cost ~40 ms through
Nagle and delayed ACKs).

The parser is also the first line of defence of a server that strangers can reach, so
everything it holds is bounded (see :class:`HttpLimits`): a head over the byte or line
limit is refused with 431, a body is streamed chunk piece by chunk piece and stops being
kept the moment it passes ``max_body``, and a request the server refuses from its head
alone (``screen``) has its body read and dropped, never held.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qsl

from lamina.errors import LaminaError

# Defaults of :class:`HttpLimits`; the API server takes them from Settings.
MAX_HEADER_BYTES = 32 * 1024
MAX_HEADERS = 100
# A chunk-size line ("1a2b;ext=..."): real clients send a few bytes.
MAX_CHUNK_LINE = 1024

_STATUS_LINES = {s.value: f"HTTP/1.1 {s.value} {s.phrase}\r\n" for s in HTTPStatus}
_HEX = frozenset(b"0123456789abcdefABCDEF")

# Parser states: where the next bytes of the connection belong.
_HEAD, _FIXED, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS = range(6)


class HttpParseError(LaminaError):
    """Bytes on a connection that are not acceptable HTTP/1.1; answered, then closed."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one connection may make the server hold, and for how long.

    ``header_timeout_s``: a request head must be complete this long after its first
    byte (slow-loris senders get 408). ``idle_timeout_s``: a connection on which the
    server owes nothing and receives nothing for this long is closed. ``None``: no limit
    (the Runtime API: its only client is the environment's own runtime, which may be
    frozen for minutes between events). ``body_timeout_s`` and ``min_body_rate``: a body
    must be complete ``body_timeout_s`` after its head, plus one second for every
    ``min_body_rate`` bytes received (Apache ``mod_reqtimeout``'s rule), so a client
    trickling a body slower than that on average gets 408, however often it sends a byte.
    """

    max_header_bytes: int = MAX_HEADER_BYTES
    max_headers: int = MAX_HEADERS
    header_timeout_s: float | None = 20.0
    idle_timeout_s: float | None = 60.0
    body_timeout_s: float | None = 20.0
    min_body_rate: int = 500  # bytes per second, on average


@dataclass(slots=True)
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def render(self, close: bool = False) -> bytes:
        return render_response(self.status, self.headers, self.body, close=close)


@dataclass(slots=True)
class Request:
    """One parsed request. Header names are lower-cased; repeated headers comma-joined."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    version: str = "HTTP/1.1"
    # Set when the body was over the parser's limit: it is read and dropped, and the
    # request comes out as soon as the limit is passed (not when the body ends).
    too_large: bool = False
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
    # The answer the server's screen gave from the head alone: sent without the handler.
    answer: Response | None = None
    # The client waits for "100 Continue" and was refused instead: its body may or may
    # not follow, so the connection cannot be reused.
    must_close: bool = False
    # A chunked body's trailer fields (lower-cased names), e.g. the Runtime API's error.
    trailers: dict[str, str] = field(default_factory=dict)
    # Handed over at its head: the body goes to a :class:`BodySink` as it arrives.
    streamed: bool = False

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def query(self) -> dict[str, str]:
        return dict(parse_qsl(self.target.partition("?")[2], keep_blank_values=True))

    @property
    def keep_alive(self) -> bool:
        if self.must_close:
            return False
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


class Rendered(Response):
    """A constant answer rendered once, both with and without ``Connection: close``, and
    sent as those bytes every time (e.g. the Runtime API's 202 to every invoke's answer).
    Its status, headers and body must not be changed once it is made."""

    __slots__ = ("_closing", "_open")

    def __init__(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
        super().__init__(status, body, headers or {})
        self._open = render_response(status, self.headers, body)
        self._closing = render_response(status, self.headers, body, close=True)

    def render(self, close: bool = False) -> bytes:
        return self._closing if close else self._open


# Decides from a request's head alone whether to refuse it (its body is then dropped).
Screen = Callable[[Request], Response | None]


class BodySink(Protocol):
    """Where a streamed request's body goes, chunk by chunk, as it arrives."""

    def data(self, chunk: bytes) -> None: ...

    def end(self, trailers: dict[str, str]) -> None: ...

    def abort(self) -> None:
        """The connection ended before the last chunk."""


# Decides, at a chunked request's head, whether its body is streamed (and where to).
StreamPicker = Callable[[Request], BodySink | None]


def _trailers(block: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        name, colon, value = line.partition(":")
        if colon and name:
            out[name.strip().lower()] = value.strip()
    return out


def render_response(
    status: int,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    close: bool = False,
) -> bytes:
    """Render a full answer, headers and body, into a single buffer."""
    head = _STATUS_LINES.get(status) or f"HTTP/1.1 {status} Unknown\r\n"
    for name, value in headers.items() if isinstance(headers, dict) else (headers or ()):
        head += f"{name}: {value}\r\n"  # (extended in place once the str is ours alone)
    if close:
        head += f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    else:
        head += f"Content-Length: {len(body)}\r\n\r\n"
    data = head.encode("latin-1")
    return data + body if body else data


class RequestParser:
    """Incremental HTTP/1.1 request parser (Content-Length and chunked bodies).

    ``feed(data)`` returns the requests completed by ``data``; partial input is kept,
    bounded: at most one head (``limits.max_header_bytes``) and one body (``max_body``).
    A body over ``max_body``, or of a request ``screen`` refused, is consumed and dropped;
    such a request comes out early, ``too_large`` or with its ``answer`` set, so the
    server can answer at once and keep the connection.
    """

    __slots__ = (
        "_body",
        "_buf",
        "_left",
        "_limits",
        "_max_body",
        "_picker",
        "_req",
        "_screen",
        "_sink",
        "_state",
        "continue_due",
    )

    def __init__(
        self,
        max_body: int,
        stream_picker: StreamPicker | None = None,
        *,
        limits: HttpLimits | None = None,
        screen: Screen | None = None,
    ) -> None:
        """``stream_picker``: a chunked request it gives a :class:`BodySink` for comes out at
        its head (``streamed`` set) and its chunks go to the sink as they arrive, with no
        size limit here: the sink bounds what it keeps (a streamed function response)."""
        self._max_body = max_body
        self._picker = stream_picker
        self._sink: BodySink | None = None
        self._limits = limits or HttpLimits()
        self._screen = screen
        self._buf = bytearray()
        self._state = _HEAD
        self._req: Request | None = None  # the request whose body is being read (kept)
        self._left = 0  # body bytes (fixed) or chunk bytes (chunked) still expected
        self._body = bytearray()  # a chunked body so far
        # Set when a request asked for "Expect: 100-continue" and its body has not come yet:
        # the server must say "100 Continue" or the client waits (botocore: one second).
        self.continue_due = False

    def has_pending(self) -> bool:
        """Whether a request's head has been read but not all of its (kept) body."""
        return self._req is not None

    def in_head(self) -> bool:
        """Whether part of a request head has arrived, but not all of it."""
        return self._state == _HEAD and len(self._buf) > 0

    def mid_message(self) -> bool:
        """Whether the connection is inside a request (head or body) right now."""
        return self._state != _HEAD or len(self._buf) > 0

    def abort(self) -> None:
        """The connection is gone: a streamed body in progress will never end."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abort()

    def feed(self, data: bytes) -> list[Request]:
        if data:
            self._buf += data
        out: list[Request] = []
        while True:
            if self._state == _HEAD:
                req = self._parse_head()
                if req is None:
                    return out
                if self._req is None:  # refused from its head: out now, body dropped
                    out.append(req)
            done = self._parse_fixed() if self._state == _FIXED else self._parse_chunked(out)
            if not done:
                return out
            if self._req is not None:
                out.append(self._req)
                self._req = None
            self._state = _HEAD
            if not self._buf:  # the usual end: one whole request, nothing after it
                return out

    # -- head -------------------------------------------------------------------------
    def _parse_head(self) -> Request | None:
        limits = self._limits
        buf = self._buf
        end = buf.find(b"\r\n\r\n", 0, limits.max_header_bytes + 4)
        if end < 0:
            if len(buf) > limits.max_header_bytes:
                if buf.find(b"\r\n", 0, limits.max_header_bytes) < 0:
                    raise HttpParseError("request line too long", 414)
                raise HttpParseError("request head too large", 431)
            return None
        lines = buf[:end].decode("latin-1").split("\r\n")
        del buf[: end + 4]
        if len(lines) > limits.max_headers + 1:
            raise HttpParseError(f"more than {limits.max_headers} header lines", 431)
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpParseError(f"bad request line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        raw: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            # (whitespace around the name, tested without making a stripped copy)
            if not colon or not name or name[0].isspace() or name[-1].isspace():
                raise HttpParseError(f"bad header line {line[:80]!r}")
            value = value.strip()
            raw.append((name, value))
            key = name.lower()
            if key in headers:
                headers[key] = f"{headers[key]},{value}"
            else:
                headers[key] = value
        # Positional: a dataclass's keyword arguments cost more (once per request).
        req = Request(parts[0], parts[1], headers, b"", parts[2], False, raw)
        expects = headers.get("expect", "").lower() == "100-continue"
        te = headers.get("transfer-encoding", "").lower()
        if te:
            if te != "chunked":
                raise HttpParseError(f"unsupported transfer-encoding {te!r}")
            self._state = _CHUNK_SIZE
            self._body = bytearray()
            length = -1
        else:
            try:
                length = int(headers.get("content-length", "0"))
            except ValueError as exc:
                raise HttpParseError("bad content-length") from exc
            if length < 0:
                raise HttpParseError("negative content-length")
            self._state = _FIXED
            self._left = length
        if self._screen is not None:  # first: a stranger learns nothing, not even limits
            req.answer = self._screen(req)
        req.too_large = req.answer is None and length > self._max_body
        if req.too_large or req.answer is not None:
            # Refused on its head: the body (if the client sends it) is read and dropped.
            # A client that waits for "100 Continue" may never send it: close after.
            req.must_close = expects
            self._req = None
        else:
            self._req = req
            self.continue_due = expects and length != 0
            if length < 0 and self._picker is not None:
                self._sink = self._picker(req)
                if self._sink is not None:
                    # Handed over at its head; its chunks go to the sink as they come.
                    req.streamed = True
                    self._req = None
        return req

    # -- bodies -----------------------------------------------------------------------
    def _parse_fixed(self) -> bool:
        buf = self._buf
        req = self._req
        if req is None:  # dropping
            take = min(self._left, len(buf))
            del buf[:take]
            self._left -= take
            return self._left == 0
        need = self._left
        if len(buf) < need:
            return False
        if need == len(buf):
            req.body = bytes(buf)
            buf.clear()
        elif need:
            req.body = bytes(memoryview(buf)[:need])
            del buf[:need]
        return True

    def _parse_chunked(self, out: list[Request]) -> bool:
        """Consume chunked framing as far as the bytes go; True at the body's end."""
        buf = self._buf
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                if not buf:
                    return False
                take = min(self._left, len(buf))
                req = self._req
                if self._sink is not None:  # streamed: passed on as it comes
                    self._sink.data(bytes(memoryview(buf)[:take]))
                elif req is not None:
                    if len(self._body) + take > self._max_body:
                        # Over the limit: out now, marked; the rest is read and dropped.
                        req.too_large = True
                        self._body = bytearray()
                        self._req = None
                        out.append(req)
                    else:
                        self._body += memoryview(buf)[:take]
                del buf[:take]
                self._left -= take
                if self._left:
                    return False
                self._state = _CHUNK_END
            elif state == _CHUNK_SIZE:
                end = buf.find(b"\r\n", 0, MAX_CHUNK_LINE)
                if end < 0:
                    if len(buf) >= MAX_CHUNK_LINE:
                        raise HttpParseError("chunk size line too long")
                    return False
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                if not size_text or not _HEX.issuperset(size_text):
                    raise HttpParseError("bad chunk size")
                del buf[: end + 2]
                self._left = int(size_text, 16)
                self._state = _CHUNK_DATA if self._left else _TRAILERS
            elif state == _CHUNK_END:
                if len(buf) < 2:
                    return False
                if buf[:2] != b"\r\n":
                    raise HttpParseError("chunk not followed by CRLF")
                del buf[:2]
                self._state = _CHUNK_SIZE
            else:  # _TRAILERS: optional trailer lines up to a blank line
                if len(buf) < 2:
                    return False
                trailers: dict[str, str] = {}
                if buf[:2] == b"\r\n":
                    del buf[:2]
                else:
                    limit = self._limits.max_header_bytes
                    end = buf.find(b"\r\n\r\n", 0, limit + 4)
                    if end < 0:
                        if len(buf) > limit:
                            raise HttpParseError("trailers too large", 431)
                        return False
                    trailers = _trailers(bytes(buf[:end]))
                    del buf[: end + 4]
                if self._req is not None:
                    self._req.body = bytes(self._body)
                    self._req.trailers = trailers
                self._body = bytearray()
                sink, self._sink = self._sink, None
                if sink is not None:
                    sink.end(trailers)
                return True
