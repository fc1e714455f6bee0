"""Aliases: Create/Get/Update/Delete/ListAliases, with weighted routing between versions."""

from __future__ import annotations

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.bodies import optional_string
from lamina.api.context import ApiContext, Handler
from lamina.api.paging import max_items, page
from lamina.api.shapes import alias_configuration
from lamina.arns import parse_function_ref
from lamina.errors import InvalidParameterValue
from lamina.models.alias import Alias, parse_routing, validate_alias_version
from lamina.wire.http import Request
from lamina.wire.server import Response


class AliasOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "CreateAlias": self.create,
            "GetAlias": self.get,
            "UpdateAlias": self.update,
            "DeleteAlias": self.delete,
            "ListAliases": self.list,
        }

    def _shape(self, alias: Alias) -> dict[str, object]:
        return alias_configuration(alias, self.ctx.region, self.ctx.account)

    @staticmethod
    def _name(raw: str) -> str:
        ref = parse_function_ref(raw)
        if ref.qualifier is not None:
            raise InvalidParameterValue(f"Alias operations take an unqualified function: {raw}")
        return ref.name

    def create(self, req: Request, params: dict[str, str]) -> Response:
        name = self._name(params["FunctionName"])
        body = json_body(req)
        if body.get("FunctionVersion") is None or body.get("Name") is None:
            raise InvalidParameterValue("CreateAlias needs Name and FunctionVersion")
        alias = self.functions.create_alias(
            name,
            body["Name"],
            body["FunctionVersion"],
            body.get("Description", ""),
            parse_routing(body.get("RoutingConfig")),
        )
        return json_response(201, self._shape(alias))

    def get(self, req: Request, params: dict[str, str]) -> Response:
        name = self._name(params["FunctionName"])
        return json_response(200, self._shape(self.functions.alias(name, params["Name"])))

    def update(self, req: Request, params: dict[str, str]) -> Response:
        name = self._name(params["FunctionName"])
        body = json_body(req)
        alias = self.functions.update_alias(
            name,
            params["Name"],
            body.get("FunctionVersion"),
            body.get("Description"),
            parse_routing(body["RoutingConfig"]) if "RoutingConfig" in body else None,
            optional_string(body, "RevisionId"),
        )
        return json_response(200, self._shape(alias))

    def delete(self, req: Request, params: dict[str, str]) -> Response:
        name = self._name(params["FunctionName"])
        self.functions.delete_alias(name, params["Name"])
        return empty_response(204)

    def list(self, req: Request, params: dict[str, str]) -> Response:
        name = self._name(params["FunctionName"])
        q = req.query
        version = q.get("FunctionVersion") or None
        if version is not None:
            validate_alias_version(version)
        aliases, next_marker = page(
            self.functions.aliases(name, version),
            lambda a: a.name,
            q.get("Marker") or None,
            max_items(q.get("MaxItems")),
        )
        body: dict[str, object] = {"Aliases": [self._shape(a) for a in aliases]}
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(200, body)
