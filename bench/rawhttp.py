"""A deliberately cheap HTTP/1.1 keep-alive client over a raw socket.

At sub-millisecond latencies the client's own cost is a large share of what is
measured: ``http.client`` spends more time building and parsing messages than a warm
Lamina invoke spends serving them. This client renders a request once into bytes,
sends it with one ``sendall`` and parses only what it needs (status, headers,
``Content-Length`` body). The same client measures the loopback floor, so ratios
against the floor compare like with like.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass


class HttpClientError(Exception):
    """Raised when the peer closes the connection or answers something that isn't HTTP."""


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def render_request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    """One request as the bytes to send (keep-alive, ``Content-Length`` framing)."""
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    for name, value in (headers or {}).items():
        lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def parse_head(head: bytes) -> tuple[int, dict[str, str]]:
    """Status and lower-cased headers of a response head (without the blank line)."""
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        raise HttpClientError(f"not an HTTP response: {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


def split_response(buf: bytes | bytearray) -> tuple[RawResponse, int] | None:
    """The first complete response in ``buf`` and the bytes it used, or None if partial."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    status, headers = parse_head(bytes(buf[:end]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        raise HttpClientError("chunked responses are not supported by the bench client")
    length = int(headers.get("content-length", "0"))
    total = end + 4 + length
    if len(buf) < total:
        return None
    return RawResponse(status, headers, bytes(buf[end + 4 : total])), total


class RawConnection:
    """One keep-alive connection; requests are sent and answered one at a time."""

    __slots__ = ("_buf", "_sock")

    def __init__(self, host: str, port: int, timeout: float = 120.0) -> None:
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = bytearray()

    def send_raw(self, data: bytes) -> RawResponse:
        """Send prepared request bytes and return the answer."""
        self._sock.sendall(data)
        while True:
            got = split_response(self._buf) if self._buf else None
            if got is not None:
                response, used = got
                del self._buf[:used]
                return response
            chunk = self._sock.recv(65536)
            if not chunk:
                raise HttpClientError("connection closed by peer")
            self._buf += chunk

    def request(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> RawResponse:
        return self.send_raw(render_request(method, path, body, headers))

    @property
    def socket(self) -> socket.socket:
        return self._sock

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
