"""``/console``: the routes of the web console (a thin I/O driver over summary and views).

Pages are rendered on a worker thread (they read SQLite); chart data is JSON from
``/console/api/...``; the vendored assets are served from the package. Every answer carries
a Content-Security-Policy that allows nothing but this origin, so no page can load
anything from outside.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Coroutine
from html import escape
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, unquote

from lamina.billing.ledger import Ledger
from lamina.billing.prices import PriceTable
from lamina.billing.rollups import minute_of
from lamina.console import summary, views
from lamina.console.cost import bill_cache, cost_page
from lamina.console.day_cost import DayCost
from lamina.console.invocation_logs import lines_of
from lamina.console.jobs import Jobs, TuneForm
from lamina.console.session import Sessions, clear_cookie, set_cookie
from lamina.console.triggers import AsyncStatus, Trigger, TriggerReader
from lamina.console.workflows import WorkflowPages
from lamina.errors import ApiError, ServiceError
from lamina.functions import Functions
from lamina.logs.store import LogStore
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.bus import TelemetryBus, text_of
from lamina.scheduler.recent_payloads import Payloads, RecentPayloads
from lamina.services.protocol.reach import Reach
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

PREFIX = "/console"
REACH = Reach(paths=(PREFIX,))  # what Console.accepts can pick
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".md": "text/plain", "": "text/plain"}
TAIL_LINES = 200
# The Invoke box's payload history: the last few distinct payloads per function, for a
# bounded number of functions (the least recently used forgotten first), in memory.
HISTORY_PAYLOADS = 10
HISTORY_FUNCTIONS = 500
HISTORY_PAYLOAD_BYTES = 64 * 1024
Invoker = Callable[[str, bytes], Awaitable[InvokeResult]]
Answer = Response | Coroutine[Any, Any, Response]

log = logging.getLogger(__name__)


def _headers(content_type: str, **extra: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        **extra,
    }


def _html(status: int, page: str, **extra: str) -> Response:
    return Response(status, page.encode(), _headers("text/html; charset=utf-8", **extra))


def _json(status: int, body: object) -> Response:
    return Response(status, json.dumps(body).encode(), _headers("application/json"))


def _redirect(to: str, **extra: str) -> Response:
    return Response(303, b"", _headers("text/plain", Location=to, **extra))


class Console:
    """Serves the console's pages, chart data, Invoke box and assets."""

    def __init__(
        self,
        functions: Functions,
        ledger: Ledger,
        invoke: Invoker,
        sessions: Sessions,
        triggers: TriggerReader | None = None,
        concurrency_limit: int = 1000,
        workflows: WorkflowPages | None = None,
        prices: PriceTable | None = None,
        jobs: Jobs | None = None,
        dev_credentials: tuple[str, str] = ("", ""),
        bus: TelemetryBus | None = None,
        recent: RecentPayloads | None = None,
        logs: LogStore | None = None,
    ) -> None:
        self.logs = logs
        # Active tracing: an invocation's X-Ray subsegments by request id (lamina.xray).
        self.subsegments: Callable[[str], list[tuple[int, str, float, bool]]] | None = None
        self.bus = bus
        self.recent = recent
        self.prices = prices
        self.jobs = jobs
        self.dev_credentials = dev_credentials
        self.functions = functions
        self.workflows = workflows
        self.triggers = triggers
        self.concurrency_limit = concurrency_limit
        self._payloads: OrderedDict[str, deque[str]] = OrderedDict()
        self.ledger = ledger
        self._day_cost = DayCost(ledger.cost_since)
        self._bills = bill_cache(ledger.path)
        self.invoke = invoke
        self.sessions = sessions
        self._static = resources.files("lamina.console") / "static"

    @staticmethod
    def accepts(req: Request) -> bool:
        return req.path == PREFIX or req.path.startswith(PREFIX + "/")

    def handle(self, req: Request, conn: HttpConnection | None = None) -> Answer:
        path, method = req.path, req.method
        if path.startswith(PREFIX + "/static/"):
            return self._asset(path[len(PREFIX + "/static/") :])
        if path == PREFIX + "/login":
            return self._login(req) if method == "POST" else _html(200, views.login())
        cookie = req.headers.get("cookie", "")
        if not self.sessions.check(cookie):
            if path.startswith(PREFIX + "/api/"):
                return _json(401, {"message": "log in to the console"})
            return _redirect(PREFIX + "/login")
        if path == PREFIX + "/logout" and method == "POST":
            self.sessions.logout(cookie)
            return _redirect(PREFIX + "/login", **{"Set-Cookie": clear_cookie()})
        if path in (PREFIX, PREFIX + "/") and method == "GET":
            return self._threaded(self._list_page)
        if path.startswith(PREFIX + "/functions/") and method == "GET":
            name = unquote(path[len(PREFIX + "/functions/") :])
            return self._function_page(name, req.headers.get("host", ""))
        if path == PREFIX + "/cost" and method == "GET" and self.prices is not None:
            prices, query = self.prices, dict(req.query)
            return self._threaded(
                lambda: _html(
                    200,
                    views.page(
                        "Cost",
                        cost_page(self.ledger.path, prices, query, self._architecture, self._bills),
                        charts=True,
                    ),
                )
            )
        if method == "GET" and (
            path.startswith(PREFIX + "/workflows") or path.startswith(PREFIX + "/executions/")
        ):
            if path.startswith(PREFIX + "/executions/"):
                return self._execution_page(unquote(path[len(PREFIX + "/executions/") :]))
            return self._workflow_page(path[len(PREFIX) :])
        if path.startswith(PREFIX + "/api/jobs/") and method == "GET":
            job = self.jobs.get(path[len(PREFIX + "/api/jobs/") :]) if self.jobs else None
            if job is None:
                return _json(404, {"message": "no such job"})
            return _json(200, job.as_json())
        if path.startswith(PREFIX + "/api/functions/"):
            name, _, action = unquote(path[len(PREFIX + "/api/functions/") :]).partition("/")
            if action == "series" and method == "GET":
                try:
                    since, until = summary.chart_window(req.query, time.time())
                except ValueError as exc:
                    return _json(400, {"message": str(exc)})
                return self._threaded(lambda: self._series(name, since, until))
            if action == "logs" and method == "GET":
                return self._tail(name, _int(req.query.get("after", "0"), 0))
            if action == "invoke" and method == "POST":
                # Same-origin JavaScript only: a cross-site form cannot set this header.
                if req.headers.get("x-lamina-console") != "1":
                    return _json(403, {"message": "missing X-Lamina-Console header"})
                return self._invoke(name, req.body or b"{}")
            if action in ("tune", "compare") and method == "POST":
                if req.headers.get("x-lamina-console") != "1":
                    return _json(403, {"message": "missing X-Lamina-Console header"})
                return self._start_job(action, name, req.body or b"{}", cookie)
            if action.startswith("invocations/") and action.endswith("/logs") and method == "GET":
                return self._invocation_logs(name, action[len("invocations/") : -len("/logs")])
            if action == "payloads" and method == "GET":
                return _json(200, {"payloads": list(self._payloads.get(name, ()))})
        return _html(404, "<h1>Not found</h1>")

    # -- pages -------------------------------------------------------------------------
    def _threaded(
        self, render: Callable[[], Response], *, flush: bool = True
    ) -> Coroutine[Any, Any, Response]:
        async def run() -> Response:
            try:
                return await asyncio.to_thread(self._fresh if flush else _call, render)
            except ApiError as exc:
                return _html(exc.status, f"<h1>{escape(exc.message)}</h1>")
            except ServiceError as exc:
                log.error("console page failed: %s", exc)
                return _html(500, "<h1>The ledger could not be read</h1>")

        return run()

    def _fresh(self, render: Callable[[], Response]) -> Response:
        # Records reach the rollups within the flusher's interval; flushing first makes a
        # page loaded right after an invoke (or the Invoke box's refresh) show it.
        try:
            self.ledger.flush(5.0)
        except ServiceError as exc:
            log.warning("console: ledger flush failed, showing what is written: %s", exc)
        return render()

    def _architecture(self, name: str) -> str:
        """A function's architecture now (x86_64 for one deleted since it ran)."""
        try:
            return self.functions.get(name).architecture
        except ApiError:
            return "x86_64"

    def _list_page(self) -> Response:
        now = time.time()
        day = int(now // 86_400) * 86_400
        rows = summary.function_rows(
            [self.functions.get(name) for name in self.functions.names()],
            self.ledger.function_summaries(minute_of(now) - 3540),
            self._day_cost.today(now),
            self.ledger.last_active(),
            now - day,
        )
        return _html(200, views.functions_list(rows))

    async def _function_page(self, name: str, host: str) -> Response:
        try:
            self.functions.get(name)  # 404 for an unknown function
            triggers: list[Trigger] = []
            if self.triggers is not None:
                endpoint = f"http://{host}" if host else ""
                urls = self.functions.url_configs(name)
                triggers = await self.triggers.triggers(name, urls, endpoint)
        except ApiError as exc:
            return _html(exc.status, f"<h1>{escape(exc.message)}</h1>")
        except ServiceError as exc:
            # The page is still worth showing; the log says which store failed.
            log.error("console: the triggers of %s could not be read: %s", name, exc)
        # Copied here, on the event loop that adds to the ring, not on the page's thread.
        invocations = self.recent.of(name) if self.recent is not None else []
        return await self._threaded(lambda: self._function_html(name, triggers, invocations))

    def _function_html(
        self, name: str, triggers: list[Trigger], invocations: list[Payloads]
    ) -> Response:
        cfg = self.functions.get(name)
        versions = [v.version for v in self.functions.versions(name)]
        recent = self.ledger.records(name, limit=20)
        aliases = self.functions.aliases(name)
        queued: AsyncStatus | None = None
        if self.triggers is not None:
            queued = self.triggers.async_status(name, cfg.dead_letter_arn, time.time())
        reserved = self.functions.reserved_concurrency(name)
        page = views.FunctionPage(
            cfg,
            versions,
            recent,
            aliases,
            triggers,
            queued,
            reserved if reserved is not None else self.concurrency_limit,
            list(self._payloads.get(name, ())),
            invocations,
            self._traced(invocations) if cfg.tracing_active else {},
        )
        return _html(200, views.function_page(page))

    def _traced(self, invocations: list[Payloads]) -> dict[str, list[tuple[int, str, float, bool]]]:
        find = self.subsegments
        if find is None:
            return {}
        return {p.request_id: find(p.request_id) for p in invocations}

    def _series(self, name: str, since: int, until: int) -> Response:
        self.functions.get(name)  # 404 for an unknown function
        found = self.ledger.rollups(name, since=since - summary.HOUR_BEFORE)
        columns = summary.series(found, since, until)
        return _json(200, columns)

    def _tail(self, name: str, after: int) -> Response:
        """The function's telemetry events after sequence number ``after`` (the live tail
        polls this): the same events the Telemetry API delivers, from the server's bus."""
        if name not in self.functions.names():
            return _json(404, {"message": f"Function not found: {name}"})
        events = self.bus.read(name, after, limit=TAIL_LINES) if self.bus is not None else []
        return _json(
            200,
            {
                "events": [[e.time_ms, e.type, text_of(e)] for e in events],
                "last": events[-1].seq if events else after,
            },
        )

    async def _invocation_logs(self, name: str, request_id: str) -> Response:
        """One recent invocation's log lines (its details opened on the function's page),
        from the ends of the function's newest log streams."""
        if name not in self.functions.names():
            return _json(404, {"message": f"Function not found: {name}"})
        if self.logs is None:
            return _json(200, {"lines": []})
        self.logs.flush()  # on the loop, where lines are queued
        events = await asyncio.to_thread(self.logs.recent, name)
        return _json(200, {"lines": lines_of(events, request_id)})

    async def _invoke(self, name: str, payload: bytes) -> Response:
        try:
            json.loads(payload)
            result = await self.invoke(name, payload)
            self._remember(name, payload)
        except ValueError:
            return _json(400, {"message": "the payload must be JSON"})
        except ApiError as exc:
            return _json(exc.status, {"message": exc.message, "type": exc.error_type})
        return _json(
            200,
            {
                "requestId": result.request_id,
                "functionError": result.function_error,
                "payload": result.payload.decode(errors="replace"),
                "log": result.log_tail.decode(errors="replace"),
            },
        )

    def _workflow_page(self, rel: str) -> Response:
        """``/workflows``, ``/workflows/<name>`` (on the event loop: executions change their
        records there)."""
        if self.workflows is None:
            return _html(404, "<h1>Workflows are not served here</h1>")
        try:
            if rel in ("/workflows", "/workflows/"):
                return _html(200, views.page("Workflows", self.workflows.machines()))
            if rel.startswith("/workflows/"):
                name = unquote(rel[len("/workflows/") :])
                return _html(200, views.page(name, self.workflows.machine(name)))
            return _html(404, views.page("Not found", "<h1>No such page</h1>"))
        except ApiError as exc:
            return _html(exc.status, views.page("Not found", f"<h1>{escape(exc.message)}</h1>"))

    async def _execution_page(self, arn: str) -> Response:
        """``/executions/<arn>`` (on the event loop; an ended execution's history may be
        read back from the store first)."""
        if self.workflows is None:
            return _html(404, "<h1>Workflows are not served here</h1>")
        try:
            body = await self.workflows.execution(arn)
        except ApiError as exc:
            return _html(exc.status, views.page("Not found", f"<h1>{escape(exc.message)}</h1>"))
        return _html(200, views.page(arn.rsplit(":", 1)[-1], body))

    def _start_job(self, kind: str, name: str, body: bytes, cookie: str) -> Response:
        """Start ``lamina tune`` (or ``compare`` with ``other``) of ``name``: 202 and the
        job's id, which ``/console/api/jobs/<id>`` answers for."""
        if self.jobs is None:
            return _json(404, {"message": "tuning is not available here"})
        try:
            form = TuneForm.parse(body)
            functions: tuple[str, ...] = (self.functions.get(name).name,)
            if kind == "compare":
                other = json.loads(body).get("other")
                if not isinstance(other, str) or not other:
                    return _json(400, {"message": "compare needs another function"})
                functions += (self.functions.get(other).name,)
            credentials = self.sessions.credentials(cookie) or self.dev_credentials
            job = self.jobs.start(kind, functions, form.argv(), credentials)
        except ApiError as exc:
            return _json(exc.status, {"message": exc.message, "type": exc.error_type})
        return _json(202, {"job": job.id})

    def _remember(self, name: str, payload: bytes) -> None:
        """Keep ``payload`` first in the function's history (once; large ones are not kept)."""
        if len(payload) > HISTORY_PAYLOAD_BYTES:
            return
        text = payload.decode(errors="replace")
        kept = self._payloads.pop(name, None) or deque(maxlen=HISTORY_PAYLOADS)
        if text in kept:
            kept.remove(text)
        kept.appendleft(text)
        self._payloads[name] = kept
        while len(self._payloads) > HISTORY_FUNCTIONS:
            self._payloads.popitem(last=False)

    # -- login and assets ----------------------------------------------------------------
    def _login(self, req: Request) -> Response:
        form = parse_qs((req.body or b"").decode(errors="replace"))
        key_id = form.get("key_id", [""])[0]
        secret = form.get("secret", [""])[0]
        if not self.sessions.required:
            return _redirect(PREFIX)
        token = self.sessions.login(key_id, secret)
        if token is None:
            # 200, not 403: the form is simply shown again, with the reason.
            return _html(200, views.login("Unknown access key or wrong secret."))
        return _redirect(PREFIX, **{"Set-Cookie": set_cookie(token)})

    def _asset(self, rel: str) -> Response:
        parts = rel.split("/")
        if not rel or any(p in ("", ".", "..") for p in parts):
            return _html(404, "<h1>Not found</h1>")
        node = self._static
        for part in parts:
            node = node / part
        if not node.is_file():
            return _html(404, "<h1>Not found</h1>")
        suffix = "." + rel.rsplit(".", 1)[-1] if "." in parts[-1] else ""
        headers = _headers(_TYPES.get(suffix, "application/octet-stream"))
        headers["Cache-Control"] = "max-age=3600"
        return Response(200, node.read_bytes(), headers)


def _call(render: Callable[[], Response]) -> Response:
    return render()


def _int(text: str, default: int) -> int:
    try:
        return int(text)
    except ValueError:
        return default
