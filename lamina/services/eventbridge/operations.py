"""EventBridge rule operations for schedules (PutRule, PutTargets, ...) as pure handlers.

They speak EventBridge's shapes, so ``boto3.client("events")`` manages Lamina's schedules;
:mod:`lamina.services.eventbridge.service` serves them over the JSON protocol.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lamina.events.schedule.event import check_input_path, rule_arn
from lamina.services.eventbridge.expression import parse_schedule
from lamina.services.eventbridge.rules import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_RETRIES,
    Rule,
    RuleStore,
    Target,
)
from lamina.services.protocol.awsjson import AwsJsonError

_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
MAX_TARGETS = 5


def _validation(message: str) -> AwsJsonError:
    return AwsJsonError("ValidationException", message)


def _name(body: dict[str, Any], field: str = "Name") -> str:
    value = body.get(field)
    if not isinstance(value, str) or not _NAME.match(value):
        raise _validation(
            f"1 validation error detected: Value '{value}' at '{field[0].lower() + field[1:]}' "
            "failed to satisfy constraint: Member must satisfy regular expression pattern: "
            "[\\.\\-_A-Za-z0-9]+"
        )
    return value


def _target_kind(arn: str) -> str:
    parts = arn.split(":")
    if len(parts) >= 7 and parts[:3] == ["arn", "aws", "lambda"] and parts[5] == "function":
        return "lambda"
    if len(parts) == 6 and parts[:3] == ["arn", "aws", "sqs"]:
        return "sqs"
    raise _validation(f"Target Arn {arn} is not supported: use a Lambda function or an SQS queue")


def retry_policy(raw: Any, where: str) -> tuple[int | None, int | None]:
    """A target's ``RetryPolicy``: (MaximumRetryAttempts 0-185, MaximumEventAgeInSeconds
    60-86400); None where left out (the default: 185 and 24 hours)."""
    if raw is None:
        return None, None
    if not isinstance(raw, dict):
        raise _validation(f"RetryPolicy of {where} must be an object")
    retries, age = raw.get("MaximumRetryAttempts"), raw.get("MaximumEventAgeInSeconds")
    if retries is not None and (not isinstance(retries, int) or not 0 <= retries <= 185):
        raise _validation(f"RetryPolicy.MaximumRetryAttempts of {where} must be 0-185")
    if age is not None and (not isinstance(age, int) or not 60 <= age <= 86_400):
        raise _validation(f"RetryPolicy.MaximumEventAgeInSeconds of {where} must be 60-86400")
    return retries, age


def retry_policy_shape(t: Target) -> dict[str, int]:
    return {
        "MaximumRetryAttempts": DEFAULT_MAX_RETRIES if t.max_retries is None else t.max_retries,
        "MaximumEventAgeInSeconds": DEFAULT_MAX_AGE_S if t.max_age_s is None else t.max_age_s,
    }


class RuleOperations:
    def __init__(
        self, store: RuleStore, region: str, account: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._clock = clock
        self.changed: Callable[[], None] = lambda: None  # the scheduler loop's wake-up

    def table(self) -> dict[str, Callable[[dict[str, Any]], dict[str, Any]]]:
        return {
            "PutRule": self.put_rule,
            "DescribeRule": self.describe_rule,
            "ListRules": self.list_rules,
            "DeleteRule": self.delete_rule,
            "EnableRule": lambda b: self._set_state(b, "ENABLED"),
            "DisableRule": lambda b: self._set_state(b, "DISABLED"),
            "PutTargets": self.put_targets,
            "RemoveTargets": self.remove_targets,
            "ListTargetsByRule": self.list_targets,
        }

    def _rule(self, name: str) -> Rule:
        rule = self.store.rules.get(name)
        if rule is None:
            raise AwsJsonError(
                "ResourceNotFoundException", f"Rule {name} does not exist on EventBus default."
            )
        return rule

    def _save(self, rule: Rule) -> None:
        self.store.save(rule)
        self.changed()

    def _shape(self, rule: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": rule.name,
            "Arn": rule_arn(self.region, self.account, rule.name),
            "ScheduleExpression": rule.schedule,
            "State": rule.state,
            "EventBusName": "default",
        }
        if rule.description:
            out["Description"] = rule.description
        return out

    # -- rules --------------------------------------------------------------------------
    def put_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body)
        if body.get("EventPattern"):
            raise _validation("Lamina's rules are schedules: EventPattern is not supported")
        expr = body.get("ScheduleExpression")
        if not isinstance(expr, str) or not expr:
            raise _validation("ScheduleExpression is required: rate(...) or cron(...)")
        try:
            parse_schedule(expr)
        except Exception as exc:
            raise _validation(str(exc)) from None
        state = body.get("State", "ENABLED")
        if state not in ("ENABLED", "DISABLED"):
            raise _validation(
                f"1 validation error detected: Value '{state}' at 'state' failed to satisfy "
                "constraint: Member must satisfy enum value set: [ENABLED, DISABLED]"
            )
        description = body.get("Description") or ""
        now = self._clock()
        old = self.store.rules.get(name)
        if old is None:
            rule = Rule(name, expr, state, description, now, None)
        else:
            restart = old.schedule != expr or (state == "ENABLED" and not old.enabled)
            rule = replace(
                old,
                schedule=expr,
                state=state,
                description=description,
                anchor=now if restart else old.anchor,
                last_tick=None if restart else old.last_tick,
            )
        self._save(rule)
        return {"RuleArn": rule_arn(self.region, self.account, name)}

    def describe_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        return self._shape(self._rule(_name(body)))

    def list_rules(self, body: dict[str, Any]) -> dict[str, Any]:
        prefix = body.get("NamePrefix") or ""
        limit = body.get("Limit") or 100
        if not isinstance(limit, int) or not 1 <= limit <= 100:
            raise _validation("Limit must be between 1 and 100")
        names = sorted(n for n in self.store.rules if n.startswith(prefix))
        token = body.get("NextToken")
        if token:
            names = [n for n in names if n > token]
        page = names[:limit]
        out: dict[str, Any] = {"Rules": [self._shape(self.store.rules[n]) for n in page]}
        if len(names) > limit:
            out["NextToken"] = page[-1]
        return out

    def delete_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        name = _name(body)
        rule = self.store.rules.get(name)
        if rule is None:
            return {}  # EventBridge: deleting a missing rule succeeds
        if rule.targets and not body.get("Force"):
            raise _validation("Rule can't be deleted since it has targets.")
        self.store.delete(name)
        self.changed()
        return {}

    def _set_state(self, body: dict[str, Any], state: str) -> dict[str, Any]:
        rule = self._rule(_name(body))
        if rule.state != state:
            now = self._clock()
            enabling = state == "ENABLED"
            self._save(
                replace(
                    rule,
                    state=state,
                    anchor=now if enabling else rule.anchor,
                    last_tick=None if enabling else rule.last_tick,
                )
            )
        return {}

    # -- targets ------------------------------------------------------------------------
    def put_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(_name(body, "Rule"))
        raw = body.get("Targets")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 10:
            raise _validation("Targets must be a list of 1 to 10 targets")
        targets = {t.id: t for t in rule.targets}
        failed: list[dict[str, str]] = []
        for item in raw:
            if not isinstance(item, dict):
                raise _validation("Each target must be an object")
            tid, arn = item.get("Id"), item.get("Arn")
            if not isinstance(tid, str) or not _NAME.match(tid) or not isinstance(arn, str):
                raise _validation("Each target needs an Id ([.-_A-Za-z0-9]{1,64}) and an Arn")
            _target_kind(arn)
            text, path = item.get("Input"), item.get("InputPath")
            if text is not None and path is not None:
                raise _validation("Only one of Input and InputPath may be set on a target")
            if text is not None:
                try:
                    json.loads(text)
                except (TypeError, ValueError):
                    raise _validation(f"Input of target {tid} is not valid JSON") from None
            if path is not None:
                check_input_path(str(path))
            if tid not in targets and len(targets) >= MAX_TARGETS:
                failed.append(
                    {
                        "TargetId": tid,
                        "ErrorCode": "LimitExceededException",
                        "ErrorMessage": f"A rule can have at most {MAX_TARGETS} targets",
                    }
                )
                continue
            retries, age = retry_policy(item.get("RetryPolicy"), tid)
            targets[tid] = Target(tid, arn, text, path, retries, age)
        self._save(replace(rule, targets=tuple(targets.values())))
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    def remove_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(_name(body, "Rule"))
        ids = body.get("Ids")
        if not isinstance(ids, list) or not ids:
            raise _validation("Ids must be a non-empty list")
        self._save(replace(rule, targets=tuple(t for t in rule.targets if t.id not in ids)))
        return {"FailedEntryCount": 0, "FailedEntries": []}

    def list_targets(self, body: dict[str, Any]) -> dict[str, Any]:
        rule = self._rule(_name(body, "Rule"))
        out = []
        for t in rule.targets:
            shape: dict[str, Any] = {"Id": t.id, "Arn": t.arn}
            if t.input is not None:
                shape["Input"] = t.input
            if t.input_path is not None:
                shape["InputPath"] = t.input_path
            if t.max_retries is not None or t.max_age_s is not None:
                shape["RetryPolicy"] = retry_policy_shape(t)
            out.append(shape)
        return {"Targets": out}
