"""Provisioned concurrency: Put/Get/Delete/ListProvisionedConcurrencyConfig(s).

The rules and shapes are :mod:`lamina.models.provisioned`'s; :class:`lamina.functions.Functions`
stores a configuration and hands it to the scheduler, which starts its environments.
Get and List share one path (``?List=ALL`` marks List, as botocore's model has it).
"""

from __future__ import annotations

from lamina.api.answers import empty_response, json_body, json_response
from lamina.api.context import ApiContext, Handler
from lamina.api.paging import max_items, page
from lamina.arns import function_arn, parse_function_ref
from lamina.errors import InvalidParameterValue
from lamina.models import provisioned
from lamina.models.provisioned import ProvisionedConfig
from lamina.wire.http import Request
from lamina.wire.server import Response


def list_operation(operation: str, req: Request) -> str:
    """The operation IAM authorises: GetProvisionedConcurrencyConfig's path with
    ``?List=ALL`` is ListProvisionedConcurrencyConfigs (``lambda:ListProvisioned...``)."""
    if operation == "GetProvisionedConcurrencyConfig" and _is_list(req):
        return "ListProvisionedConcurrencyConfigs"
    return operation


def _is_list(req: Request) -> bool:
    return "?" in req.target and req.query.get("List") is not None


class ProvisionedOps:
    def __init__(self, ctx: ApiContext) -> None:
        self.ctx = ctx
        self.functions = ctx.functions

    def handlers(self) -> dict[str, Handler]:
        return {
            "PutProvisionedConcurrencyConfig": self.put,
            "GetProvisionedConcurrencyConfig": self.get_or_list,
            "DeleteProvisionedConcurrencyConfig": self.delete,
        }

    @staticmethod
    def _ref(req: Request, params: dict[str, str]) -> tuple[str, str | None]:
        qualifier = req.query.get("Qualifier") if "?" in req.target else None
        ref = parse_function_ref(params["FunctionName"], qualifier)
        return ref.name, ref.qualifier

    def _shape(self, kept: ProvisionedConfig) -> dict[str, object]:
        return provisioned.response(kept, self.functions.allocation(kept))

    def put(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._ref(req, params)
        body = json_body(req)
        kept = self.functions.put_provisioned(
            name, qualifier, body.get("ProvisionedConcurrentExecutions")
        )
        return json_response(202, self._shape(kept))

    def get_or_list(self, req: Request, params: dict[str, str]) -> Response:
        if _is_list(req):
            return self.list(req, params)
        name, qualifier = self._ref(req, params)
        return json_response(200, self._shape(self.functions.provisioned(name, qualifier)))

    def delete(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._ref(req, params)
        self.functions.delete_provisioned(name, qualifier)
        return empty_response(204)

    def list(self, req: Request, params: dict[str, str]) -> Response:
        name, qualifier = self._ref(req, params)
        if qualifier is not None:
            raise InvalidParameterValue(
                "ListProvisionedConcurrencyConfigs takes an unqualified function name"
            )
        q = req.query
        configs, next_marker = page(
            self.functions.provisioned_configs(name),
            lambda p: p.qualifier,
            q.get("Marker") or None,
            max_items(q.get("MaxItems"), most=provisioned.MAX_LIST_ITEMS),
        )
        items = [
            {
                "FunctionArn": function_arn(self.ctx.region, self.ctx.account, name, p.qualifier),
                **self._shape(p),
            }
            for p in configs
        ]
        body: dict[str, object] = {"ProvisionedConcurrencyConfigs": items}
        if next_marker:
            body["NextMarker"] = next_marker
        return json_response(200, body)
