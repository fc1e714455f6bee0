"""``GET /metrics``: the Prometheus scrape, mounted on Lamina's port (thin I/O driver).

Authentication: with no access keys configured (dev mode) anyone on the port may scrape,
like every other endpoint. With keys, a scrape must carry either HTTP Basic credentials
(user = access key id, password = its secret: Prometheus' ``basic_auth``) or a SigV4
signature (service ``lambda``) — function names and traffic are not public.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from lamina.api.answers import error_response
from lamina.api.auth import Authenticator
from lamina.billing.ledger import Ledger
from lamina.config import Settings
from lamina.errors import ApiError, ServiceError, UnrecognizedClient
from lamina.metrics.prometheus import CONTENT_TYPE, Gauges, render
from lamina.scheduler.pool import EnvState, Pool
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PATH = "/metrics"

log = logging.getLogger(__name__)


def basic_credentials(header: str) -> tuple[str, str] | None:
    """``(user, password)`` of an ``Authorization: Basic ...`` header, else None."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (user, password) if sep else None


def check_access(settings: Settings, sigv4: Authenticator, req: Request) -> None:
    """Let a request through (dev mode, a known key's Basic credentials, or SigV4) or raise."""
    if not settings.signature_required:
        return
    credentials = basic_credentials(req.headers.get("authorization", ""))
    if credentials is not None:
        key_id, secret = credentials
        expected = settings.access_keys.get(key_id)
        if expected is None or not hmac.compare_digest(expected.encode(), secret.encode()):
            raise UnrecognizedClient("The access key id or secret in the request is invalid.")
        return
    sigv4.check(req.method, req.target, req.headers, req.body)


class MetricsEndpoint:
    """Renders the scrape from the ledger's totals and the pool's state."""

    def __init__(self, settings: Settings, ledger: Ledger, pool: Pool, sigv4: Authenticator):
        self.settings = settings
        self.ledger = ledger
        self.pool = pool
        self.sigv4 = sigv4

    @staticmethod
    def accepts(req: Request) -> bool:
        return req.path == PATH

    def handle(
        self, req: Request, conn: HttpConnection | None = None
    ) -> Response | Coroutine[Any, Any, Response]:
        try:
            check_access(self.settings, self.sigv4, req)
        except ApiError as exc:
            return error_response(exc)
        if req.method not in ("GET", "HEAD"):
            return Response(405, b"GET only\n", {"Allow": "GET", "Content-Type": "text/plain"})
        return self._scrape()

    async def _scrape(self) -> Response:
        # Written records become visible within the flusher's interval; flushing first makes
        # a scrape right after an invoke count it.
        try:
            await asyncio.to_thread(self.ledger.flush, 5.0)
        except ServiceError as exc:
            log.warning("metrics scrape: ledger flush failed, serving what is written: %s", exc)
        totals = self.ledger.metric_totals()
        states = Counter(
            slot.state.value for slot in self.pool.environments() if slot.state is not EnvState.DEAD
        )
        functions = {key[0] for key in totals} | {
            slot.function for slot in self.pool.environments()
        }
        gauges = Gauges(
            concurrent={name: self.pool.active(name) for name in functions},
            environments={
                state.value: states.get(state.value, 0)
                for state in EnvState
                if state is not EnvState.DEAD
            },
        )
        body = render(totals, gauges).encode()
        return Response(200, body, {"Content-Type": CONTENT_TYPE})
