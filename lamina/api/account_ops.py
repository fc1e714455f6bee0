"""Reserved concurrency, tags, and the account's settings and usage."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.bodies import MAX_TAGS, tags
from lamina.api.context import ApiContext, Handler
from lamina.arns import parse_function_arn, parse_function_ref
from lamina.errors import InvalidParameterValue, ResourceNotFound
from lamina.store.resource_tags import ResourceTags
from lamina.wire.http import Request
from lamina.wire.server import Response

_MAPPING_ARN = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:\d{12}:event-source-mapping:[0-9a-f-]{36}$"
)


class AccountOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "PutFunctionConcurrency": self.put_concurrency,
            "GetFunctionConcurrency": self.get_concurrency,
            "DeleteFunctionConcurrency": self.delete_concurrency,
            "GetAccountSettings": self.account_settings,
            "TagResource": self.tag,
            "UntagResource": self.untag,
            "ListTags": self.list_tags,
        }

    # -- concurrency ------------------------------------------------------------------
    def _function(self, raw: str) -> str:
        ref = parse_function_ref(raw)
        if ref.qualifier is not None:
            raise InvalidParameterValue(
                "Reserved concurrency is set on the function, not on a version or alias"
            )
        self.functions.get(ref.name)
        return ref.name

    def put_concurrency(self, req: Request, params: dict[str, str]) -> Response:
        name = self._function(params["FunctionName"])
        value = json_body(req).get("ReservedConcurrentExecutions")
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidParameterValue.constraint(
                "reservedConcurrentExecutions",
                "Member must have value greater than or equal to 0",
                value,
            )
        self.functions.set_reserved_concurrency(name, value)
        return json_response(200, {"ReservedConcurrentExecutions": value})

    def get_concurrency(self, req: Request, params: dict[str, str]) -> Response:
        name = self._function(params["FunctionName"])
        value = self.functions.reserved_concurrency(name)
        return json_response(200, {} if value is None else {"ReservedConcurrentExecutions": value})

    def delete_concurrency(self, req: Request, params: dict[str, str]) -> Response:
        name = self._function(params["FunctionName"])
        self.functions.set_reserved_concurrency(name, None)
        return empty_response(204)

    def account_settings(self, req: Request, params: dict[str, str]) -> Response:
        pool = self.ctx.scheduler.pool
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

    # -- tags -------------------------------------------------------------------------
    def _mapping_tags(self, arn: str) -> ResourceTags | None:
        """Where an event source mapping's tags are kept, if ``arn`` is a mapping's."""
        if not _MAPPING_ARN.match(arn):
            return None
        if self.ctx.resource_tags is None:
            raise InvalidParameterValue("Event source mappings are not served")
        return self.ctx.resource_tags

    def _resource(self, raw: str) -> str:
        """A taggable resource: the ARN of a function (not of a version or alias)."""
        arn = parse_function_arn(raw)
        if arn is None:
            raise InvalidParameterValue.constraint(
                "resource",
                "Member must satisfy regular expression pattern: "
                "arn:(aws[a-zA-Z-]*):lambda:[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{1}:"
                "\\d{12}:function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?",
                raw,
            )
        if arn.qualifier:
            raise InvalidParameterValue(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        if (arn.region, arn.account) != (self.ctx.region, self.ctx.account):
            raise ResourceNotFound(f"Function not found: {raw}")
        self.functions.get(arn.name)
        return arn.name

    def tag(self, req: Request, params: dict[str, str]) -> Response:
        new = tags(json_body(req).get("Tags"))
        if not new:
            raise InvalidParameterValue("Tags must name at least one tag")
        if (kept := self._mapping_tags(params["Resource"])) is not None:
            if len({**kept.get(params["Resource"]), **new}) > MAX_TAGS:
                raise InvalidParameterValue(
                    f"Number of tags exceeds resource tag limit of {MAX_TAGS}."
                )
            kept.set(params["Resource"], new)
            return empty_response(204)
        name = self._resource(params["Resource"])
        total = {**self.functions.tags(name), **new}
        if len(total) > MAX_TAGS:
            raise InvalidParameterValue(
                f"Number of tags exceeds resource tag limit of {MAX_TAGS}. Tags: {len(total)}"
            )
        self.functions.tag(name, new)
        return empty_response(204)

    def untag(self, req: Request, params: dict[str, str]) -> Response:
        query = req.target.partition("?")[2]
        keys = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "tagKeys"]
        if not keys:
            raise InvalidParameterValue("UntagResource needs at least one tagKeys parameter")
        if (kept := self._mapping_tags(params["Resource"])) is not None:
            kept.remove(params["Resource"], keys)
            return empty_response(204)
        name = self._resource(params["Resource"])
        self.functions.untag(name, keys)
        return empty_response(204)

    def list_tags(self, req: Request, params: dict[str, str]) -> Response:
        if _MAPPING_ARN.match(params["Resource"]):
            kept = self.ctx.resource_tags
            return json_response(
                200, {"Tags": {} if kept is None else kept.get(params["Resource"])}
            )
        name = self._resource(params["Resource"])
        return json_response(200, {"Tags": self.functions.tags(name)})
