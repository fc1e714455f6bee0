"""EventBridge rule requests parsed into typed values, with EventBridge's messages (pure)."""

from __future__ import annotations

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.requests import (
    parse_list_rules,
    parse_put_rule,
    parse_target_ids,
    parse_targets,
    rule_name,
)
from lamina.services.eventbridge.rules import Target

FN = "arn:aws:lambda:us-east-1:000000000000:function:f"
QUEUE = "arn:aws:sqs:us-east-1:000000000000:q"


def test_put_rule_reads_a_checked_schedule_with_defaults() -> None:
    req = parse_put_rule({"Name": "nightly", "ScheduleExpression": "cron(0 3 * * ? *)"})
    assert (req.name, req.schedule, req.state, req.description) == (
        "nightly",
        "cron(0 3 * * ? *)",
        "ENABLED",
        "",
    )


@pytest.mark.parametrize(
    ("members", "fragment"),
    [
        ({"Name": "bad name", "ScheduleExpression": "rate(1 minute)"}, "regular expression"),
        ({"Name": "r"}, "EventPattern or ScheduleExpression must be specified"),
        ({"Name": "r", "ScheduleExpression": "rate(2 minute)"}, "plural"),
        ({"Name": "r", "ScheduleExpression": "rate(1 minute)", "State": "ON"}, "enum value"),
    ],
)
def test_put_rule_refuses_with_a_validation_exception(
    members: dict[str, object], fragment: str
) -> None:
    with pytest.raises(AwsServiceError) as exc:
        parse_put_rule(members)
    assert exc.value.code == "ValidationException" and fragment in exc.value.message


def test_put_rule_reads_a_checked_event_pattern_with_or_without_a_schedule() -> None:
    req = parse_put_rule({"Name": "r", "EventPattern": '{"source": ["shop"]}'})
    assert (req.schedule, req.event_pattern) == ("", '{"source": ["shop"]}')
    with pytest.raises(AwsServiceError) as exc:
        parse_put_rule({"Name": "r", "EventPattern": '{"source": "shop"}'})
    assert exc.value.code == "InvalidEventPatternException"


def test_list_rules_limits_and_tokens() -> None:
    req = parse_list_rules({"NamePrefix": "a", "Limit": 5, "NextToken": "a1"})
    assert (req.prefix, req.limit, req.next_token) == ("a", 5, "a1")
    assert parse_list_rules({}).limit == 100
    with pytest.raises(AwsServiceError):
        parse_list_rules({"Limit": 101})


def test_targets_become_target_values() -> None:
    targets = parse_targets(
        {
            "Targets": [
                {"Id": "fn", "Arn": FN, "InputPath": "$.detail"},
                {"Id": "q", "Arn": QUEUE, "Input": '{"k":1}'},
            ]
        }
    )
    assert targets == [Target("fn", FN, None, "$.detail"), Target("q", QUEUE, '{"k":1}', None)]
    assert rule_name({"Rule": "r"}, "Rule") == "r"
    assert parse_target_ids({"Ids": ["fn"]}) == ["fn"]


def test_a_target_keeps_its_retry_policy() -> None:
    policy = {"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}
    (target,) = parse_targets({"Targets": [{"Id": "fn", "Arn": FN, "RetryPolicy": policy}]})
    assert (target.max_retries, target.max_age_s) == (0, 60)
    (half,) = parse_targets(
        {"Targets": [{"Id": "fn", "Arn": FN, "RetryPolicy": {"MaximumRetryAttempts": 3}}]}
    )
    assert (half.max_retries, half.max_age_s) == (3, None)


@pytest.mark.parametrize(
    "target",
    [
        {"Id": "t", "Arn": "arn:aws:kinesis:us-east-1:000000000000:stream/s"},
        {"Id": "t", "Arn": FN, "Input": "{", "InputPath": "$"},
        {"Id": "t", "Arn": FN, "Input": "{"},
        {"Id": "t", "Arn": FN, "InputPath": "detail"},
        {"Arn": FN},
        {"Id": "t", "Arn": FN, "RetryPolicy": {"MaximumRetryAttempts": 186}},
        {"Id": "t", "Arn": FN, "RetryPolicy": {"MaximumRetryAttempts": True}},
        {"Id": "t", "Arn": FN, "RetryPolicy": {"MaximumEventAgeInSeconds": 59}},
        {"Id": "t", "Arn": FN, "RetryPolicy": "always"},
    ],
)
def test_bad_targets_are_refused(target: dict[str, object]) -> None:
    with pytest.raises(AwsServiceError) as exc:
        parse_targets({"Targets": [target]})
    assert exc.value.code == "ValidationException"
