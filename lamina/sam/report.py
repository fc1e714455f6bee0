"""What ``lamina up`` tells its user: created / changed / removed / failed, and what was left out."""

from __future__ import annotations

from typing import Any

from lamina.sam.plan import route_entries
from lamina.sam.result import UpResult
from lamina.terminal import paint

_VERBS = {
    "create": ("created", "green"),
    "update": ("changed", "yellow"),
    "delete": ("removed", "yellow"),
}


def as_json(result: UpResult) -> dict[str, Any]:
    def names(verb: str) -> list[dict[str, Any]]:
        return [
            {"kind": o.action.kind, "name": o.action.name, "changes": list(o.action.changes)}
            for o in result.applied.outcomes
            if o.action.verb == verb and not o.error
        ]

    return {
        "stack": result.spec.name,
        "created": names("create"),
        "changed": names("update"),
        "removed": names("delete"),
        "failed": [
            {"kind": o.action.kind, "name": o.action.name, "error": o.error}
            for o in result.applied.failed
        ]
        + [{"kind": "build", "name": lid, "error": e} for lid, e in result.build_errors.items()],
        "unsupported": [
            {"what": s.what, "reason": s.reason} for s in result.spec.skipped if not s.ignored
        ],
        "ignored": [{"what": s.what, "reason": s.reason} for s in result.spec.skipped if s.ignored],
        "notes": result.plan.notes,
        "warnings": result.spec.warnings + result.applied.warnings,
        "functions": {
            fn.logical_id: {"name": fn.name, "codeSha256": result.packages[fn.logical_id].sha256}
            for fn in result.spec.functions.values()
            if fn.logical_id in result.packages
        },
        "stateMachines": {
            sm.logical_id: {
                "name": sm.name,
                "arn": sm.arn(result.spec.region, result.spec.account),
                "type": sm.type,
            }
            for sm in result.spec.state_machines.values()
        },
        "functionUrls": result.urls,
        "routes": route_entries(result.spec),
        "apis": {
            str(api.get("name", api_id)).rpartition("/")[2]: {
                "apiId": api_id,
                "kind": api.get("kind"),
                "stage": api.get("stage"),
                "port": api.get("port"),
                "url": api.get("url"),
            }
            for api_id, api in result.apis.items()
        },
        "outputs": result.outputs,
    }


def render(result: UpResult, *, template: str, endpoint: str, routes_hint: str = "") -> str:
    spec = result.spec
    lines = [f"lamina up: stack {paint(spec.name, 'bold')} from {template} → {endpoint}"]
    for o in result.applied.outcomes:
        word, color = _VERBS[o.action.verb]
        if o.error:
            lines.append(f"  {paint('failed ', 'red')}  {o.action.describe()}: {o.error}")
        else:
            lines.append(f"  {paint(word, color)}  {o.action.describe()}")
    for lid, error in result.build_errors.items():
        lines.append(f"  {paint('failed ', 'red')}  build of {lid}:\n{_indent(error, 6)}")
    if not result.applied.outcomes and not result.build_errors:
        lines.append("  " + paint("no changes", "dim"))
    desired = {
        *(("function", f.name) for f in spec.functions.values()),
        *(("queue", q.name) for q in spec.queues.values()),
        *(("topic", t.name) for t in spec.topics.values()),
        *(("subscription", s.key) for s in spec.subscriptions),
        *(("bucket", b.name) for b in spec.buckets.values()),
        *(("rule", r.name) for r in spec.rules),
        *(("schedule", f"{s.group}/{s.name}") for s in spec.schedules),
        *(("mapping", m.key) for m in spec.mappings),
        *(("statemachine", m.name) for m in spec.state_machines.values()),
    }
    touched = {(o.action.kind, o.action.name) for o in result.applied.outcomes}
    unchanged = len(desired - touched - result.plan.blocked)
    if result.applied.outcomes and unchanged:
        lines.append(paint(f"  ({unchanged} other resource(s) unchanged)", "dim"))
    unsupported = [s for s in spec.skipped if not s.ignored]
    if unsupported:
        lines.append("Not created (Lamina does not support them):")
        lines.extend(f"  - {s.what}: {s.reason}" for s in unsupported)
    ignored = [s for s in spec.skipped if s.ignored]
    if ignored:
        lines.append("Ignored (no effect on Lamina):")
        lines.extend(f"  - {s.what}: {s.reason}" for s in ignored)
    notes = result.plan.notes + spec.warnings + result.applied.warnings
    if notes:
        lines.append("Notes:")
        lines.extend(f"  - {n}" for n in notes)
    endpoints = []
    for fn in spec.functions.values():
        if fn.name in result.urls:
            endpoints.append(f"  URL    {fn.name}: {result.urls[fn.name]}")
    for api in result.apis.values():
        lid = str(api.get("name", "")).rpartition("/")[2]
        endpoints.append(
            f"  API    {lid} ({api.get('kind')}, stage {api.get('stage')}): {api.get('url')}"
        )
    routes = route_entries(spec)
    for r in routes:
        if "stateMachine" in r:  # SAM's StartExecution integration
            machine = r["stateMachine"].rpartition(":")[2]
            endpoints.append(f"  route  {r['route']} → state machine {machine} (StartExecution)")
            continue
        endpoints.append(
            f"  route  {r['route']} → {r['function']} (payload {r['payloadFormatVersion']})"
        )
    if endpoints:
        lines.append("Endpoints:")
        lines.extend(endpoints)
        if routes and routes_hint:
            lines.append(f"  {routes_hint}")
    if result.outputs:
        lines.append("Outputs:")
        lines.extend(f"  {k} = {v}" for k, v in result.outputs.items())
    return "\n".join(lines)


def _indent(text: str, n: int) -> str:
    return "\n".join(" " * n + line for line in text.splitlines())
