"""What an HTTP event is built from: the request as the client sent it (pure)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

# Bodies of these types reach the function as text; anything else is base64, as on Lambda.
_TEXT_TYPES = (
    "text/",
    "application/json",
    "application/javascript",
    "application/xml",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "application/yaml",
    "+json",
    "+xml",
)


@dataclass(frozen=True, slots=True)
class HttpRequest:
    method: str
    raw_path: str  # percent-encoded, as sent (after any Lamina prefix was removed)
    raw_query: str
    headers: list[tuple[str, str]]  # (lower-case name, value) in order, repeats kept
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    @property
    def path(self) -> str:
        return unquote(self.raw_path)

    def header(self, name: str, default: str = "") -> str:
        values = [v for k, v in self.headers if k == name]
        return ",".join(values) if values else default

    def joined_headers(self, *, skip_cookies: bool) -> dict[str, str]:
        out: dict[str, str] = {}
        for k, v in self.headers:
            if skip_cookies and k == "cookie":
                continue
            out[k] = f"{out[k]},{v}" if k in out else v
        return out

    def multi_headers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k, v in self.headers:
            out.setdefault(k, []).append(v)
        return out

    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.raw_query, keep_blank_values=True)

    def cookies(self) -> list[str]:
        out: list[str] = []
        for k, v in self.headers:
            if k == "cookie":
                out += [c.strip() for c in v.split(";") if c.strip()]
        return out

    def body_field(self) -> tuple[str | None, bool]:
        """(body, isBase64Encoded) as Lambda puts them in the event."""
        if not self.body:
            return None, False
        ctype = self.header("content-type").lower()
        if any(t in ctype for t in _TEXT_TYPES):
            try:
                return self.body.decode("utf-8"), False
            except UnicodeDecodeError:
                pass
        return base64.b64encode(self.body).decode(), True
