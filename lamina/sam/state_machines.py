"""State machines in a template → :class:`StateMachineSpec` plus their schedules. Pure
but for reading a ``DefinitionUri`` file.

Two resource types say the same thing: SAM's ``AWS::Serverless::StateMachine``
(``Definition`` or ``DefinitionUri``, ``Type``, ``Role``/``Policies``, ``Events``) and
CloudFormation's ``AWS::StepFunctions::StateMachine`` (``Definition`` or
``DefinitionString``, ``StateMachineType``, ``RoleArn``). Both take
``DefinitionSubstitutions``: ``${Key}`` in the definition's text is replaced by the
resolved value, as CloudFormation does at deploy time; a ``${...}`` with no such key stays
(Step Functions' own JSONata and intrinsics never use that form).

An ``Api`` event becomes a route of the REST API it names (``ServerlessRestApi`` when none)
that starts an execution with the request's body as its input and answers StartExecution's
``{executionArn, startDate}``, as SAM's StartExecution integration does.

Lamina's workflows do not run with their role's permissions (a Lambda task is invoked as
the platform), so a role is recorded, never created, and ``Policies`` are listed as ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from lamina.sam import names
from lamina.sam.errors import TemplateError
from lamina.sam.events import EventContext, api_route, event_entries
from lamina.sam.model import (
    LOGICAL_ID_TAG,
    STACK_TAG,
    ApiRouteSpec,
    RuleSpec,
    ScheduleSpec,
    Skipped,
    StateMachineSpec,
    TargetSpec,
)
from lamina.sam.patterns import EVENT_TYPES, event_rule, schedule_rule, target_id
from lamina.sam.resources import schedule_event, tags_of

SERVERLESS = "AWS::Serverless::StateMachine"
PLAIN = "AWS::StepFunctions::StateMachine"
STATE_MACHINE_TYPES = (SERVERLESS, PLAIN)

_SUBSTITUTION = re.compile(r"\$\{([A-Za-z0-9_.:-]+)\}")
# Properties that mean nothing here: listed as ignored, with why.
_IGNORED = {
    "Tracing": "X-Ray tracing is not recorded for workflows (Lamina's traces cover functions)",
    "TracingConfiguration": "X-Ray tracing is not recorded for workflows",
    "Logging": "execution history is kept by Lamina's workflow store; no log delivery",
    "LoggingConfiguration": "execution history is kept by Lamina's workflow store",
    "Policies": "Lamina's workflows do not run with a role's permissions",
    "PermissionsBoundary": "Lamina's workflows do not run with a role's permissions",
    "RolePath": "Lamina's workflows do not run with a role's permissions",
    "EncryptionConfiguration": "Lamina's workflow store is local",
}
_KNOWN = {
    "Name",
    "StateMachineName",
    "Definition",
    "DefinitionUri",
    "DefinitionString",
    "DefinitionSubstitutions",
    "Type",
    "StateMachineType",
    "Role",
    "RoleArn",
    "Tags",
    "Events",
}
# An Api event's properties that mean nothing here (the route is served without them).
_API_IGNORED = {
    "Auth": "authorizers are not enforced by Lamina's API routes",
    "UnescapeMappingTemplate": "the body is passed to StartExecution as it came",
}


@dataclass
class StateMachineResult:
    spec: StateMachineSpec
    rules: list[RuleSpec] = field(default_factory=list)
    routes: list[ApiRouteSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def substitute(text: str, values: dict[str, str]) -> str:
    """``${Key}`` → ``values[Key]``; unknown keys are left as they are."""
    return _SUBSTITUTION.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def _definition_file(lid: str, uri: Any, base: Path) -> Any:
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise TemplateError(
            f"{lid}: DefinitionUri must be a local file (Lamina has no S3 location to read)"
        )
    path = (base / uri).resolve()
    try:
        text = path.read_text()
    except OSError as exc:
        raise TemplateError(f"{lid}: DefinitionUri {uri}: {exc.strerror or exc}") from None
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TemplateError(f"{lid}: DefinitionUri {uri} is neither JSON nor YAML: {exc}") from None


def definition_text(lid: str, kind: str, props: dict[str, Any], base: Path) -> str:
    """The definition as JSON text, substitutions applied and checked to still be JSON."""
    other = "DefinitionUri" if kind == SERVERLESS else "DefinitionString"
    allowed = ("Definition", other)
    if kind == PLAIN and "DefinitionS3Location" in props:
        raise TemplateError(f"{lid}: DefinitionS3Location is not supported: use Definition")
    keys = [k for k in allowed if k in props]
    if len(keys) != 1:
        raise TemplateError(f"{lid}: exactly one of {' or '.join(allowed)} is required")
    raw: Any
    if keys[0] == "DefinitionUri":
        raw = _definition_file(lid, props["DefinitionUri"], base)
    elif keys[0] == "DefinitionString":
        raw = props["DefinitionString"]
        if not isinstance(raw, str):
            raise TemplateError(f"{lid}: DefinitionString must be a string")
    else:
        raw = props["Definition"]
    if not isinstance(raw, (dict, str)):
        raise TemplateError(f"{lid}: the definition must be a mapping (States, StartAt)")
    text = raw if isinstance(raw, str) else json.dumps(raw, separators=(",", ":"))
    subs = props.get("DefinitionSubstitutions") or {}
    if not isinstance(subs, dict):
        raise TemplateError(f"{lid}: DefinitionSubstitutions must be a mapping")
    text = substitute(text, {str(k): _text(v) for k, v in subs.items()})
    try:
        json.loads(text)
    except ValueError as exc:
        raise TemplateError(
            f"{lid}: the definition is not JSON after substitution: {exc}"
        ) from None
    return text


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def translate_state_machine(
    lid: str,
    kind: str,
    name: str,
    props: dict[str, Any],
    *,
    stack: str,
    base: Path,
    region: str,
    account: str,
    apis: EventContext,
) -> StateMachineResult:
    """One state machine resource (``props`` resolved) and its SAM ``Events`` (``apis``: the
    template's APIs, for ``Api`` events)."""
    machine_type = str(
        props.get("Type" if kind == SERVERLESS else "StateMachineType") or "STANDARD"
    )
    if machine_type not in ("STANDARD", "EXPRESS"):
        raise TemplateError(f"{lid}: the type must be STANDARD or EXPRESS, not {machine_type!r}")
    role_key = "Role" if kind == SERVERLESS else "RoleArn"
    role = props.get(role_key)
    if role is None:
        if kind == PLAIN:
            raise TemplateError(f"{lid}: RoleArn is required")
        role = names.execution_role_arn(account, stack, lid)
    typed: Literal["STANDARD", "EXPRESS"] = "EXPRESS" if machine_type == "EXPRESS" else "STANDARD"
    tags = {**tags_of(props.get("Tags")), STACK_TAG: stack, LOGICAL_ID_TAG: lid}
    spec = StateMachineSpec(
        lid, name, definition_text(lid, kind, props, base), str(role), typed, tags
    )
    out = StateMachineResult(spec)
    for key in props:
        if key in _IGNORED:
            out.skipped.append(Skipped(f"{lid}.{key}", _IGNORED[key], ignored=True))
        elif key not in _KNOWN and key != "DefinitionS3Location":
            out.skipped.append(Skipped(f"{lid}.{key}", "not a state machine property Lamina knows"))
    events = props.get("Events") or {}
    if kind == SERVERLESS and isinstance(events, dict):
        _events(out, events, stack, spec.arn(region, account), apis)
    return out


def _events(
    out: StateMachineResult,
    events: dict[str, Any],
    stack: str,
    target: str,
    apis: EventContext,
) -> None:
    lid = out.spec.logical_id
    for event, where, kind, props in event_entries(lid, events):
        name = str(props.get("Name") or names.rule_name(stack, lid, event))
        text = props.get("Input")
        given = None if text is None else text if isinstance(text, str) else json.dumps(text)
        if kind == "Schedule":
            only = TargetSpec(target_id(lid, event), target, given)
            try:
                out.rules.append(schedule_rule(f"{lid}.{event}", name, props, only))
            except TemplateError as exc:
                out.skipped.append(Skipped(where, str(exc)))
        elif kind == "ScheduleV2":
            try:
                out.schedules.append(
                    schedule_event(f"{lid}.{event}", name, props, target, out.notes)
                )
            except TemplateError as exc:
                out.skipped.append(Skipped(where, str(exc)))
        elif kind in EVENT_TYPES:
            try:
                out.rules.append(
                    event_rule(
                        f"{lid}.{event}", name, props, target_id(lid, event), target, out.notes
                    )
                )
            except TemplateError as exc:
                out.skipped.append(Skipped(f"{where} ({kind})", str(exc)))
        elif kind == "Api":
            out.routes.append(api_route(lid, event, kind, props, apis, state_machine=target))
            out.skipped.extend(
                Skipped(f"{where}.{key}", why, ignored=True)
                for key, why in _API_IGNORED.items()
                if key in props
            )
        else:
            out.skipped.append(Skipped(f"{where} ({kind or 'no Type'})", "unknown event type"))
