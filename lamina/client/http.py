"""One signed HTTP request to Lamina's API, and its answer.

Every request is signed with SigV4, as boto3 would sign it, with the first pair of
``LAMINA_ACCESS_KEYS`` (the same variable the server reads) or, when none is set, the
documented dev pair — so ``lamina`` commands work against a server with keys configured
and against one in dev mode alike.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote

from lamina.api.signed_endpoint import SignedEndpoint
from lamina.config import load_settings
from lamina.errors import LaminaError


class ClientError(LaminaError):
    """Raised when the server answers with an error, or cannot be reached."""

    def __init__(self, message: str, error_type: str = "", status: int = 0) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.status = status


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP answer: its status, lower-cased headers and body."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Client:
    """Lamina's HTTP API at ``endpoint``: one signed request per connection."""

    def __init__(
        self,
        endpoint: str,
        timeout: float = 930.0,
        *,
        credentials: tuple[str, str] | None = None,
        region: str | None = None,
    ) -> None:
        if credentials is None or region is None:
            settings = load_settings(os.environ)
            credentials = credentials or settings.credentials()
            region = region or settings.region
        try:
            self._endpoint = SignedEndpoint.parse(endpoint, credentials, region)
        except ValueError as exc:
            raise ClientError(str(exc)) from None
        self.endpoint = endpoint
        self._timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Answer:
        conn = self._endpoint.connection(self._timeout)
        try:
            conn.request(
                method,
                path,
                body=body,
                headers=self._endpoint.signed(method, path, body or b"", headers),
            )
            resp = conn.getresponse()
            answer = Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        except (ConnectionError, OSError) as exc:
            raise ClientError(
                f"cannot reach Lamina at {self.endpoint}: {exc}. Is `lamina serve` running?"
            ) from exc
        finally:
            conn.close()
        return expect(answer, ok)

    def call(
        self, method: str, path: str, payload: object | None = None, ok: tuple[int, ...] = (200,)
    ) -> Any:
        return call_json(self, method, path, payload, ok)

    def close(self) -> None:
        """Nothing to release: every request has its own connection."""


class Transport(Protocol):
    """Whatever sends one request and answers it (raising :class:`ClientError` unless the
    status is in ``ok``): :class:`Client`, or the bench's keep-alive connection."""

    @property
    def endpoint(self) -> str: ...

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        ok: tuple[int, ...] = (200,),
    ) -> Answer: ...

    def close(self) -> None: ...


def expect(answer: Answer, ok: tuple[int, ...]) -> Answer:
    """``answer`` if its status is one of ``ok``; otherwise the API's error as ClientError."""
    if answer.status in ok:
        return answer
    error_type = answer.headers.get("x-amzn-errortype", "")
    try:
        message = (answer.json() or {}).get("message", "")
    except ValueError:
        message = answer.body.decode(errors="replace")
    raise ClientError(f"{error_type or answer.status}: {message}", error_type, answer.status)


def call_json(
    transport: Transport,
    method: str,
    path: str,
    payload: object | None = None,
    ok: tuple[int, ...] = (200,),
) -> Any:
    """A JSON request and the JSON it answers (None for an empty body)."""
    body = None if payload is None else json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return transport.request(method, path, body, headers, ok).json()


def fn_path(name: str) -> str:
    return f"/2015-03-31/functions/{quote(name, safe='')}"
