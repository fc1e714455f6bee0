"""HTTP/1.1 message parsing and rendering, with no sockets in sight.

Lamina serves two HTTP faces (the Lambda API and the Runtime API) and both sit on the
invoke hot path, so the wire layer is small and allocation-light: an incremental parser
fed raw bytes that yields :class:`Request` values, and a renderer that builds a whole
answer as one buffer so it goes out in one ``write`` (split writes cost ~40 ms through
Nagle and delayed ACKs).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Protocol
from urllib.parse import parse_qsl

from lamina.errors import LaminaError

MAX_HEADER_BYTES = 64 * 1024

_REASONS = {s.value: s.phrase for s in HTTPStatus}


class HttpParseError(LaminaError):
    """Raised when bytes on a connection are not HTTP/1.1; the connection is closed."""


@dataclass(slots=True)
class Request:
    """One parsed request. Header names are lower-cased; repeated headers comma-joined."""

    method: str
    target: str
    headers: dict[str, str]
    body: bytes
    version: str = "HTTP/1.1"
    # Set when the declared body was over the parser's limit: the body was read and dropped.
    too_large: bool = False
    raw_headers: list[tuple[str, str]] = field(default_factory=list)
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
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return conn == "keep-alive"
        return conn != "close"


def render_response(
    status: int,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    *,
    close: bool = False,
) -> bytes:
    """Render a full answer, headers and body, into a single buffer."""
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    for name, value in items:
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


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


class RequestParser:
    """Incremental HTTP/1.1 request parser (Content-Length and chunked bodies).

    ``feed(data)`` returns the requests completed by ``data``; partial input is kept.
    Bodies declared larger than ``max_body`` are consumed and dropped, and the request
    comes out with ``too_large`` set, so the server can answer 413 and keep the connection.

    With a ``stream_picker``, a chunked request it gives a :class:`BodySink` for comes out
    at its head (``streamed`` set) and its chunks go to the sink as they arrive, with no
    size limit here: the sink bounds what it keeps (a streamed function response).
    """

    __slots__ = (
        "_announced",
        "_buf",
        "_chunked",
        "_chunks",
        "_drop",
        "_left",
        "_max_body",
        "_need",
        "_pending",
        "_picker",
        "_sink",
        "continue_due",
    )

    def __init__(self, max_body: int, stream_picker: StreamPicker | None = None) -> None:
        self._max_body = max_body
        self._buf = bytearray()
        self._pending: Request | None = None
        self._need = 0  # body bytes still expected (Content-Length mode)
        self._chunked = False
        self._chunks = bytearray()
        self._drop = False
        self._picker = stream_picker
        self._sink: BodySink | None = None
        self._announced = False
        self._left = 0  # bytes of a streamed chunk still to come, its CRLF included
        # Set when a request asked for "Expect: 100-continue" and its body has not come yet:
        # the server must say "100 Continue" or the client waits (botocore: one second).
        self.continue_due = False

    def has_pending(self) -> bool:
        """Whether a request's head has been read but not all of its body."""
        return self._pending is not None

    def feed(self, data: bytes) -> list[Request]:
        self._buf += data
        out: list[Request] = []
        while True:
            if self._pending is None and not self._parse_head():
                return out
            req = self._pending
            assert req is not None
            if req.streamed and not self._announced:
                self._announced = True
                out.append(req)  # handed over at its head; the body follows to the sink
            done = self._parse_chunked() if self._chunked else self._parse_fixed()
            if not done:
                return out
            if not req.streamed:
                out.append(req)
            self._pending = None
            self._announced = False

    def abort(self) -> None:
        """The connection is gone: a streamed body in progress will never end."""
        sink, self._sink = self._sink, None
        if sink is not None:
            sink.abort()

    def _parse_head(self) -> bool:
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_BYTES:
                raise HttpParseError("request head too large")
            return False
        try:
            head = bytes(self._buf[:end]).decode("latin-1")
        except UnicodeDecodeError as exc:  # pragma: no cover - latin-1 decodes all bytes
            raise HttpParseError("bad head") from exc
        del self._buf[: end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise HttpParseError(f"bad request line {lines[0][:80]!r}")
        headers: dict[str, str] = {}
        raw: list[tuple[str, str]] = []
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                raise HttpParseError(f"bad header line {line[:80]!r}")
            key = name.lower()
            value = value.strip()
            raw.append((name, value))
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        req = Request(parts[0], parts[1], headers, b"", parts[2], raw_headers=raw)
        self._pending = req
        if headers.get("expect", "").lower() == "100-continue":
            self.continue_due = True
        te = headers.get("transfer-encoding", "").lower()
        if te:
            if te != "chunked":
                raise HttpParseError(f"unsupported transfer-encoding {te!r}")
            self._chunked = True
            self._chunks = bytearray()
            self._drop = False
            if self._picker is not None:
                self._sink = self._picker(req)
                req.streamed = self._sink is not None
            return True
        self._chunked = False
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise HttpParseError("bad content-length") from exc
        if length < 0:
            raise HttpParseError("negative content-length")
        self._need = length
        self._drop = length > self._max_body
        req.too_large = self._drop
        return True

    def _parse_fixed(self) -> bool:
        req = self._pending
        assert req is not None
        if self._drop:
            take = min(self._need, len(self._buf))
            del self._buf[:take]
            self._need -= take
            return self._need == 0
        if len(self._buf) < self._need:
            return False
        if self._need:
            req.body = bytes(self._buf[: self._need])
            del self._buf[: self._need]
        return True

    def _stream_rest(self) -> bool:
        """Pass on what has come of a streamed chunk begun earlier; True once it (and its
        CRLF) is all read."""
        sink = self._sink
        if self._left > 2:
            take = min(self._left - 2, len(self._buf))
            if take and sink is not None:
                sink.data(bytes(self._buf[:take]))
            del self._buf[:take]
            self._left -= take
        if self._left <= 2:
            take = min(self._left, len(self._buf))
            del self._buf[:take]
            self._left -= take
        return self._left == 0

    def _parse_chunked(self) -> bool:
        req = self._pending
        assert req is not None
        while True:
            if self._left and not self._stream_rest():
                return False
            line_end = self._buf.find(b"\r\n")
            if line_end < 0:
                return False
            size_text = bytes(self._buf[:line_end]).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as exc:
                raise HttpParseError("bad chunk size") from exc
            if size == 0:
                # Last chunk: skip optional trailers up to the blank line.
                end = self._buf.find(b"\r\n\r\n", line_end)
                if end < 0:
                    return False
                req.trailers = _trailers(bytes(self._buf[line_end + 2 : end]))
                del self._buf[: end + 4]
                if not self._drop:
                    req.body = bytes(self._chunks)
                self._chunks = bytearray()
                self._chunked = False
                req.too_large = self._drop
                sink, self._sink = self._sink, None
                if sink is not None:
                    sink.end(req.trailers)
                return True
            start = line_end + 2
            if self._sink is not None:
                # A streamed body is passed on as it comes, even a chunk's first part.
                del self._buf[:start]
                self._left = size + 2
                continue
            if len(self._buf) < start + size + 2:
                return False
            if not self._drop:
                self._chunks += self._buf[start : start + size]
                if len(self._chunks) > self._max_body:
                    self._drop = True
                    self._chunks = bytearray()
            del self._buf[: start + size + 2]
