"""EventBridge Scheduler's request bodies parsed into typed values, with its messages (pure).

The only code that reads a Create/UpdateSchedule body's raw members. A schedule's one
target takes the same ``RetryPolicy`` as an EventBridge rule's
(:func:`~lamina.services.eventbridge.requests.parse_retry_policy`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.errors import ApiError, AwsServiceError
from lamina.services.eventbridge.expression import parse_schedule
from lamina.services.eventbridge.requests import parse_retry_policy, parse_sqs_parameters
from lamina.services.eventbridge.rules import Target

# A request body's members as the REST-JSON protocol carries them: the wire's values, unchecked.
Members = Mapping[str, Any]

TARGET_ID = "scheduler-target"


def invalid(message: str) -> AwsServiceError:
    return AwsServiceError("ValidationException", message)


@dataclass(frozen=True, slots=True)
class ScheduleInput:
    """A Create/UpdateSchedule body, checked."""

    expression: str
    state: str
    description: str
    window_s: int
    target: Target


def parse_schedule_body(body: Members) -> ScheduleInput:
    expr = body.get("ScheduleExpression")
    if not isinstance(expr, str) or not expr:
        raise invalid("ScheduleExpression is required: rate(...) or cron(...)")
    if expr.startswith("at("):
        raise invalid("one-time at(...) schedules are not supported by Lamina: use rate or cron")
    try:
        parse_schedule(expr)
    except (ApiError, ValueError) as exc:
        raise invalid(str(exc)) from None
    tz = body.get("ScheduleExpressionTimezone")
    if tz not in (None, "UTC", "Etc/UTC"):
        raise invalid(f"ScheduleExpressionTimezone {tz}: Lamina's schedules run in UTC")
    for field in ("StartDate", "EndDate"):
        if body.get(field) is not None:
            raise invalid(f"{field} is not supported by Lamina")
    window_s = _window_s(body.get("FlexibleTimeWindow"))
    state = body.get("State", "ENABLED")
    if state not in ("ENABLED", "DISABLED"):
        raise invalid("State must be ENABLED or DISABLED")
    target = _target(body.get("Target"))
    return ScheduleInput(expr, str(state), str(body.get("Description") or ""), window_s, target)


def _window_s(window: object) -> int:
    """``FlexibleTimeWindow`` in seconds: 0 when its Mode is OFF."""
    if not isinstance(window, Mapping) or window.get("Mode") not in ("OFF", "FLEXIBLE"):
        raise invalid("FlexibleTimeWindow.Mode must be OFF or FLEXIBLE")
    if window["Mode"] == "OFF":
        return 0
    minutes = window.get("MaximumWindowInMinutes")
    if not isinstance(minutes, int) or not 1 <= minutes <= 1440:
        raise invalid("FlexibleTimeWindow.MaximumWindowInMinutes must be 1-1440")
    return minutes * 60


def _target(raw: object) -> Target:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("Arn"), str):
        raise invalid("Target with an Arn is required")
    arn = str(raw["Arn"])
    if ":lambda:" not in arn and ":sqs:" not in arn and ":sns:" not in arn:
        raise invalid(
            f"Target Arn {arn}: Lamina's schedules invoke functions, send to queues or "
            "publish to topics"
        )
    text = raw.get("Input")
    if text is not None and ":lambda:" in arn:
        try:
            json.loads(text)
        except (TypeError, ValueError):
            raise invalid("Target.Input must be well-formed JSON for a Lambda target") from None
    retries, age = parse_retry_policy(raw.get("RetryPolicy"), "Target")
    role = raw.get("RoleArn")  # kept and shown (Terraform reads it back)
    try:
        group = parse_sqs_parameters(raw.get("SqsParameters"), "Target")
    except ApiError as exc:
        raise invalid(exc.message) from None
    if group is None and ":sqs:" in arn and arn.endswith(".fifo"):
        # Lamina's wording: a FIFO queue refuses a message without a group, so a schedule
        # that could never deliver is refused here rather than failing at every tick.
        raise invalid("Target.SqsParameters.MessageGroupId is required for a FIFO queue target")
    return Target(
        TARGET_ID,
        arn,
        text,
        None,
        retries,
        age,
        role if isinstance(role, str) else None,
        None,
        group,
    )
