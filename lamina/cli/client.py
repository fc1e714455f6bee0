"""A small HTTP client for the CLI: the CLI is a thin client of the Lambda API."""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from lamina.errors import LaminaError


class ClientError(LaminaError):
    """Raised when the server answers with an error, or cannot be reached."""

    def __init__(self, message: str, error_type: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Client:
    def __init__(self, endpoint: str, timeout: float = 930.0) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "http" or not parts.hostname:
            raise ClientError(f"endpoint must look like http://host:port, not {endpoint!r}")
        self.endpoint = endpoint
        self._host = parts.hostname
        self._port = parts.port or 80
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Answer:
        conn = http.client.HTTPConnection(self._host, self._port, timeout=self._timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        except (ConnectionError, OSError) as exc:
            raise ClientError(
                f"cannot reach Lamina at {self.endpoint}: {exc}. Is `lamina serve` running?"
            ) from exc
        finally:
            conn.close()
        if answer.status not in ok:
            error_type = answer.headers.get("x-amzn-errortype", "")
            try:
                message = (answer.json() or {}).get("message", "")
            except ValueError:
                message = answer.body.decode(errors="replace")
            raise ClientError(
                f"{error_type or answer.status}: {message}", error_type, answer.status
            )
        return answer

    def call(
        self, method: str, path: str, payload: object | None = None, ok: tuple[int, ...] = (200,)
    ) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return self.request(method, path, body, headers, ok).json()


def fn_path(name: str) -> str:
    return f"/2015-03-31/functions/{quote(name, safe='')}"
