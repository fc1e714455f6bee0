"""APIs that ``lamina up`` (or any client) defines on the server, each on its own port.

``PUT /lamina/v1/apis/{ApiId}`` defines or replaces one API — a SAM stack's
``ServerlessRestApi`` or ``ServerlessHttpApi``, say — with its kind, stage and routes. The
server serves it at once on a port of its own and keeps it (``apis.json`` in the data
directory), so it survives restarts on the same port; a later PUT swaps its routes live,
with no restart and no dropped listener. One port per API keeps AWS's URL shapes intact:
a REST API's stage is the first path segment (``http://127.0.0.1:PORT/Prod/hello``, as
``https://ID.execute-api.REGION.amazonaws.com/Prod/hello``), an HTTP API's ``$default``
stage has none, and two stacks' ``GET /hello`` never meet.

Parsing is pure (:func:`parse_api`); :class:`ApiListeners` is the thin driver.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from lamina.errors import ApiError, ConfigError, InvalidParameterValue, ResourceNotFound
from lamina.events.http.handlers import ApiRoutesHandler, StartExecution
from lamina.events.http.routes import ApiConfig, RouteSpec, parse_routes
from lamina.events.invoker import Invoke
from lamina.wire.server import bound_port, serve

log = logging.getLogger("lamina.events.http")

ApiKind = Literal["rest", "http"]
_API_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_STAGE = re.compile(r"^(\$default|[A-Za-z0-9_-]{1,128})$")
MAX_BODY = 6 << 20
STORE_FILE = "apis.json"


@dataclass(frozen=True, slots=True)
class ApiDefinition:
    """One API: what it routes, under which stage, and the port it is served on."""

    api_id: str
    name: str  # who defined it, e.g. "my-stack/ServerlessRestApi"
    kind: ApiKind
    config: ApiConfig  # the routes and the stage
    port: int = 0  # 0: not listening yet

    @property
    def stage(self) -> str:
        return self.config.stage

    @property
    def stage_prefix(self) -> str:
        """The path segment a request must start with: ``/Prod``, or "" for ``$default``."""
        return "" if self.stage == "$default" else f"/{self.stage}"

    def as_json(self, host: str) -> dict[str, Any]:
        return {
            "apiId": self.api_id,
            "name": self.name,
            "kind": self.kind,
            "stage": self.stage,
            "port": self.port,
            "url": f"http://{host}:{self.port}{self.stage_prefix}" if self.port else "",
            "routes": [route_entry(r) for r in self.config.routes],
        }


def route_entry(r: RouteSpec) -> dict[str, str]:
    """A route as the routes file and the API write it."""
    if r.state_machine is not None:
        return {"route": r.key, "stateMachine": r.state_machine}
    function = r.function + (f":{r.qualifier}" if r.qualifier else "")
    return {"route": r.key, "function": function, "payloadFormatVersion": r.payload_version}


def parse_api(api_id: str, body: Mapping[str, Any]) -> ApiDefinition:
    """A PUT body → an API, or :class:`InvalidParameterValue` saying what is wrong."""
    if not _API_ID.match(api_id):
        raise InvalidParameterValue(f"ApiId {api_id!r} must match {_API_ID.pattern}")
    kind = body.get("kind", "http")
    if kind not in ("rest", "http"):
        raise InvalidParameterValue(f"kind must be rest or http, not {kind!r}")
    for key in ("name", "stage"):
        if not isinstance(body.get(key, ""), str):
            raise InvalidParameterValue(f"{key} must be a string, not {body[key]!r}")
    stage = str(body.get("stage") or ("Prod" if kind == "rest" else "$default"))
    if not _STAGE.match(stage) or (kind == "rest" and stage == "$default"):
        raise InvalidParameterValue(
            f"stage {stage!r}: a REST API's stage is a name like Prod; an HTTP API's may "
            "also be $default"
        )
    routes = body.get("routes", [])
    if not isinstance(routes, list) or not all(isinstance(r, dict) for r in routes):
        raise InvalidParameterValue(
            "routes must be a list of {route, function} or {route, stateMachine} objects"
        )
    port = body.get("port", 0)
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
        raise InvalidParameterValue(f"port must be 0-65535, not {port!r}")
    try:
        config = parse_routes(
            {
                "apiId": api_id,
                "stage": stage,
                "payloadFormatVersion": "1.0" if kind == "rest" else "2.0",
                "routes": routes,
            }
        )
    except ConfigError as exc:
        raise InvalidParameterValue(str(exc)) from None
    return ApiDefinition(api_id, str(body.get("name") or api_id), kind, config, port)


class ApiStore:
    """The defined APIs, kept in ``<data_dir>/apis.json`` (rewritten atomically)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.apis: dict[str, ApiDefinition] = {}
        if not path.is_file():
            return
        try:
            doc = json.loads(path.read_text())
            for raw in doc.get("apis", []):
                api = parse_api(str(raw["apiId"]), raw)
                self.apis[api.api_id] = api
        except (OSError, ValueError, KeyError, TypeError, InvalidParameterValue) as exc:
            raise ConfigError(f"cannot read the APIs in {path}: {exc}") from None

    def save(self) -> None:
        doc = {"apis": [a.as_json("127.0.0.1") for a in self.apis.values()]}
        tmp = self.path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)


class ApiListeners:
    """Serves every defined API on its own port; changes routes live."""

    def __init__(
        self,
        store: ApiStore,
        invoke: Invoke,
        *,
        host: str,
        region: str,
        account: str,
    ) -> None:
        self.store = store
        self._invoke = invoke
        self.host = host
        self.reachable = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self._region = region
        self._account = account
        self._handlers: dict[str, ApiRoutesHandler] = {}
        # StartExecution for state machine routes: set by the server once Step Functions is
        # up (events sit below services, so the composition root hands the callable in).
        self.start_execution: StartExecution | None = None
        self._servers: dict[str, asyncio.Server] = {}

    async def start(self) -> None:
        """Serve the APIs kept from earlier runs, on their ports when still free."""
        for api in list(self.store.apis.values()):
            await self._listen(api)

    async def put(self, api: ApiDefinition) -> ApiDefinition:
        """Define or replace an API; a known one keeps its port and its open listener."""
        known = self.store.apis.get(api.api_id)
        handler = self._handlers.get(api.api_id)
        if known is not None and handler is not None:
            api = replace(api, port=known.port)
            handler.api = api.config
            handler.stage_prefix = api.stage_prefix
            handler.rest = api.kind == "rest"
            self.store.apis[api.api_id] = api
            self.store.save()
            return api
        return await self._listen(api)

    def get(self, api_id: str) -> ApiDefinition:
        api = self.store.apis.get(api_id)
        if api is None:
            raise ResourceNotFound(f"Invalid API identifier specified {api_id}")
        return api

    def list(self) -> list[ApiDefinition]:
        return sorted(self.store.apis.values(), key=lambda a: a.api_id)

    async def delete(self, api_id: str) -> None:
        self.get(api_id)
        server = self._servers.pop(api_id, None)
        if server is not None:
            server.close()
        self._handlers.pop(api_id, None)
        del self.store.apis[api_id]
        self.store.save()

    async def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()

    async def _start(self, state_machine_arn: str, input_text: str) -> dict[str, Any]:
        if self.start_execution is None:
            raise ApiError("Step Functions is not running on this server")
        return await self.start_execution(state_machine_arn, input_text)

    async def _listen(self, api: ApiDefinition) -> ApiDefinition:
        handler = ApiRoutesHandler(
            api.config,
            self._invoke,
            region=self._region,
            account=self._account,
            host=self.host,
            stage_prefix=api.stage_prefix,
            rest=api.kind == "rest",
            start_execution=self._start,
        )
        try:
            server = await serve(handler.handle, self.host, api.port, max_body=MAX_BODY)
        except OSError as exc:
            if api.port == 0:
                raise
            log.warning(
                "API %s: port %d is taken (%s); serving on another", api.name, api.port, exc
            )
            server = await serve(handler.handle, self.host, 0, max_body=MAX_BODY)
        api = replace(api, port=bound_port(server))
        self._servers[api.api_id] = server
        self._handlers[api.api_id] = handler
        self.store.apis[api.api_id] = api
        self.store.save()
        log.info("API %s (%s) on http://%s:%d%s", api.name, api.kind, self.host, api.port,
                 api.stage_prefix)  # fmt: skip
        return api
