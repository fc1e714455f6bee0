"""EventBridge Scheduler's schedule operations as pure handlers over a rule store.

A schedule is kept as a :class:`~lamina.services.eventbridge.rules.Rule` named
``<group>/<name>`` in its own store (``scheduler.db``), with its FlexibleTimeWindow and one
target with its RetryPolicy; a second :class:`ScheduleRunner` fires them. Without
``Input`` the target gets Scheduler's default event (``"source": "aws.scheduler"``, the
schedule's ARN in ``resources``). Schedule groups other than ``default`` are accepted by
name (no CreateScheduleGroup); ``StartDate``/``EndDate`` and time zones other than UTC are
refused rather than ignored.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lamina.arns import schedule_arn
from lamina.errors import AwsServiceError
from lamina.services.eventbridge.operations import retry_policy_shape
from lamina.services.eventbridge.rules import Rule, RuleStore
from lamina.services.scheduler.requests import Members, invalid, parse_schedule_body

_NAME = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")


class ScheduleOperations:
    def __init__(
        self, store: RuleStore, region: str, account: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._clock = clock
        self.changed: Callable[[], None] = lambda: None  # the runner's wake-up

    @staticmethod
    def key(name: str, group: str | None) -> str:
        if not _NAME.match(name):
            raise invalid(f"Name {name!r} must match {_NAME.pattern}")
        group = group or "default"
        if not _NAME.match(group):
            raise invalid(f"GroupName {group!r} must match {_NAME.pattern}")
        return f"{group}/{name}"

    def _get(self, key: str) -> Rule:
        rule = self.store.rules.get(key)
        if rule is None:
            raise AwsServiceError(
                "ResourceNotFoundException", f"Schedule {key.split('/', 1)[1]} does not exist.", 404
            )
        return rule

    def create(self, name: str, body: Members) -> dict[str, Any]:
        key = self.key(name, body.get("GroupName"))
        if key in self.store.rules:
            raise AwsServiceError("ConflictException", f"Schedule {name} already exists.", 409)
        given = parse_schedule_body(body)
        now = self._clock()
        rule = Rule(key, given.expression, given.state, given.description, now, None,
                    (given.target,), given.window_s)  # fmt: skip
        self.store.save(rule)
        self.changed()
        return {"ScheduleArn": schedule_arn(self.region, self.account, key)}

    def update(self, name: str, body: Members) -> dict[str, Any]:
        key = self.key(name, body.get("GroupName"))
        old = self._get(key)
        given = parse_schedule_body(body)
        now = self._clock()
        restart = old.schedule != given.expression or (given.state == "ENABLED" and not old.enabled)
        self.store.save(
            replace(
                old,
                schedule=given.expression,
                state=given.state,
                description=given.description,
                targets=(given.target,),
                flexible_window_s=given.window_s,
                anchor=now if restart else old.anchor,
                last_tick=None if restart else old.last_tick,
            )
        )
        self.changed()
        return {"ScheduleArn": schedule_arn(self.region, self.account, key)}

    def get(self, name: str, group: str | None) -> dict[str, Any]:
        return self._shape(self._get(self.key(name, group)))

    def delete(self, name: str, group: str | None) -> dict[str, Any]:
        key = self.key(name, group)
        self._get(key)
        self.store.delete(key)
        self.changed()
        return {}

    def list(self, prefix: str, group: str | None, state: str | None) -> dict[str, Any]:
        out = []
        for key in sorted(self.store.rules):
            rule = self.store.rules[key]
            g, _, name = key.partition("/")
            if (group and g != group) or not name.startswith(prefix):
                continue
            if state and rule.state != state:
                continue
            out.append(
                {
                    "Arn": schedule_arn(self.region, self.account, key),
                    "Name": name,
                    "GroupName": g,
                    "State": rule.state,
                    "Target": {"Arn": rule.targets[0].arn if rule.targets else ""},
                    "CreationDate": rule.anchor,
                    "LastModificationDate": rule.anchor,
                }
            )
        return {"Schedules": out}

    def _shape(self, rule: Rule) -> dict[str, Any]:
        group, _, name = rule.name.partition("/")
        window: dict[str, Any] = {"Mode": "OFF"}
        if rule.flexible_window_s:
            window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": rule.flexible_window_s // 60}
        target = rule.targets[0]
        shape: dict[str, Any] = {
            "Arn": target.arn,
            "RoleArn": target.role_arn or f"arn:aws:iam::{self.account}:role/lamina-scheduler",
            "RetryPolicy": retry_policy_shape(target),
        }
        if target.input is not None:
            shape["Input"] = target.input
        if target.message_group_id is not None:
            shape["SqsParameters"] = {"MessageGroupId": target.message_group_id}
        out: dict[str, Any] = {
            "Arn": schedule_arn(self.region, self.account, rule.name),
            "Name": name,
            "GroupName": group,
            "ScheduleExpression": rule.schedule,
            "ScheduleExpressionTimezone": "UTC",
            "State": rule.state,
            "FlexibleTimeWindow": window,
            "Target": shape,
            "CreationDate": rule.anchor,
            "LastModificationDate": rule.anchor,
            "ActionAfterCompletion": "NONE",
        }
        if rule.description:
            out["Description"] = rule.description
        return out
