"""Event invoke configurations and event source mappings, routed to the event sources.

The operations themselves (validation, storage, Lambda's shapes) live with the event
sources in :mod:`lamina.events`; this module only adapts HTTP requests to them.
"""

from __future__ import annotations

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.context import Handler
from lamina.arns import parse_function_ref
from lamina.errors import InvalidRequestContent
from lamina.events.http.apis import parse_api
from lamina.events.sources import EventSources
from lamina.wire.http import Request
from lamina.wire.server import Response


def _answer(status: int, body: object | None) -> Response:
    return empty_response(status) if body is None else json_response(status, body)


class EventOps:
    def __init__(self, sources: EventSources) -> None:
        self.sources = sources

    def handlers(self) -> dict[str, Handler]:
        invoke_config = self.invoke_config
        mapping = self.mapping
        return {
            "PutFunctionEventInvokeConfig": invoke_config,
            "GetFunctionEventInvokeConfig": invoke_config,
            "UpdateFunctionEventInvokeConfig": invoke_config,
            "DeleteFunctionEventInvokeConfig": invoke_config,
            "ListFunctionEventInvokeConfigs": self.list_invoke_configs,
            "CreateEventSourceMapping": mapping,
            "ListEventSourceMappings": mapping,
            "GetEventSourceMapping": mapping,
            "UpdateEventSourceMapping": mapping,
            "DeleteEventSourceMapping": mapping,
            "LaminaPutApi": self.put_api,
            "LaminaGetApi": self.get_api,
            "LaminaListApis": self.list_apis,
            "LaminaDeleteApi": self.delete_api,
        }

    # -- APIs (lamina up's routes): each on its own port, changed live --------------------
    def _host(self, req: Request) -> str:
        return self.sources.apis.reachable

    async def put_api(self, req: Request, params: dict[str, str]) -> Response:
        if not req.body:
            raise InvalidRequestContent("PutApi needs the API's definition as a JSON body")
        api = await self.sources.apis.put(parse_api(params["ApiId"], json_body(req)))
        return json_response(200, api.as_json(self._host(req)))

    def get_api(self, req: Request, params: dict[str, str]) -> Response:
        return json_response(200, self.sources.apis.get(params["ApiId"]).as_json(self._host(req)))

    def list_apis(self, req: Request, params: dict[str, str]) -> Response:
        host = self._host(req)
        body: dict[str, object] = {"apis": [a.as_json(host) for a in self.sources.apis.list()]}
        if self.sources.routes is not None:
            # The routes file's API (LAMINA_HTTP_ROUTES_FILE), on its own port.
            body["routesFile"] = {
                "path": str(self.sources.settings.http_routes_file),
                "port": self.sources.routes_port,
            }
        return json_response(200, body)

    async def delete_api(self, req: Request, params: dict[str, str]) -> Response:
        await self.sources.apis.delete(params["ApiId"])
        return empty_response(204)

    def invoke_config(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"], req.query.get("Qualifier") or None)
        body = json_body(req) if req.method in ("PUT", "POST") else None
        status, answer = self.sources.event_invoke_config_ops.handle(
            req.method, ref.name, ref.qualifier, body
        )
        return _answer(status, answer)

    def list_invoke_configs(self, req: Request, params: dict[str, str]) -> Response:
        ref = parse_function_ref(params["FunctionName"])
        q = req.query
        status, answer = self.sources.event_invoke_config_ops.handle(
            "GET",
            ref.name,
            None,
            list_configs=True,
            marker=q.get("Marker") or None,
            max_items=q.get("MaxItems") or None,
        )
        return _answer(status, answer)

    def mapping(self, req: Request, params: dict[str, str]) -> Response:
        body = json_body(req) if req.method in ("POST", "PUT") else None
        status, answer = self.sources.mapping_ops.handle(
            req.method, params.get("UUID"), req.query, body
        )
        tags = self.sources.rule_ops.tags
        if req.method == "POST" and body and isinstance(answer, dict) and tags is not None:
            # CreateEventSourceMapping's Tags (the mapping itself has no tag column).
            raw, arn = body.get("Tags"), answer.get("EventSourceMappingArn")
            if isinstance(raw, dict) and raw and isinstance(arn, str):
                tags.set(arn, {str(k): str(v) for k, v in raw.items()})
        return _answer(status, answer)
