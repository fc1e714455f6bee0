"""The Lambda REST API (and Lamina's own ``/lamina/v1`` endpoints) over the wire layer.

Requests are routed by pure path matching into operations; every :class:`ApiError`
becomes a Lambda-shaped answer in :func:`error_response`, the one place that maps
errors to statuses. The invoke route is checked first and does no parsing it can skip.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import asdict
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

from lamina.api.arns import function_arn, parse_function_ref
from lamina.api.shapes import function_configuration
from lamina.billing.ledger import Ledger
from lamina.errors import (
    ApiError,
    InvalidParameterValue,
    InvalidRequestContent,
    RequestTooLarge,
    ResourceNotFound,
)
from lamina.events.inprocess import InProcessQueue, QueuedEvent
from lamina.functions import Functions, check_create_size
from lamina.models.invocation import InvokeResult
from lamina.scheduler.driver import InvokeRequest, Scheduler
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response

log = logging.getLogger("lamina.api")

SYNC_PAYLOAD_MAX = 6 * 1024 * 1024
ASYNC_PAYLOAD_MAX = 1024 * 1024
# The largest request body the API reads at all (a CreateFunction with a 50 MB zip).
MAX_REQUEST_BYTES = 70 * 1024 * 1024

FUNCTIONS = "/2015-03-31/functions"
JSON = "application/json"


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> Response:
    h = {"Content-Type": JSON, "x-amzn-RequestId": str(uuid.uuid4())}
    if headers:
        h.update(headers)
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    return Response(status, data, h)


def error_response(exc: ApiError) -> Response:
    """The one mapping from an error to its HTTP answer."""
    return json_response(exc.status, exc.body(), exc.headers())


def _json_body(req: Request) -> dict[str, Any]:
    if not req.body:
        return {}
    try:
        body = json.loads(req.body)
    except ValueError as exc:
        raise InvalidRequestContent(f"Could not parse request body into json: {exc}") from exc
    if not isinstance(body, dict):
        raise InvalidRequestContent("Request body must be a JSON object")
    return body


def _max_items(raw: str | None) -> int:
    if raw is None:
        return 50
    try:
        value = int(raw)
    except ValueError as exc:
        raise InvalidParameterValue(f"MaxItems must be a number, not {raw!r}") from exc
    if not 1 <= value <= 10_000:
        raise InvalidParameterValue("MaxItems must be between 1 and 10000")
    return value


class LambdaApi:
    """Routes HTTP requests to operations of :class:`Functions` and :class:`Scheduler`."""

    def __init__(
        self, functions: Functions, scheduler: Scheduler, ledger: Ledger, region: str, account: str
    ) -> None:
        self.functions = functions
        self.scheduler = scheduler
        self.ledger = ledger
        self.region = region
        self.account = account
        self.async_queue = InProcessQueue(self._run_async)

    # -- entry point ------------------------------------------------------------------
    def handle(
        self, req: Request, conn: HttpConnection
    ) -> Response | Coroutine[Any, Any, Response]:
        path = req.path
        if req.too_large:
            return error_response(
                RequestTooLarge(f"Request must be smaller than {MAX_REQUEST_BYTES} bytes")
            )
        if req.method == "POST" and path.endswith("/invocations") and path.startswith(FUNCTIONS):
            return self._invoke(req, path[len(FUNCTIONS) + 1 : -len("/invocations")])
        try:
            return self._route(req, path)
        except ApiError as exc:
            return error_response(exc)

    def _route(self, req: Request, path: str) -> Response | Coroutine[Any, Any, Response]:
        parts = path.strip("/").split("/")
        m = req.method
        if parts[0] == "2015-03-31" and len(parts) >= 2 and parts[1] == "functions":
            rest = [unquote(p) for p in parts[2:]]
            if not rest:
                if m == "POST":
                    return self._create(req)
                if m == "GET":
                    return self._list(req)
            elif len(rest) == 1:
                if m == "GET":
                    return self._get(rest[0], req)
                if m == "DELETE":
                    return self._wrap(self._delete(rest[0], req))
            elif len(rest) == 2:
                name, what = rest
                if what == "configuration" and m == "GET":
                    return self._get_configuration(name, req)
                if what == "configuration" and m == "PUT":
                    return self._wrap(self._update_configuration(name, req))
                if what == "code" and m == "PUT":
                    return self._wrap(self._update_code(name, req))
                if what == "versions" and m == "POST":
                    return self._publish(name)
                if what == "versions" and m == "GET":
                    return self._list_versions(name)
        elif (
            parts[0] in ("2017-10-31", "2019-09-30")
            and parts[1:2] == ["functions"]
            and len(parts) == 4
            and parts[3] == "concurrency"
        ):
            return self._concurrency(m, unquote(parts[2]), req)
        elif parts == ["2016-08-19", "account-settings"] and m == "GET":
            return self._account_settings()
        elif parts[0] == "lamina" and len(parts) >= 3 and parts[1] == "v1":
            return self._lamina(req, parts[2:])
        raise ResourceNotFound(f"Unknown operation {m} {path}")

    def _wrap(self, coro: Coroutine[Any, Any, Response]) -> Coroutine[Any, Any, Response]:
        async def run() -> Response:
            try:
                return await coro
            except ApiError as exc:
                return error_response(exc)

        return run()

    # -- invoke -----------------------------------------------------------------------
    def _invoke(self, req: Request, raw_name: str) -> Response | Coroutine[Any, Any, Response]:
        try:
            qualifier = req.query.get("Qualifier") if "?" in req.target else None
            ref = parse_function_ref(unquote(raw_name), qualifier)
            cfg = self.functions.get(ref.name, ref.qualifier)
            headers = req.headers
            itype = headers.get("x-amz-invocation-type", "RequestResponse")
            payload = req.body or b"{}"
            if itype == "RequestResponse":
                if len(payload) > SYNC_PAYLOAD_MAX:
                    raise RequestTooLarge(
                        f"Request must be smaller than {SYNC_PAYLOAD_MAX} bytes for the "
                        "InvokeFunction operation"
                    )
            elif itype == "Event":
                if len(payload) > ASYNC_PAYLOAD_MAX:
                    raise RequestTooLarge(
                        f"Request must be smaller than {ASYNC_PAYLOAD_MAX} bytes for the "
                        "InvokeAsync operation"
                    )
            elif itype != "DryRun":
                raise InvalidParameterValue(
                    f"1 validation error detected: Value '{itype}' at 'invocationType' failed "
                    "to satisfy constraint: Member must satisfy enum value set: "
                    "[Event, RequestResponse, DryRun]"
                )
            _check_json(payload)
            log_type = headers.get("x-amz-log-type", "None")
            if log_type not in ("None", "Tail"):
                raise InvalidParameterValue(
                    f"1 validation error detected: Value '{log_type}' at 'logType' failed to "
                    "satisfy constraint: Member must satisfy enum value set: [Tail, None]"
                )
            client_context = _client_context(headers.get("x-amz-client-context"))
        except ApiError as exc:
            return error_response(exc)
        if itype == "DryRun":
            return Response(
                204,
                b"",
                {"x-amzn-RequestId": str(uuid.uuid4()), "X-Amz-Executed-Version": cfg.version},
            )
        arn = function_arn(self.region, self.account, cfg.name, ref.qualifier)
        if itype == "Event":
            request_id = str(uuid.uuid4())
            self.async_queue.put(
                QueuedEvent(cfg.name, ref.qualifier, payload, request_id, time.time())
            )
            return Response(
                202, b"", {"x-amzn-RequestId": request_id, "X-Amz-Executed-Version": cfg.version}
            )
        return self._invoke_sync(
            InvokeRequest(
                cfg, payload, arn, str(uuid.uuid4()), client_context, None, log_type == "Tail"
            )
        )

    async def _invoke_sync(self, ireq: InvokeRequest) -> Response:
        try:
            result = await self.scheduler.invoke(ireq)
        except ApiError as exc:
            return error_response(exc)
        return invoke_response(result)

    async def _run_async(self, event: QueuedEvent) -> None:
        try:
            cfg = self.functions.get(event.function, event.qualifier)
        except ResourceNotFound:
            log.warning(
                "async event %s dropped: function %s is gone", event.request_id, event.function
            )
            return
        arn = function_arn(self.region, self.account, cfg.name, event.qualifier)
        await self.scheduler.invoke(InvokeRequest(cfg, event.payload, arn, event.request_id))

    # -- control plane ----------------------------------------------------------------
    def _config(self, cfg: Any) -> dict[str, object]:
        return function_configuration(cfg, self.region, self.account)

    def _create(self, req: Request) -> Response:
        check_create_size(len(req.body))
        cfg = self.functions.create(_json_body(req))
        return json_response(201, self._config(cfg))

    def _list(self, req: Request) -> Response:
        q = req.query
        configs, marker = self.functions.list(
            q.get("Marker") or None, _max_items(q.get("MaxItems"))
        )
        body: dict[str, object] = {"Functions": [self._config(c) for c in configs]}
        if marker:
            body["NextMarker"] = marker
        return json_response(200, body)

    def _get(self, raw: str, req: Request) -> Response:
        ref = parse_function_ref(raw, req.query.get("Qualifier"))
        cfg = self.functions.get(ref.name, ref.qualifier)
        body: dict[str, object] = {
            "Configuration": self._config(cfg),
            "Code": {
                "RepositoryType": "S3",
                "Location": f"http://{req.headers.get('host', 'localhost')}"
                f"/lamina/v1/code/{cfg.code_sha256}.zip",
            },
        }
        reserved = self.functions.metadata.get_reserved_concurrency(cfg.name)
        if reserved is not None:
            body["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        tags = self.functions.metadata.get_tags(cfg.name)
        if tags:
            body["Tags"] = tags
        return json_response(200, body)

    def _get_configuration(self, raw: str, req: Request) -> Response:
        ref = parse_function_ref(raw, req.query.get("Qualifier"))
        return json_response(200, self._config(self.functions.get(ref.name, ref.qualifier)))

    async def _delete(self, raw: str, req: Request) -> Response:
        ref = parse_function_ref(raw, req.query.get("Qualifier"))
        await self.functions.delete(ref.name, ref.qualifier)
        if ref.qualifier is None:
            self.scheduler.pool.set_reserved(ref.name, None)
        return Response(204, b"", {"x-amzn-RequestId": str(uuid.uuid4())})

    async def _update_code(self, raw: str, req: Request) -> Response:
        check_create_size(len(req.body))
        ref = parse_function_ref(raw)
        cfg = await self.functions.update_code(ref.name, _json_body(req))
        return json_response(200, self._config(cfg))

    async def _update_configuration(self, raw: str, req: Request) -> Response:
        ref = parse_function_ref(raw)
        cfg = await self.functions.update_configuration(ref.name, _json_body(req))
        return json_response(200, self._config(cfg))

    def _publish(self, raw: str) -> Response:
        ref = parse_function_ref(raw)
        return json_response(201, self._config(self.functions.publish(ref.name)))

    def _list_versions(self, raw: str) -> Response:
        ref = parse_function_ref(raw)
        latest = self.functions.get(ref.name)
        versions = [latest, *self.functions.metadata.list_versions(ref.name)]
        seen = {(c.name, c.version): c for c in versions}
        return json_response(200, {"Versions": [self._config(c) for c in seen.values()]})

    def _concurrency(self, method: str, raw: str, req: Request) -> Response:
        ref = parse_function_ref(raw)
        self.functions.get(ref.name)
        store = self.functions.metadata
        pool = self.scheduler.pool
        if method == "GET":
            value = store.get_reserved_concurrency(ref.name)
            return json_response(
                200, {} if value is None else {"ReservedConcurrentExecutions": value}
            )
        if method == "DELETE":
            store.set_reserved_concurrency(ref.name, None)
            pool.set_reserved(ref.name, None)
            return Response(204, b"", {"x-amzn-RequestId": str(uuid.uuid4())})
        if method == "PUT":
            value = _json_body(req).get("ReservedConcurrentExecutions")
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidParameterValue(
                    "ReservedConcurrentExecutions must be a non-negative integer"
                )
            others = store.sum_reserved_concurrency(exclude=ref.name)
            limit = pool.limits.account
            minimum = min(100, limit // 10) if limit < 1000 else 100
            if others + value > limit - minimum:
                raise InvalidParameterValue(
                    f"Specified ReservedConcurrentExecutions for function decreases account's "
                    f"UnreservedConcurrentExecution below its minimum value of [{minimum}]."
                )
            store.set_reserved_concurrency(ref.name, value)
            pool.set_reserved(ref.name, value)
            return json_response(200, {"ReservedConcurrentExecutions": value})
        raise ResourceNotFound(f"Unknown operation {method}")

    def _account_settings(self) -> Response:
        pool = self.scheduler.pool
        return json_response(
            200,
            {
                "AccountLimit": {
                    "TotalCodeSize": 80_530_636_800,
                    "CodeSizeUnzipped": 262_144_000,
                    "CodeSizeZipped": 52_428_800,
                    "ConcurrentExecutions": pool.limits.account,
                    "UnreservedConcurrentExecutions": pool.unreserved_limit(),
                },
                "AccountUsage": {
                    "TotalCodeSize": self.functions.total_code_size(),
                    "FunctionCount": len(self.functions.names()),
                },
            },
        )

    # -- Lamina's own endpoints ---------------------------------------------------------
    async def _cost_totals(self, function: str | None) -> Response:
        # The ledger flushes and queries on its own thread: keep the event loop free.
        def query() -> list[dict[str, object]]:
            self.ledger.flush()
            return [
                {k: str(v) if isinstance(v, Decimal) else v for k, v in asdict(t).items()}
                for t in self.ledger.totals(function)
            ]

        return json_response(200, {"functions": await asyncio.to_thread(query)})

    def _cost(self, function: str | None) -> Coroutine[Any, Any, Response]:
        return self._wrap(self._cost_totals(function))

    def _lamina(self, req: Request, parts: list[str]) -> Response | Coroutine[Any, Any, Response]:
        if parts == ["health"]:
            return json_response(
                200,
                {
                    "status": "ok",
                    "functions": len(self.functions.names()),
                    "environments": len(self.scheduler.envs),
                    "sandbox": self.scheduler.sandbox.tier,
                },
            )
        if parts == ["environments"]:
            return json_response(
                200,
                {
                    "Environments": [
                        {
                            "Id": s.env_id,
                            "Function": s.function,
                            "State": s.state.value,
                            "Invocations": s.invocations,
                        }
                        for s in self.scheduler.pool.environments()
                    ]
                },
            )
        if len(parts) == 3 and parts[0] == "functions" and parts[2] == "logs":
            name = unquote(parts[1])
            self.functions.get(name)
            q = req.query
            try:
                since = int(q.get("since", "0"))
                limit = int(q.get("limit", "1000"))
            except ValueError as exc:
                raise InvalidParameterValue("since and limit must be integers") from exc
            events = self.scheduler.logs.read(name, since, limit)
            return json_response(
                200,
                {
                    "events": [
                        {
                            "timestamp": e.timestamp_ms,
                            "message": e.message,
                            "logStreamName": e.stream,
                        }
                        for e in events
                    ]
                },
            )
        if parts == ["cost"]:
            return self._cost(req.query.get("function") or None)
        if parts == ["runtimes"]:
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
                        for c in self.scheduler.runtimes.describe()
                    ]
                },
            )
        if len(parts) == 2 and parts[0] == "code" and parts[1].endswith(".zip"):
            sha = parts[1][:-4]
            path = self.functions.code.zip_path(sha)
            if not path.is_file():
                raise ResourceNotFound("no such code package")
            return Response(200, path.read_bytes(), {"Content-Type": "application/zip"})
        raise ResourceNotFound(f"Unknown Lamina endpoint /lamina/v1/{'/'.join(parts)}")


def invoke_response(result: InvokeResult) -> Response:
    headers = {
        "Content-Type": JSON,
        "x-amzn-RequestId": result.request_id,
        "X-Amz-Executed-Version": result.executed_version,
    }
    if result.function_error:
        headers["X-Amz-Function-Error"] = result.function_error
    if result.log_tail:
        headers["X-Amz-Log-Result"] = base64.b64encode(result.log_tail).decode()
    return Response(200, result.payload, headers)


def _check_json(payload: bytes) -> None:
    """Lambda rejects a payload that is not JSON before any function sees it."""
    try:
        json.loads(payload)
    except ValueError as exc:
        raise InvalidRequestContent(
            f"Could not parse request body into json: Could not parse payload into json: {exc}"
        ) from exc


def _client_context(raw: str | None) -> str | None:
    if raw is None:
        return None
    try:
        return base64.b64decode(raw, validate=True).decode()
    except (binascii.Error, ValueError) as exc:
        raise InvalidRequestContent(
            "Client context must be a valid Base64-encoded JSON object."
        ) from exc
