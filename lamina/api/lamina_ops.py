"""Lamina's own endpoints under ``/lamina/v1``: health, environments, logs, cost, code, docs."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from pathlib import Path

from lamina.api.answers import json_response
from lamina.api.context import ApiContext, Handler
from lamina.billing.ledger_queries import GroupTotals
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.ledger_wire import parse_by, views
from lamina.billing.provisioned import clip
from lamina.billing.snapstart import snapstart_versions
from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.logs.lines import function_log_group
from lamina.logs.store import group_folder
from lamina.runtime_api.bus import text_of
from lamina.services.stepfunctions.usage import read_usage
from lamina.wire.http import Request
from lamina.wire.server import Response

OPENAPI_PATH = Path(__file__).with_name("openapi.json")


class LaminaOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self._openapi: bytes | None = None

    def handlers(self) -> dict[str, Handler]:
        return {
            "LaminaHealth": self.health,
            "LaminaListEnvironments": self.environments,
            "LaminaGetLogs": self.logs,
            "LaminaGetTelemetry": self.telemetry,
            "LaminaGetCost": self.cost,
            "LaminaGetLedger": self.ledger,
            "LaminaListRuntimes": self.runtimes,
            "LaminaGetCode": self.code,
            "LaminaGetOpenApi": self.openapi,
        }

    async def health(self, req: Request, params: dict[str, str]) -> Response:
        scheduler = self.ctx.scheduler
        body: dict[str, object] = {
            "status": "ok",
            "functions": len(self.ctx.functions.names()),
            "environments": len(scheduler.envs),
            "sandbox": scheduler.sandbox.tier,
        }
        if self.ctx.environments is not None:
            # A cluster: the environments are on the nodes; each node's count, named.
            view = await self.ctx.environments()
            body["environments"] = len(view.environments)
            body["nodes"] = [
                {
                    "node": n.node,
                    "environments": n.environments,
                    "answered": n.answered,
                    "age_s": n.age_s,
                }
                for n in view.nodes or ()
            ]
        return json_response(200, body)

    async def environments(self, req: Request, params: dict[str, str]) -> Response:
        if self.ctx.environments is None:
            rows = [
                {
                    "Id": s.env_id,
                    "Function": s.function,
                    "State": s.state.value,
                    "Invocations": s.invocations,
                    # on-demand, or provisioned-concurrency (lamina.scheduler.provisioned)
                    "InitializationType": s.init_type,
                }
                for s in self.ctx.scheduler.pool.environments()
            ]
            return json_response(200, {"Environments": rows})
        # A cluster: each node's environments, named with the node (ids repeat across
        # nodes), and whether each node answered in time.
        view = await self.ctx.environments()
        return json_response(
            200,
            {
                "Environments": [
                    {
                        "Id": e.env_id,
                        "Function": e.function,
                        "State": e.state,
                        "Invocations": e.invocations,
                        "Node": e.node,
                    }
                    for e in view.environments
                ],
                "Nodes": [
                    {
                        "Node": n.node,
                        "Answered": n.answered,
                        "Environments": n.environments,
                        "AgeSeconds": n.age_s,
                    }
                    for n in view.nodes or ()
                ],
            },
        )

    def logs(self, req: Request, params: dict[str, str]) -> Response:
        name = params["FunctionName"]
        cfg = self.ctx.functions.get(name)
        q = req.query
        try:
            since = int(q.get("since", "0"))
            limit = int(q.get("limit", "1000"))
        except ValueError as exc:
            raise InvalidParameterValue("since and limit must be integers") from exc
        folder = group_folder(function_log_group(cfg))
        events = self.ctx.scheduler.logs.read(folder, since, limit)
        return json_response(
            200,
            {
                "events": [
                    {"timestamp": e.timestamp_ms, "message": e.message, "logStreamName": e.stream}
                    for e in events
                ]
            },
        )

    def telemetry(self, req: Request, params: dict[str, str]) -> Response:
        """The function's telemetry events from the server's bus (``lamina logs --follow``)."""
        name = self.ctx.functions.get(params["FunctionName"]).name
        try:
            after = int(req.query.get("after", "0"))
            limit = int(req.query.get("limit", "1000"))
        except ValueError as exc:
            raise InvalidParameterValue("after and limit must be integers") from exc
        bus = self.ctx.scheduler.bus
        if not limit:
            bus.watch(name)  # `lamina logs --follow` starts here: events are made from now
        events = bus.read(name, after, max(0, min(limit, 10_000))) if limit else []
        return json_response(
            200,
            {
                "events": [
                    {
                        "seq": e.seq,
                        "time": e.time_ms,
                        "type": e.type,
                        "record": e.record,
                        "text": text_of(e),
                    }
                    for e in events
                ],
                "last": events[-1].seq if events else (after if limit else bus.seq),
            },
        )

    async def cost(self, req: Request, params: dict[str, str]) -> Response:
        function = req.query.get("function") or None
        ledger = self.ctx.ledger

        # The ledger flushes and queries on its own thread: keep the event loop free.
        def query() -> list[dict[str, object]]:
            ledger.flush()
            return [_cost_row(t) for t in ledger.totals(function)]

        return json_response(200, {"functions": await asyncio.to_thread(query)})

    async def ledger(self, req: Request, params: dict[str, str]) -> Response:
        """The ledger's report views (``lamina cost`` from anywhere, no ``--data-dir``)."""
        q = req.query
        by = parse_by(q.get("by"))
        function = q.get("function") or None
        since, until = _epoch(q.get("since"), "since"), _epoch(q.get("until"), "until")
        ledger = self.ctx.ledger

        data_dir = self.ctx.settings.data_dir
        snapstart = [
            v.to_json()
            for v in snapstart_versions(self.ctx.functions.all_versions())
            if function is None or v.function == function
        ]

        # The configurations READY now, as if they ended now (the ledger has the ended ones).
        going_on = [
            s
            for s in self.ctx.scheduler.provisioner.open_spans()
            if function is None or s.function == function
        ]

        def query() -> dict[str, list[dict[str, object]]]:
            ledger.flush()
            out = views(LedgerReader(ledger.path), by, function, since, until)
            ended = ledger.provisioned_spans(function, since, until)
            clipped = [c for s in going_on if (c := clip(s, since, until)) is not None]
            out["provisionedSpans"] = [s.to_json() for s in ended + clipped]
            # Workflows beside the functions (not when one function is asked for).
            usage = [] if function else read_usage(data_dir, since, until)
            out["workflows"] = [u.to_json() for u in usage]
            out["snapstartVersions"] = snapstart
            return out

        return json_response(200, await asyncio.to_thread(query))

    def runtimes(self, req: Request, params: dict[str, str]) -> Response:
        return json_response(
            200,
            {
                "runtimes": [
                    {
                        "runtime": c.runtime,
                        "interpreter": c.interpreter,
                        "version": c.interpreter_version,
                        "note": c.note,
                    }
                    for c in self.ctx.scheduler.runtimes.describe()
                ]
            },
        )

    async def code(self, req: Request, params: dict[str, str]) -> Response:
        """A stored package (GetFunction's Code.Location points here, presigned)."""
        name = params["CodeFile"]
        if not name.endswith(".zip"):
            raise ResourceNotFound("no such code package")
        try:
            path = self.ctx.functions.code.zip_path(name[:-4])
        except ValueError:
            raise ResourceNotFound("no such code package") from None
        if not path.is_file():
            raise ResourceNotFound("no such code package")
        data = await asyncio.to_thread(path.read_bytes)
        return Response(200, data, {"Content-Type": "application/zip"})

    def openapi(self, req: Request, params: dict[str, str]) -> Response:
        if self._openapi is None:
            self._openapi = OPENAPI_PATH.read_bytes()
        return Response(200, self._openapi, {"Content-Type": "application/json"})


def _epoch(raw: str | None, name: str) -> float | None:
    if not raw:
        return None
    try:
        return float(raw)
    except ValueError:
        raise InvalidParameterValue(f"{name} must be epoch seconds, not {raw!r}") from None


def _cost_row(t: GroupTotals) -> dict[str, object]:
    """One function's totals as ``/lamina/v1/cost`` answers them (money and GB-s as text)."""
    row: dict[str, object] = {
        "function": t.function,
        "invocations": t.invocations,
        "cold_starts": t.cold_starts,
        "errors": t.errors,
        "timeouts": t.timeouts,
        "duration_ms": t.duration_ms,
        "billed_ms": t.billed_ms,
        "gb_s": t.gb_s,
        "request_cost": t.request_cost,
        "duration_cost": t.duration_cost,
        "ephemeral_cost": t.ephemeral_cost,
        "total_cost": t.total_cost,
        "p50_duration_ms": t.p50_duration_ms,
        "p90_duration_ms": t.p90_duration_ms,
    }
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in row.items()}
