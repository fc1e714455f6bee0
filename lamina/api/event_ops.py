"""Event invoke configurations and event source mappings, routed to the event sources.

The operations themselves (validation, storage, Lambda's shapes) live with the event
sources in :mod:`lamina.events`; this module only adapts HTTP requests to them.
"""

from __future__ import annotations

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.context import Handler
from lamina.arns import parse_function_ref
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
        }

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
        return _answer(status, answer)
