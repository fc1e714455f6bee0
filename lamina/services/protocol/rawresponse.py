"""A :class:`Response` with full control of its header lines.

The wire layer's renderer writes one ``Content-Length`` equal to the body's length and
takes headers as a dict. Two event-source answers need more: a ``HEAD`` answer announces
the object's length without sending it, and an HTTP function may set several
``Set-Cookie`` headers. This subclass renders itself, still as one buffer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from lamina.wire.server import Response

_REASONS = {s.value: s.phrase for s in HTTPStatus}


@dataclass(slots=True)
class RawResponse(Response):
    header_lines: list[tuple[str, str]] = field(default_factory=list)
    content_length: int | None = None  # None: the body's length

    def render(self, close: bool = False) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {_REASONS.get(self.status, 'Unknown')}"]
        for name, value in [*self.headers.items(), *self.header_lines]:
            lines.append(f"{name}: {value}")
        length = len(self.body) if self.content_length is None else self.content_length
        lines.append(f"Content-Length: {length}")
        if close:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        return head + self.body
