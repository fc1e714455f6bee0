"""EventBridge rule requests parsed into typed values, with EventBridge's messages (pure).

The only code that reads a request's raw members. Operations on an existing rule look it
up first and parse the rest after, because EventBridge reports a missing rule first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.arns import parse_arn
from lamina.errors import ApiError, AwsServiceError
from lamina.services.eventbridge.expression import parse_schedule
from lamina.services.eventbridge.input_path import check_input_path
from lamina.services.eventbridge.input_transformer import parse_input_transformer
from lamina.services.eventbridge.pattern import invalid as invalid_pattern
from lamina.services.eventbridge.pattern import parse_pattern
from lamina.services.eventbridge.rules import Target

# A request's members as the JSON protocol carries them: the wire's values, unchecked.
Members = Mapping[str, Any]

_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_BUS_NAME = re.compile(r"^[/\.\-_A-Za-z0-9]{1,256}$")
# A bus given by ARN: arn:<partition>:events:<region>:<account>:event-bus/<name>.
_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]+:\d{12}:event-bus/(?P<name>.+)$")
STATES = ("ENABLED", "DISABLED")


def validation(message: str) -> AwsServiceError:
    return AwsServiceError("ValidationException", message)


def rule_name(members: Members, field: str = "Name") -> str:
    value = members.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise validation(
            f"1 validation error detected: Value '{value}' at '{field[0].lower() + field[1:]}' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "[\\.\\-_A-Za-z0-9]+"
        )
    return value


def bus_of(value: object) -> str | None:
    """An ``EventBusName`` as requests give it (a name or an ARN; left out: ``default``) as
    the bus's name; None for a value that is neither."""
    if value in (None, ""):
        return "default"
    if not isinstance(value, str):
        return None
    m = _BUS_ARN.match(value)
    name = m["name"] if m else value
    return name if _BUS_NAME.match(name) else None


def bus_name(members: Members, field: str = "EventBusName") -> str:
    """A request's bus, by name or ARN (``default`` when left out)."""
    value = members.get(field)
    name = bus_of(value)
    if name is None:
        raise validation(
            f"1 validation error detected: Value '{value}' at '{field[0].lower() + field[1:]}' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "(arn:aws[\\w-]*:events:[a-z]+-[a-z]+-[\\w-]+:[0-9]{12}:event-bus\\/)?"
            "[/\\.\\-_A-Za-z0-9]+"
        )
    return name


def new_bus_name(members: Members) -> str:
    """CreateEventBus' ``Name``: a plain name (no ARN). A ``/`` belongs to partner event
    buses' names, which need an ``EventSourceName`` Lamina does not have."""
    value = members.get("Name")
    if not isinstance(value, str) or not _BUS_NAME.match(value):
        raise validation(
            f"1 validation error detected: Value '{value}' at 'name' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [/\\.\\-_A-Za-z0-9]+"
        )
    if "/" in value:
        raise validation(f"Event bus name {value} is not valid: '/' is for partner event buses.")
    return value


@dataclass(frozen=True, slots=True)
class PutRule:
    name: str
    schedule: str  # checked: rate(...) or cron(...); "" when the rule has only a pattern
    state: str  # ENABLED | DISABLED
    description: str
    event_pattern: str | None = None  # checked by parse_pattern


def parse_put_rule(members: Members) -> PutRule:
    name = rule_name(members)
    pattern = members.get("EventPattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise invalid_pattern("the pattern must be JSON text")
        parse_pattern(pattern)  # InvalidEventPatternException
    expr = members.get("ScheduleExpression") or ""
    if not isinstance(expr, str):
        raise validation("ScheduleExpression must be a string: rate(...) or cron(...)")
    if not expr and pattern is None:
        raise validation("Parameter(s) EventPattern or ScheduleExpression must be specified.")
    if expr:
        try:
            parse_schedule(expr)
        except (ApiError, ValueError) as exc:
            raise validation(str(exc)) from None
    state = members.get("State", "ENABLED")
    if state not in STATES:
        raise validation(
            f"1 validation error detected: Value '{state}' at 'state' failed to satisfy "
            "constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
        )
    description = members.get("Description") or ""
    return PutRule(name, expr, str(state), str(description), pattern)


@dataclass(frozen=True, slots=True)
class ListRules:
    prefix: str
    limit: int
    next_token: str | None


def parse_list_rules(members: Members) -> ListRules:
    prefix = members.get("NamePrefix") or ""
    limit = members.get("Limit") or 100
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise validation("Limit must be between 1 and 100")
    token = members.get("NextToken")
    return ListRules(str(prefix), limit, str(token) if token else None)


def force(members: Members) -> bool:
    return bool(members.get("Force"))


def target_kind(arn: str) -> str:
    """``lambda``, ``sqs``, ``sns`` or ``states``: the targets Lamina delivers to (a state
    machine target starts an execution, a topic target publishes); anything else is
    refused."""
    parsed = parse_arn(arn)
    if parsed is not None and parsed.partition == "aws":
        if parsed.is_function():
            return "lambda"
        if parsed.service == "sqs" and ":" not in parsed.resource:
            return "sqs"
        if parsed.service == "sns" and parsed.resource and ":" not in parsed.resource:
            return "sns"
        if (
            parsed.service == "states"
            and parsed.resource.count(":") == 1
            and (parsed.resource.startswith("stateMachine:"))
        ):
            return "states"
    raise validation(
        f"Target Arn {arn} is not supported: use a Lambda function, an SQS queue, an SNS topic "
        "or a state machine"
    )


def parse_retry_policy(raw: object, where: str) -> tuple[int | None, int | None]:
    """A target's ``RetryPolicy``: (MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds
    60-86400); None where left out (the default: 185 and 24 hours). EventBridge Scheduler's
    targets take the same one."""
    if raw is None:
        return None, None
    if not isinstance(raw, Mapping):
        raise validation(f"RetryPolicy of {where} must be an object")
    retries, age = raw.get("MaximumRetryAttempts"), raw.get("MaximumEventAgeInSeconds")
    if retries is not None and (
        not isinstance(retries, int) or isinstance(retries, bool) or not 0 <= retries <= 185
    ):
        raise validation(f"RetryPolicy.MaximumRetryAttempts of {where} must be 0-185")
    if age is not None and (
        not isinstance(age, int) or isinstance(age, bool) or not 60 <= age <= 86_400
    ):
        raise validation(f"RetryPolicy.MaximumEventAgeInSeconds of {where} must be 60-86400")
    return retries, age


def parse_targets(members: Members) -> list[Target]:
    """PutTargets' ``Targets``: 1-10 of them, each with an Id, a supported Arn, at most
    one of a JSON ``Input``, an ``InputPath`` and an ``InputTransformer``, and an optional
    ``RetryPolicy``."""
    raw = members.get("Targets")
    if not isinstance(raw, list) or not 1 <= len(raw) <= 10:
        raise validation("Targets must be a list of 1 to 10 targets")
    targets = []
    for item in raw:
        if not isinstance(item, Mapping):
            raise validation("Each target must be an object")
        tid, arn = item.get("Id"), item.get("Arn")
        if not isinstance(tid, str) or not _NAME.match(tid) or not isinstance(arn, str):
            raise validation("Each target needs an Id ([.-_A-Za-z0-9]{1,64}) and an Arn")
        target_kind(arn)
        text, path = item.get("Input"), item.get("InputPath")
        shaping = item.get("InputTransformer")
        if sum(x is not None for x in (text, path, shaping)) > 1:
            raise validation(
                f"Only one of Input, InputPath, or InputTransformer may be set for target {tid}."
            )
        transformer = None
        if shaping is not None:
            transformer = parse_input_transformer(shaping, tid).to_json()
        if text is not None:
            try:
                json.loads(text)
            except (TypeError, ValueError):
                raise validation(f"Input of target {tid} is not valid JSON") from None
        if path is not None:
            path = str(path)
            try:
                check_input_path(path)
            except ApiError as exc:
                raise validation(exc.message) from None
        retries, age = parse_retry_policy(item.get("RetryPolicy"), tid)
        group = parse_sqs_parameters(item.get("SqsParameters"), tid)
        if group is None and target_kind(arn) == "sqs" and arn.endswith(".fifo"):
            # EventBridge's refusal (400 for the whole call), word for word.
            raise validation(f"Parameter(s) SqsParameters must be specified for target: {tid}.")
        targets.append(Target(tid, arn, text, path, retries, age, None, transformer, group))
    return targets


def parse_sqs_parameters(raw: object, where: str) -> str | None:
    """A target's ``SqsParameters``: its ``MessageGroupId`` (None when left out), as
    EventBridge and EventBridge Scheduler take it (1-128 characters)."""
    if raw is None:
        return None
    group = raw.get("MessageGroupId") if isinstance(raw, Mapping) else None
    if not isinstance(group, str) or not 1 <= len(group) <= 128:
        raise validation(f"SqsParameters.MessageGroupId of {where} must be 1-128 characters")
    return group


def parse_target_ids(members: Members) -> list[str]:
    ids = members.get("Ids")
    if not isinstance(ids, list) or not ids:
        raise validation("Ids must be a non-empty list")
    return [str(i) for i in ids]
