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
        entries = []
        for r in routes:
            fn = r.function_name + (f":{r.qualifier}" if r.qualifier else "")
            key = "$default" if r.path == "$default" else f"{r.method} {r.path}"
            entries.append(
                {"route": key, "function": fn, "payloadFormatVersion": r.payload_version}
            )
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
