"""EventBridge Scheduler's request bodies parsed into typed values (pure)."""

from __future__ import annotations

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.rules import Target
from lamina.services.scheduler.requests import TARGET_ID, parse_schedule_body

FN = "arn:aws:lambda:us-east-1:000000000000:function:f"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def test_a_body_becomes_a_schedule_input() -> None:
    given = parse_schedule_body(
        {
            "ScheduleExpression": "rate(5 minutes)",
            "FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10},
            "Target": {
                "Arn": QUEUE,
                "Input": "plain text",
                "RetryPolicy": {"MaximumRetryAttempts": 2},
            },
            "Description": "every five",
        }
    )
    assert (given.expression, given.state, given.description, given.window_s) == (
        "rate(5 minutes)",
        "ENABLED",
        "every five",
        600,
    )
    assert given.target == Target(TARGET_ID, QUEUE, "plain text", None, 2, None)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"ScheduleExpression": "at(2030-01-01T00:00:00)"}, "one-time"),
        ({"ScheduleExpression": "rate(2 minute)"}, "plural"),
        ({"ScheduleExpressionTimezone": "Europe/Paris"}, "UTC"),
        ({"StartDate": 1}, "StartDate"),
        ({"FlexibleTimeWindow": {"Mode": "SOMETIMES"}}, "Mode"),
        ({"FlexibleTimeWindow": {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 0}}, "1-1440"),
        ({"State": "ON"}, "State"),
        ({"Target": {"Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"}}, "functions,"),
        ({"Target": {"Arn": FN, "Input": "{"}}, "well-formed JSON"),
        ({"Target": {"Arn": FN, "RetryPolicy": {"MaximumEventAgeInSeconds": 1}}}, "60-86400"),
    ],
)
def test_bad_bodies_are_refused_with_a_validation_exception(
    changes: dict[str, object], fragment: str
) -> None:
    body: dict[str, object] = {
        "ScheduleExpression": "rate(1 minute)",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": FN},
    }
    with pytest.raises(AwsServiceError) as exc:
        parse_schedule_body(body | changes)
    assert exc.value.code == "ValidationException"
    assert fragment in exc.value.message
