"""SAM's ``Globals`` section merged into each resource, with SAM's rules.

A resource's own value wins for scalars; maps merge key by key (recursively, the resource
winning); lists are the global items followed by the resource's. When either side is an
intrinsic function (``!Ref``, ``!If``, ...) the resource's value is taken whole, since the
two cannot be merged before they are resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.sam.errors import TemplateError

# Globals section → the resource type it applies to.
SECTIONS = {
    "Function": "AWS::Serverless::Function",
    "Api": "AWS::Serverless::Api",
    "HttpApi": "AWS::Serverless::HttpApi",
    "SimpleTable": "AWS::Serverless::SimpleTable",
    "LayerVersion": "AWS::Serverless::LayerVersion",
    "StateMachine": "AWS::Serverless::StateMachine",
}


def _is_intrinsic(value: Any) -> bool:
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        return key == "Ref" or (isinstance(key, str) and key.startswith("Fn::"))
    return False


def merge_value(global_value: Any, local: Any) -> Any:
    """One property: the global value merged with the resource's own."""
    if local is None:  # "Variables:" with nothing under it: nothing to override with
        return global_value
    if _is_intrinsic(global_value) or _is_intrinsic(local):
        return local
    if isinstance(global_value, dict) and isinstance(local, dict):
        out = dict(global_value)
        for key, value in local.items():
            out[key] = merge_value(global_value[key], value) if key in global_value else value
        return out
    if isinstance(global_value, list) and isinstance(local, list):
        return [*global_value, *local]
    return local


def merge_properties(global_props: Mapping[str, Any], props: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(global_props)
    for key, value in props.items():
        out[key] = merge_value(global_props[key], value) if key in global_props else value
    return out


def apply_globals(globals_section: Any, resources: Mapping[str, Any]) -> dict[str, Any]:
    """Resources with the matching Globals merged into their Properties."""
    if globals_section is None:
        return dict(resources)
    if not isinstance(globals_section, dict):
        raise TemplateError("Globals must be a mapping of sections (Function, Api, HttpApi, ...)")
    unknown = sorted(set(globals_section) - set(SECTIONS))
    if unknown:
        raise TemplateError(
            f"Globals section(s) {', '.join(unknown)} are not SAM's ({', '.join(SECTIONS)})"
        )
    by_type = {SECTIONS[name]: body or {} for name, body in globals_section.items()}
    for name, body in by_type.items():
        if not isinstance(body, dict):
            raise TemplateError(f"Globals for {name} must be a mapping of properties")
    out: dict[str, Any] = {}
    for logical_id, resource in resources.items():
        if isinstance(resource, dict) and resource.get("Type") in by_type:
            props = resource.get("Properties") or {}
            if not isinstance(props, dict):
                raise TemplateError(f"{logical_id}: Properties must be a mapping")
            resource = {
                **resource,
                "Properties": merge_properties(by_type[str(resource["Type"])], props),
            }
        out[logical_id] = resource
    return out
