"""EventBridge rules in a template → :class:`RuleSpec`: ``AWS::Events::Rule`` (a schedule or
an ``EventPattern``) and the ``EventBridgeRule`` / ``CloudWatchEvent`` events of functions and
state machines. They are applied like schedule rules (PutRule + PutTargets) on the default
event bus, the only bus Lamina has; the pattern, Input / InputPath and RetryPolicy are checked
here, with EventBridge's own checks, so a bad one fails the plan, not half an apply.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lamina.errors import AwsServiceError
from lamina.sam.errors import TemplateError
from lamina.sam.model import RuleSpec, TargetSpec
from lamina.services.eventbridge.pattern import parse_pattern
from lamina.services.eventbridge.requests import (
    parse_retry_policy,
    parse_sqs_parameters,
    target_kind,
)

EVENT_TYPES = ("EventBridgeRule", "CloudWatchEvent")
_TARGET_ID = re.compile(r"[^.\-_A-Za-z0-9]")


def json_text(value: Any, what: str) -> str:
    """An ``Input`` or pattern (a mapping or JSON text) as JSON text; TemplateError if it is
    not JSON."""
    text = value if isinstance(value, str) else json.dumps(value)
    try:
        json.loads(text)
    except ValueError:
        raise TemplateError(f"{what} must be JSON") from None
    return text


def pattern_text(value: Any, where: str) -> str:
    """An ``EventPattern`` / ``Pattern`` (a mapping or JSON text) as checked JSON text."""
    if not value:
        raise TemplateError(f"{where}: an event pattern is required")
    text = json_text(value, f"{where}.Pattern")
    try:
        parse_pattern(text)
    except AwsServiceError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    return text


def check_bus(props: dict[str, Any], where: str) -> None:
    """A template's rules go on the default bus: the SAM layer creates no event buses
    (``AWS::Events::EventBus``), so any other ``EventBusName`` is refused."""
    bus = props.get("EventBusName")
    if bus in (None, "", "default") or str(bus).endswith(":event-bus/default"):
        return
    raise TemplateError(
        f"{where}: EventBusName {bus}: Lamina's templates put rules on only the default event bus"
    )


def target(tid: str, arn: str, item: dict[str, Any], where: str, notes: list[str]) -> TargetSpec:
    """One rule target: ``Input`` or ``InputPath``, ``RetryPolicy``, ``SqsParameters``; a
    ``DeadLetterConfig`` is noted as ignored, an ``InputTransformer`` refused (the payload
    would differ)."""
    try:
        target_kind(arn)
    except AwsServiceError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    given, path = item.get("Input"), item.get("InputPath")
    if given is not None and path is not None:
        raise TemplateError(f"{where}: only one of Input and InputPath may be set")
    if item.get("InputTransformer"):
        raise TemplateError(f"{where}: InputTransformer is not supported by Lamina's rules")
    if item.get("DeadLetterConfig"):
        notes.append(f"{where}: DeadLetterConfig is not supported by Lamina's rules; ignored")
    try:
        retries, age = parse_retry_policy(item.get("RetryPolicy"), tid)
        group = parse_sqs_parameters(item.get("SqsParameters"), tid)
    except AwsServiceError as exc:
        raise TemplateError(f"{where}: {exc}") from None
    return TargetSpec(
        tid,
        arn,
        None if given is None else json_text(given, f"{where}.Input"),
        None if path is None else str(path),
        retries,
        age,
        group,
    )


def event_rule(
    key: str,
    name: str,
    props: dict[str, Any],
    target_id: str,
    target_arn: str,
    notes: list[str],
) -> RuleSpec:
    """A SAM ``EventBridgeRule`` / ``CloudWatchEvent`` event: a rule on the default bus with
    the function (or state machine) as its one target."""
    check_bus(props, key)
    state = props.get("State")
    if state:
        enabled = str(state) == "ENABLED"
    else:
        enabled = str(props.get("Enabled", True)).lower() != "false"
    given_id = (props.get("Target") or {}).get("Id")
    return RuleSpec(
        key=key,
        name=str(props.get("RuleName") or name),
        schedule="",
        enabled=enabled,
        description=str(props.get("Description") or ""),
        targets=(target(str(given_id or target_id), target_arn, props, key, notes),),
        pattern=pattern_text(props.get("Pattern"), key),
    )


def target_id(owner: str, event: str) -> str:
    """The target id of an event's rule: the owner's logical id and the event's name, in
    the characters and length EventBridge allows."""
    return _TARGET_ID.sub("-", f"{owner}{event}")[:64]


def schedule_rule(key: str, name: str, props: dict[str, Any], only: TargetSpec) -> RuleSpec:
    """A SAM ``Schedule`` event of a function or state machine: a rule with its ``rate()`` or
    ``cron()`` expression and ``only`` as its one target. ``State`` wins over ``Enabled``."""
    expr = str(props.get("Schedule") or "")
    if not expr.startswith(("rate(", "cron(")):
        raise TemplateError(f"schedule {expr!r}: Lamina's schedules are rate() and cron()")
    enabled = str(props.get("Enabled", True)).lower() != "false"
    if props.get("State"):
        enabled = str(props["State"]) == "ENABLED"
    return RuleSpec(
        key=key,
        name=name,
        schedule=expr,
        enabled=enabled,
        description=str(props.get("Description") or ""),
        targets=(only,),
    )


def rule_spec(lid: str, name: str, props: dict[str, Any]) -> RuleSpec:
    """An ``AWS::Events::Rule``: a ``ScheduleExpression``, an ``EventPattern`` or both."""
    check_bus(props, lid)
    expr = str(props.get("ScheduleExpression") or "")
    pattern = props.get("EventPattern")
    if not expr and not pattern:
        raise TemplateError(f"{lid}: a rule needs a ScheduleExpression or an EventPattern")
    notes: list[str] = []  # a rule resource has nowhere to report; DeadLetterConfig is documented
    targets = []
    for i, item in enumerate(props.get("Targets") or []):
        if not isinstance(item, dict) or "Id" not in item or "Arn" not in item:
            raise TemplateError(f"{lid}.Targets[{i}] needs an Id and an Arn")
        targets.append(
            target(str(item["Id"]), str(item["Arn"]), item, f"{lid}.Targets[{i}]", notes)
        )
    return RuleSpec(
        key=lid,
        name=name,
        schedule=expr,
        enabled=str(props.get("State", "ENABLED")) == "ENABLED",
        description=str(props.get("Description") or ""),
        targets=tuple(targets),
        pattern=None if not pattern else pattern_text(pattern, lid),
    )
