"""Alarm requests and evaluation (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.alarms import (
    ALARM,
    INSUFFICIENT,
    OK,
    evaluate,
    parse_put,
    topic_notification,
)

BASE: dict[str, Any] = {
    "AlarmName": "a",
    "Namespace": "AWS/Lambda",
    "MetricName": "Errors",
    "Statistic": "Sum",
    "Period": 60,
    "EvaluationPeriods": 3,
    "Threshold": 2,
    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
}


def test_evaluation_needs_datapoints_to_alarm_of_the_periods() -> None:
    alarm = parse_put({**BASE, "DatapointsToAlarm": 2}, 0.0, None)
    assert evaluate(alarm, [0.0, 3.0, 5.0])[0] == ALARM
    assert evaluate(alarm, [0.0, 1.0, 1.0])[0] == OK
    # One breach of the two needed: no change from the current state.
    assert evaluate(alarm, [0.0, 1.0, 4.0])[0] == INSUFFICIENT
    assert evaluate(alarm, [None, None, None])[0] == INSUFFICIENT


@pytest.mark.parametrize(
    ("treat", "expected"),
    [
        ("missing", INSUFFICIENT),
        ("notBreaching", OK),
        ("breaching", ALARM),
        ("ignore", INSUFFICIENT),
    ],
)
def test_missing_data(treat: str, expected: str) -> None:
    alarm = parse_put({**BASE, "TreatMissingData": treat}, 0.0, None)
    assert evaluate(alarm, [None, None, None])[0] == expected


def test_a_put_replaces_but_keeps_the_state() -> None:
    first = parse_put(BASE, 1.0, None)
    state, reason = evaluate(first, [5.0, 5.0, 5.0])
    alarmed = replace(first, state=state, reason=reason)
    again = parse_put({**BASE, "Threshold": 10}, 2.0, alarmed)
    assert again.state == ALARM and again.threshold == 10.0 and again.updated == 2.0


@pytest.mark.parametrize(
    "change",
    [
        {"AlarmName": ""},
        {"ComparisonOperator": "Equal"},
        {"Statistic": None},
        {"ExtendedStatistic": "p99"},  # both Statistic and ExtendedStatistic
        {"EvaluationPeriods": 0},
        {"DatapointsToAlarm": 4},
        {"Period": 30},
        {"TreatMissingData": "sometimes"},
        {"AlarmActions": ["arn:aws:sns:x:y:z"]},  # not a topic's ARN
        {"AlarmActions": ["arn:aws:automate:us-east-1:ec2:stop"]},
        {"Threshold": "high"},
    ],
)
def test_bad_puts_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(AwsServiceError):
        parse_put({**BASE, **change}, 0.0, None)


def test_a_topic_gets_cloudwatchs_flat_sns_message() -> None:
    alarm = replace(
        parse_put({**BASE, "AlarmActions": ["arn:aws:sns:us-east-1:000000000000:ops"]}, 0.0, None),
        state="ALARM",
        reason="Threshold Crossed",
    )
    subject, message = topic_notification(
        alarm, "arn:aws:cloudwatch:us-east-1:000000000000:alarm:a", "OK", "us-east-1", "0" * 12, "t"
    )
    assert subject == f'ALARM: "{alarm.name}" in US East (N. Virginia)'
    assert (message["NewStateValue"], message["OldStateValue"]) == ("ALARM", "OK")
    assert message["AlarmActions"] == ["arn:aws:sns:us-east-1:000000000000:ops"]
    assert message["Trigger"]["MetricName"] == alarm.metric
    long = replace(alarm, name="n" * 255)
    assert len(topic_notification(long, "a", "OK", "eu-west-9", "1", "t")[0]) == 99
