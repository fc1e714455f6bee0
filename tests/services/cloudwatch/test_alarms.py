"""Alarm requests and evaluation (pure)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.alarms import ALARM, INSUFFICIENT, OK, evaluate, parse_put

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
        {"AlarmActions": ["arn:aws:sns:us-east-1:000000000000:topic"]},
        {"Threshold": "high"},
    ],
)
def test_bad_puts_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(AwsServiceError):
        parse_put({**BASE, **change}, 0.0, None)
