"""HTTP/1.1 message parsing and rendering, with no sockets in sight.

Lamina serves two HTTP faces (the Lambda API and the Runtime API) and both sit on the
invoke hot path, so the wire layer is small and allocation-light: an incremental parser
fed raw bytes that yields :class:`Request` values, and a renderer that builds a whole
answer as one buffer so it goes out in one ``write`` (split writes cost ~40 ms through
Nagle and delayed ACKs).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote

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

    def path_segments(self) -> list[str]:
        return [unquote(p) for p in self.path.split("/") if p]


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


class RequestParser:
    """Incremental HTTP/1.1 request parser (Content-Length and chunked bodies).

    ``feed(data)`` returns the requests completed by ``data``; partial input is kept.
    Bodies declared larger than ``max_body`` are consumed and dropped, and the request
    comes out with ``too_large`` set, so the server can answer 413 and keep the connection.
    """

    __slots__ = (
        "_buf",
        "_chunked",
        "_chunks",
        "_drop",
        "_max_body",
        "_need",
        "_pending",
        "continue_due",
    )

    def __init__(self, max_body: int) -> None:
        self._max_body = max_body
        self._buf = bytearray()
        self._pending: Request | None = None
        self._need = 0  # body bytes still expected (Content-Length mode)
        self._chunked = False
        self._chunks = bytearray()
        self._drop = False
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
            done = self._parse_chunked() if self._chunked else self._parse_fixed()
            if not done:
                return out
            out.append(req)
            self._pending = None

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

    def _parse_chunked(self) -> bool:
        req = self._pending
        assert req is not None
        while True:
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
                del self._buf[: end + 4]
                if not self._drop:
                    req.body = bytes(self._chunks)
                self._chunks = bytearray()
                self._chunked = False
                req.too_large = self._drop
                return True
            if len(self._buf) < line_end + 2 + size + 2:
                return False
            start = line_end + 2
            if not self._drop:
                self._chunks += self._buf[start : start + size]
                if len(self._chunks) > self._max_body:
                    self._drop = True
                    self._chunks = bytearray()
            del self._buf[: start + size + 2]
