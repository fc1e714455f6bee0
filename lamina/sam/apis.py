"""A stack's APIs as Lamina serves them (pure): one API per SAM API, each on its own port.

``ServerlessRestApi``, ``ServerlessHttpApi`` and every ``AWS::Serverless::Api`` /
``HttpApi`` the routes name become one API on the server (``PUT /lamina/v1/apis/{id}``,
id :func:`lamina.sam.names.api_id`), so two stacks' routes never meet, a REST API keeps
its stage in the path, and changed routes are served at once. Outputs that spell an API's
AWS URL (``https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/``)
are rewritten to the server's URL for it.
"""

from __future__ import annotations

import re
from typing import Any

from lamina.sam import names
from lamina.sam.model import StackSpec


def api_wants(spec: StackSpec) -> dict[str, dict[str, Any]]:
    """API id → the PUT body for it (``logicalId`` is ours; the server ignores it)."""
    grouped: dict[str, list[Any]] = {}
    for r in spec.routes:
        grouped.setdefault(r.api, []).append(r)
    out: dict[str, dict[str, Any]] = {}
    for lid, routes in sorted(grouped.items()):
        entries = [r.entry() for r in routes]
        out[names.api_id(spec.name, lid)] = {
            "name": f"{spec.name}/{lid}",
            "logicalId": lid,
            "kind": routes[0].api_kind,
            "stage": routes[0].stage,
            "routes": sorted(entries, key=lambda e: e["route"]),
        }
    return out


def api_differs(want: dict[str, Any], have: dict[str, Any]) -> list[str]:
    """What an update would change (empty: the server has it as wanted)."""
    out = [k for k in ("kind", "stage", "name") if want[k] != have.get(k)]
    if want["routes"] != sorted(have.get("routes") or [], key=lambda e: e["route"]):
        out.append("routes")
    return out


def local_api_urls(outputs: dict[str, str], region: str, urls: dict[str, str]) -> dict[str, str]:
    """``outputs`` with each API's AWS base URL replaced by the server's (``urls``: id → base
    URL without the stage, e.g. ``http://127.0.0.1:40123``)."""
    if not urls:
        return outputs
    pattern = re.compile(
        r"https?://("
        + "|".join(re.escape(i) for i in urls)
        + r")\.execute-api\."
        + re.escape(region)
        + r"\.amazonaws\.com"
    )
    return {k: pattern.sub(lambda m: urls[m.group(1)], v) for k, v in outputs.items()}


# An API resource's properties Lamina applies: the rest is listed, never dropped silently.
_API_APPLIED = {"StageName", "Name", "Description", "Tags", "OpenApiVersion"}
# property → (why it is left out, True when it means nothing on Lamina rather than missing)
_API_LEFT_OUT = {
    "DefinitionBody": ("routes are read from function events, not OpenAPI definitions", False),
    "DefinitionUri": ("routes are read from function events, not OpenAPI definitions", False),
    "TracingEnabled": ("API stages record no X-Ray segments (functions do: Tracing: Active)", True),
    "EndpointConfiguration": ("one local listener per API: no endpoint types", True),
    "AccessLogSetting": ("API access logs are not written; function logs are kept", False),
    "AccessLogSettings": ("API access logs are not written; function logs are kept", False),
    "Auth": ("authorizers are not enforced by Lamina's API routes", False),
    "Cors": ("no CORS preflight answers; the function's own headers pass through", False),
    "CorsConfiguration": ("no CORS preflight answers; the function's own headers pass", False),
    "Models": ("request models are not validated", False),
    "Domain": ("no custom domains: each API has its own local port", True),
}


def api_properties_left_out(props: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """An ``AWS::Serverless::Api``/``HttpApi``'s properties Lamina does not apply, each with
    its reason and whether it is ignorable (``(reason, ignored)``)."""
    return {
        key: _API_LEFT_OUT.get(key, ("not applied by Lamina's API routes", False))
        for key in props
        if key not in _API_APPLIED
    }
