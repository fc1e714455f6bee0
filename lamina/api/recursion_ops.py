"""Recursive loop detection's setting: GetFunctionRecursionConfig, PutFunctionRecursionConfig.

What Lamina does with it is in :mod:`lamina.events.recursion`.
"""

from __future__ import annotations

from lamina.api.answers import json_body, json_response
from lamina.api.context import ApiContext, Handler
from lamina.arns import parse_function_ref
from lamina.errors import InvalidParameterValue
from lamina.wire.http import Request
from lamina.wire.server import Response

RECURSIVE_LOOP = ("Allow", "Terminate")


class RecursionOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "GetFunctionRecursionConfig": self.get_config,
            "PutFunctionRecursionConfig": self.put_config,
        }

    def _function(self, raw: str) -> str:
        ref = parse_function_ref(raw)
        if ref.qualifier is not None:  # the model's UnqualifiedFunctionName
            raise InvalidParameterValue.constraint(
                "functionName",
                "Member must satisfy regular expression pattern: "
                "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
                "(function:)?([a-zA-Z0-9-_]+)",
                raw,
            )
        self.functions.get(ref.name)  # ResourceNotFoundException
        return ref.name

    def get_config(self, req: Request, params: dict[str, str]) -> Response:
        name = self._function(params["FunctionName"])
        return json_response(200, {"RecursiveLoop": self.functions.recursive_loop(name)})

    def put_config(self, req: Request, params: dict[str, str]) -> Response:
        name = self._function(params["FunctionName"])
        value = json_body(req).get("RecursiveLoop")
        if value not in RECURSIVE_LOOP:
            raise InvalidParameterValue.constraint(
                "recursiveLoop", "Member must satisfy enum value set: [Allow, Terminate]", value
            )
        assert isinstance(value, str)
        self.functions.set_recursive_loop(name, value)
        return json_response(200, {"RecursiveLoop": value})
