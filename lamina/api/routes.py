"""The operations Lamina serves, by method and path: the one table routing and OpenAPI share.

Paths are botocore's ``requestUri`` templates for the Lambda operations (the service
model is the authority), plus Lamina's own ``/lamina/v1`` endpoints. Matching is pure:
segments are compared raw and captured ``{Params}`` are URL-decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from lamina.errors import MethodNotAllowed, UnknownOperation


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    template: str
    operation: str
    status: int  # the success status
    lamina: bool = False  # one of Lamina's own endpoints (not a Lambda operation)

    @property
    def segments(self) -> tuple[str, ...]:
        return tuple(s for s in self.template.split("/") if s)


F = "/2015-03-31/functions"
FN = F + "/{FunctionName}"
EIC = "/2019-09-25/functions/{FunctionName}/event-invoke-config"
ESM = "/2015-03-31/event-source-mappings"
LAYERS = "/2018-10-31/layers"
LV = LAYERS + "/{LayerName}/versions"
PC = "/2019-09-30/functions/{FunctionName}/provisioned-concurrency"
RC = "/2024-08-31/functions/{FunctionName}/recursion-config"

ROUTES: tuple[Route, ...] = (
    Route("POST", F, "CreateFunction", 201),
    Route("GET", F, "ListFunctions", 200),
    Route("GET", FN, "GetFunction", 200),
    Route("DELETE", FN, "DeleteFunction", 204),
    Route("GET", FN + "/configuration", "GetFunctionConfiguration", 200),
    Route("PUT", FN + "/configuration", "UpdateFunctionConfiguration", 200),
    Route("PUT", FN + "/code", "UpdateFunctionCode", 200),
    Route("POST", FN + "/invocations", "Invoke", 200),
    Route(
        "POST",
        "/2021-11-15/functions/{FunctionName}/response-streaming-invocations",
        "InvokeWithResponseStream",
        200,
    ),
    Route("POST", FN + "/versions", "PublishVersion", 201),
    Route("GET", FN + "/versions", "ListVersionsByFunction", 200),
    Route("POST", FN + "/policy", "AddPermission", 201),
    Route("GET", FN + "/policy", "GetPolicy", 200),
    Route("DELETE", FN + "/policy/{StatementId}", "RemovePermission", 204),
    Route("POST", FN + "/aliases", "CreateAlias", 201),
    Route("GET", FN + "/aliases", "ListAliases", 200),
    Route("GET", FN + "/aliases/{Name}", "GetAlias", 200),
    Route("PUT", FN + "/aliases/{Name}", "UpdateAlias", 200),
    Route("DELETE", FN + "/aliases/{Name}", "DeleteAlias", 204),
    Route("PUT", "/2017-10-31/functions/{FunctionName}/concurrency", "PutFunctionConcurrency", 200),
    Route(
        "DELETE",
        "/2017-10-31/functions/{FunctionName}/concurrency",
        "DeleteFunctionConcurrency",
        204,
    ),
    Route("GET", "/2019-09-30/functions/{FunctionName}/concurrency", "GetFunctionConcurrency", 200),
    # ListProvisionedConcurrencyConfigs is this GET with ?List=ALL (the handler tells them apart).
    Route("PUT", PC, "PutProvisionedConcurrencyConfig", 202),
    Route("GET", PC, "GetProvisionedConcurrencyConfig", 200),
    Route("DELETE", PC, "DeleteProvisionedConcurrencyConfig", 204),
    Route("GET", RC, "GetFunctionRecursionConfig", 200),
    Route("PUT", RC, "PutFunctionRecursionConfig", 200),
    Route("GET", "/2016-08-19/account-settings", "GetAccountSettings", 200),
    Route("POST", "/2017-03-31/tags/{Resource}", "TagResource", 204),
    Route("DELETE", "/2017-03-31/tags/{Resource}", "UntagResource", 204),
    Route("GET", "/2017-03-31/tags/{Resource}", "ListTags", 200),
    Route("POST", "/2021-10-31/functions/{FunctionName}/url", "CreateFunctionUrlConfig", 201),
    Route("GET", "/2021-10-31/functions/{FunctionName}/url", "GetFunctionUrlConfig", 200),
    Route("PUT", "/2021-10-31/functions/{FunctionName}/url", "UpdateFunctionUrlConfig", 200),
    Route("DELETE", "/2021-10-31/functions/{FunctionName}/url", "DeleteFunctionUrlConfig", 204),
    Route("GET", "/2021-10-31/functions/{FunctionName}/urls", "ListFunctionUrlConfigs", 200),
    Route(
        "GET",
        "/2020-06-30/functions/{FunctionName}/code-signing-config",
        "GetFunctionCodeSigningConfig",
        200,
    ),
    # Lamina's own endpoints.
    Route("GET", "/lamina/v1/health", "LaminaHealth", 200, lamina=True),
    Route("GET", "/lamina/v1/environments", "LaminaListEnvironments", 200, lamina=True),
    Route("GET", "/lamina/v1/functions/{FunctionName}/logs", "LaminaGetLogs", 200, lamina=True),
    Route(
        "GET",
        "/lamina/v1/functions/{FunctionName}/telemetry",
        "LaminaGetTelemetry",
        200,
        lamina=True,
    ),
    Route("GET", "/lamina/v1/cost", "LaminaGetCost", 200, lamina=True),
    Route("GET", "/lamina/v1/ledger", "LaminaGetLedger", 200, lamina=True),
    Route("GET", "/lamina/v1/apis", "LaminaListApis", 200, lamina=True),
    Route("PUT", "/lamina/v1/apis/{ApiId}", "LaminaPutApi", 200, lamina=True),
    Route("GET", "/lamina/v1/apis/{ApiId}", "LaminaGetApi", 200, lamina=True),
    Route("DELETE", "/lamina/v1/apis/{ApiId}", "LaminaDeleteApi", 204, lamina=True),
    Route("GET", "/lamina/v1/runtimes", "LaminaListRuntimes", 200, lamina=True),
    Route("GET", "/lamina/v1/code/{CodeFile}", "LaminaGetCode", 200, lamina=True),
    Route("GET", "/lamina/v1/cluster/code/{Sha256}", "LaminaGetClusterCode", 200, lamina=True),
    Route("GET", "/lamina/v1/openapi.json", "LaminaGetOpenApi", 200, lamina=True),
    Route("PUT", EIC, "PutFunctionEventInvokeConfig", 200),
    Route("GET", EIC, "GetFunctionEventInvokeConfig", 200),
    Route("POST", EIC, "UpdateFunctionEventInvokeConfig", 200),
    Route("DELETE", EIC, "DeleteFunctionEventInvokeConfig", 204),
    Route("GET", EIC + "/list", "ListFunctionEventInvokeConfigs", 200),
    Route("POST", ESM, "CreateEventSourceMapping", 202),
    Route("GET", ESM, "ListEventSourceMappings", 200),
    Route("GET", ESM + "/{UUID}", "GetEventSourceMapping", 200),
    Route("PUT", ESM + "/{UUID}", "UpdateEventSourceMapping", 202),
    Route("DELETE", ESM + "/{UUID}", "DeleteEventSourceMapping", 202),
    # GetLayerVersionByArn is GET /2018-10-31/layers?find=LayerVersion: ListLayers' path.
    Route("GET", LAYERS, "ListLayers", 200),
    Route("POST", LV, "PublishLayerVersion", 201),
    Route("GET", LV, "ListLayerVersions", 200),
    Route("GET", LV + "/{VersionNumber}", "GetLayerVersion", 200),
    Route("DELETE", LV + "/{VersionNumber}", "DeleteLayerVersion", 204),
    Route("POST", LV + "/{VersionNumber}/policy", "AddLayerVersionPermission", 201),
    Route("GET", LV + "/{VersionNumber}/policy", "GetLayerVersionPolicy", 200),
    Route(
        "DELETE",
        LV + "/{VersionNumber}/policy/{StatementId}",
        "RemoveLayerVersionPermission",
        204,
    ),
)


def _index(routes: tuple[Route, ...]) -> dict[int, list[Route]]:
    out: dict[int, list[Route]] = {}
    for route in routes:
        out.setdefault(len(route.segments), []).append(route)
    return out


_BY_LENGTH = _index(ROUTES)


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for ``method`` and the raw ``path``, with its decoded parameters."""
    segments = [s for s in path.split("/") if s]
    allowed: list[str] = []
    for route in _BY_LENGTH.get(len(segments), ()):
        params: dict[str, str] = {}
        for want, got in zip(route.segments, segments, strict=True):
            if want.startswith("{"):
                params[want[1:-1]] = unquote(got)
            elif want != got:
                break
        else:
            if route.method == method:
                return route, params
            allowed.append(route.method)
    if allowed:
        raise MethodNotAllowed(f"The {method} method is not supported on {path}", allowed)
    raise UnknownOperation(f"No Lambda operation serves {method} {path}")
