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
import contextlib
import hmac
import logging
import sqlite3
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any

from lamina.api.answers import error_response
from lamina.api.auth import Authenticator
from lamina.billing.ledger import Ledger
from lamina.config import Settings
from lamina.errors import ApiError, LaminaError, ServiceError, UnrecognizedClient
from lamina.metrics.prometheus import CONTENT_TYPE, EsmBatches, Gauges, render
from lamina.models.cluster_load import Demand
from lamina.models.environments import EnvironmentsView
from lamina.scheduler.pool import EnvState, Pool
from lamina.services.protocol.reach import Reach
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PATH = "/metrics"
REACH = Reach(paths=(PATH,))  # what MetricsEndpoint.accepts can pick
LAG_INTERVAL_S = 0.5
LAG_SAMPLES = 20  # 10 s of samples

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

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        pool: Pool,
        sigv4: Authenticator,
        async_backlog: Callable[[], dict[str, tuple[int, float]]] | None = None,
        cluster: Callable[[], Demand] | None = None,
        requests: Callable[[], Mapping[str, int]] | None = None,
        esm: Callable[[], Sequence[EsmBatches]] | None = None,
        concurrency: Callable[[], Mapping[str, int]] | None = None,
        xray: Callable[[], Mapping[tuple[str, str], int]] | None = None,
    ):
        """``cluster`` gives the cluster's load at scrape time (lamina serve --cluster);
        ``concurrency`` the invokes in flight per function when they run elsewhere than
        this pool (a cluster's placement counts them across its nodes)."""
        self.concurrency = concurrency
        self.xray = xray
        self.requests = requests
        self.esm = esm
        self.settings = settings
        self.ledger = ledger
        self.pool = pool
        self.sigv4 = sigv4
        self.async_backlog = async_backlog
        self.cluster = cluster
        # On a cluster: the nodes' environments, asked at scrape time (set once the
        # cluster is open; the control plane's own pool is empty there).
        self.environments: Callable[[], Awaitable[EnvironmentsView]] | None = None
        self._lags: deque[float] = deque(maxlen=LAG_SAMPLES)
        self._sampler: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Sample the event loop's lag (how late a timer fires) twice a second."""
        self._sampler = asyncio.get_running_loop().create_task(self._sample_lag())

    async def _sample_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(LAG_INTERVAL_S)
            self._lags.append(max(0.0, loop.time() - before - LAG_INTERVAL_S))

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler

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
        backlog: dict[str, tuple[int, float]] = {}
        if self.async_backlog is not None:
            now = time.time()
            try:
                waiting = await asyncio.to_thread(self.async_backlog)
            except (LaminaError, sqlite3.Error) as exc:
                log.warning("metrics scrape: async queue unreadable: %s", exc)
                waiting = {}
            backlog = {f: (n, max(0.0, now - oldest)) for f, (n, oldest) in waiting.items()}
        totals = self.ledger.metric_totals()
        states = Counter(
            slot.state.value for slot in self.pool.environments() if slot.state is not EnvState.DEAD
        )
        functions = {key[0] for key in totals} | {
            slot.function for slot in self.pool.environments()
        }
        if self.concurrency is not None:
            in_flight = self.concurrency()
            concurrent = {name: in_flight.get(name, 0) for name in functions | set(in_flight)}
        else:
            concurrent = {name: self.pool.active(name) for name in functions}
        on_nodes = None
        if self.environments is not None:
            on_nodes = (await self.environments()).by_node_and_state()
        gauges = Gauges(
            concurrent=concurrent,
            node_environments=on_nodes,
            async_backlog=backlog,
            loop_lag_s=max(self._lags, default=0.0),
            cluster=None if self.cluster is None else self.cluster(),
            requests=dict(self.requests()) if self.requests is not None else {},
            esm=list(self.esm()) if self.esm is not None else [],
            xray=dict(self.xray()) if self.xray is not None else {},
            environments={
                state.value: states.get(state.value, 0)
                for state in EnvState
                if state is not EnvState.DEAD
            },
        )
        body = render(totals, gauges).encode()
        return Response(200, body, {"Content-Type": CONTENT_TYPE})
