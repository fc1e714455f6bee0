"""After ``lamina up`` applied a stack, tell the server what the stack now holds, so
CloudFormation's read API (``aws cloudformation describe-stacks``, ``sam list
stack-outputs``, ``sam logs --stack-name``) answers for it.

The record (``PUT /lamina/v1/stacks/<name>``) carries the template as written, the parameter
values, the resolved Outputs, and each template resource Lamina made with its physical id
(what ``Ref`` gives, as on CloudFormation) and the type CloudFormation lists after SAM's
transform (``AWS::Serverless::Function`` is an ``AWS::Lambda::Function``: ``sam logs`` and
``sam list resources`` look for those). Resources Lamina does not make (skipped or
ignored) are left out; a resource whose build or apply failed is recorded as failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lamina.client.http import Client
from lamina.client.http import ClientError as LaminaClientError
from lamina.sam.errors import TemplateError
from lamina.sam.result import UpResult
from lamina.sam.translate import pseudo_parameters
from lamina.services.cloudformation.model import PROCESSED_TYPES


def _skipped_ids(result: UpResult) -> set[str]:
    """Logical ids of whole resources listed as skipped ("Id" or "Id (Type)"; not the
    "Id.Property" or "Id.Events.E" of a part of one)."""
    heads = (s.what.split(" ", 1)[0] for s in result.spec.skipped)
    return {head for head in heads if "." not in head}


def _text(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def stack_record(result: UpResult, template_path: Path) -> dict[str, Any]:
    """The JSON record of ``result`` (see :mod:`lamina.services.cloudformation.model`)."""
    tr = result.translation
    template = tr.template
    skipped = _skipped_ids(result)
    failed_names = {o.action.name: o.error or "" for o in result.applied.failed}
    # What this `up` created or changed, by the names its actions carry (a queue's is its
    # name, its physical id the URL; a state machine's physical id is its ARN; an event's
    # mapping, rule or schedule is keyed "<function>.<...>").
    touched = {o.action.name for o in result.applied.outcomes if o.action.verb != "delete"}

    def changed(lid: str, physical: str) -> bool:
        return lid in result.build_errors or any(
            name == physical
            or physical.endswith(("/" + name, ":" + name))
            or name.startswith(lid + ".")
            for name in touched
        )

    resources = []
    for lid, body in tr.resources.items():
        if lid in tr.catalog.excluded or lid in skipped:
            continue
        try:
            ref = tr.catalog.ref(lid)
        except TemplateError:
            ref = lid
        physical = ref if isinstance(ref, str) else lid
        reason = result.build_errors.get(lid) or failed_names.get(physical, "")
        resources.append(
            {
                "LogicalResourceId": lid,
                "PhysicalResourceId": physical,
                "ResourceType": PROCESSED_TYPES.get(str(body["Type"]), str(body["Type"])),
                "ResourceStatusReason": reason,
                "Changed": changed(lid, physical),
            }
        )
    outputs = []
    for key, value in result.outputs.items():
        found = template.outputs.get(key)
        body = found if isinstance(found, dict) else {}
        export = body.get("Export")
        export_name = ""
        if isinstance(export, dict) and "Name" in export:
            try:
                export_name = _text(tr.resolver.resolve(export["Name"], f"Outputs.{key}.Export"))
            except TemplateError:
                export_name = ""
        description = body.get("Description")
        outputs.append(
            {
                "OutputKey": key,
                "OutputValue": value,
                "Description": description if isinstance(description, str) else "",
                "ExportName": export_name,
            }
        )
    declared = []
    values: dict[str, str] = {}
    for key, spec in template.parameters.items():
        spec = spec if isinstance(spec, dict) else {}
        no_echo = str(spec.get("NoEcho", "")).lower() == "true"
        default = spec.get("Default")
        declared.append(
            {
                "ParameterKey": key,
                "ParameterType": str(spec.get("Type", "String")),
                "DefaultValue": None if default is None or no_echo else _text(default),
                "Description": str(spec.get("Description") or ""),
                "NoEcho": no_echo,
            }
        )
        if key in tr.resolver.parameters:
            values[key] = "****" if no_echo else _text(tr.resolver.parameters[key])
    return {
        "StackId": pseudo_parameters(tr.stack, tr.region, tr.account)["AWS::StackId"],
        "TemplateBody": template_path.read_text(errors="replace"),
        "Description": template.description,
        "Parameters": values,
        "DeclaredParameters": declared,
        "Outputs": outputs,
        "Tags": {},
        "Resources": resources,
        # Whether this `up` changed anything (an unchanged stack is left as it was).
        "Changed": bool(result.applied.outcomes or result.build_errors),
    }


def record_stack(client: Client, result: UpResult, template_path: Path) -> str | None:
    """Send the record; a warning to show when the server did not take it, else None."""
    try:
        client.call(
            "PUT", f"/lamina/v1/stacks/{result.spec.name}", stack_record(result, template_path)
        )
    except (LaminaClientError, OSError) as exc:
        return f"the stack was not recorded for CloudFormation's API: {exc}"
    return None
