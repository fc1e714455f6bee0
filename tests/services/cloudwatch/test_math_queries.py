"""Metric math through GetMetricData and metric math alarms, over a real custom metrics
store (SQLite) without a server: the queries' rules, the alarm's parsing and evaluation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.alarm_runner import AlarmRunner
from lamina.services.cloudwatch.alarms import ALARM, INSUFFICIENT, OK, notification, parse_put
from lamina.services.cloudwatch.custom import CustomMetrics
from lamina.services.cloudwatch.operations import CloudWatchOperations
from lamina.services.cloudwatch.put import parse_put as parse_data
from lamina.services.cloudwatch.query import alarm_body, read_body
from lamina.services.cloudwatch.sources import MetricSources

NOW = 1_800_000_000.0  # a minute boundary
# Per minute from NOW: errors and invocations of a function publishing its own metrics.
ERRORS = [1.0, 0.0, 4.0]
CALLS = [10.0, 0.0, 5.0]


def stat(qid: str, metric: str, **extra: Any) -> dict[str, Any]:
    query = {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": "App", "MetricName": metric},
            "Period": 60,
            "Stat": "Sum",
        },
    }
    return {**query, **extra}


ERROR_RATE = [
    stat("errors", "Errors", ReturnData=False),
    stat("invocations", "Invocations", ReturnData=False),
    {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "Error rate"},
]


@pytest.fixture
def sources(tmp_path: Path) -> Iterator[MetricSources]:
    store = CustomMetrics(tmp_path / "metrics.db", clock=lambda: NOW)
    data = [
        {"MetricName": name, "Value": value, "Timestamp": NOW + 60 * i}
        for name, values in (("Errors", ERRORS), ("Invocations", CALLS))
        for i, value in enumerate(values)
    ]
    store.put(parse_data({"Namespace": "App", "MetricData": data}, NOW))
    try:
        yield MetricSources(lambda *_: [], store)
    finally:
        store.close()


def get(sources: MetricSources, queries: list[dict[str, Any]]) -> dict[str, Any]:
    ops = CloudWatchOperations(sources, lambda: [])
    return ops.get_metric_data({
        "MetricDataQueries": queries, "StartTime": NOW, "EndTime": NOW + 180,
        "ScanBy": "TimestampAscending",
    })  # fmt: skip


def test_error_rate_returns_only_the_expression(sources: MetricSources) -> None:
    [result] = get(sources, ERROR_RATE)["MetricDataResults"]
    assert result["Id"] == "rate" and result["Label"] == "Error rate"
    assert result["Timestamps"] == [NOW, NOW + 120]  # 0 / 0 dropped
    assert result["Values"] == [10.0, 80.0]
    assert result["Messages"][0]["Code"] == "ArithmeticError"
    # Expressions over expressions, a scalar over the window, arrays as several results.
    results = get(
        sources,
        [
            *ERROR_RATE[:2],
            {"Id": "rate", "Expression": "errors / invocations", "ReturnData": False},
            {"Id": "pct", "Expression": "rate * 100"},
            {"Id": "total", "Expression": "SUM(errors)"},
            {"Id": "both", "Expression": "METRICS()"},
            {"Id": "same", "Expression": "errors"},
        ],
    )["MetricDataResults"]
    by_id: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        by_id.setdefault(r["Id"], []).append(r)
    assert by_id["pct"][0]["Values"] == [10.0, 80.0]
    assert by_id["total"][0]["Values"] == [5.0, 5.0, 5.0]
    assert [r["Label"] for r in by_id["both"]] == ["Errors", "Invocations"]
    assert by_id["both"][1]["Values"] == CALLS
    assert by_id["same"][0]["Label"] == "same" and by_id["same"][0]["Values"] == ERRORS


@pytest.mark.parametrize(
    ("queries", "words"),
    [
        ([{"Id": "e1", "Expression": "m1 +"}], "Error in expression e1"),
        ([{"Id": "e1", "Expression": "nope * 2"}], "Unrecognized identifier nope"),
        ([{"Id": "a", "Expression": "b"}, {"Id": "b", "Expression": "a"}], "Circular"),
        ([{"Id": "e1", "Expression": "1", **stat("x", "Errors")}], "Exactly one of"),
        ([{"Id": "e1", "Expression": "TIME_SERIES(1)", "Period": 90}], "Period"),
        ([{"Id": "e1", "Expression": "(" * 40 + "1" + ")" * 40}], "nested"),
    ],
)
def test_bad_expression_queries_are_refused(
    sources: MetricSources, queries: list[dict[str, Any]], words: str
) -> None:
    with pytest.raises(AwsServiceError, match=words) as info:
        get(sources, queries)
    assert info.value.status == 400


def test_a_window_longer_than_the_datapoint_limit_is_refused(sources: MetricSources) -> None:
    ops = CloudWatchOperations(sources, lambda: [])
    with pytest.raises(AwsServiceError, match="more than 100800"):
        ops.get_metric_data({
            "MetricDataQueries": [{"Id": "e1", "Expression": "TIME_SERIES(1)"}],
            "StartTime": 0, "EndTime": 60 * 100_801,
        })  # fmt: skip


ALARM_BODY: dict[str, Any] = {
    "AlarmName": "error-rate",
    "EvaluationPeriods": 3,
    "DatapointsToAlarm": 1,
    "Threshold": 50,
    "ComparisonOperator": "GreaterThanThreshold",
    "Metrics": ERROR_RATE,
}


def test_a_math_alarm_goes_to_alarm_on_its_expression(
    sources: MetricSources, tmp_path: Path
) -> None:
    clock = [NOW + 150]  # the window's last minute holds the 80 % error rate
    runner = AlarmRunner(tmp_path / "alarms.json", sources, _no_delivery, "us-east-1",
                         "000000000000", clock=lambda: clock[0])  # fmt: skip
    runner.put_metric_alarm(ALARM_BODY)
    [(alarm, previous)] = runner.evaluate_all()
    assert (previous, alarm.state) == (INSUFFICIENT, ALARM)
    assert "[10, —, 80]" in alarm.reason
    [shape] = runner.describe_alarms({})["MetricAlarms"]
    assert shape["Metrics"] == ERROR_RATE and "MetricName" not in shape
    event = notification(alarm, "arn", previous, "us-east-1", "now")
    metrics = event["alarmData"]["configuration"]["metrics"]
    assert metrics[2] == {"id": "rate", "returnData": True, "expression": ERROR_RATE[2]
                          ["Expression"], "label": "Error rate"}  # fmt: skip
    # A higher threshold: OK; the alarms file keeps the queries across a restart.
    runner.put_metric_alarm({**ALARM_BODY, "Threshold": 90})
    [(alarm, _)] = runner.evaluate_all()
    assert alarm.state == OK
    again = AlarmRunner(tmp_path / "alarms.json", sources, _no_delivery, "us-east-1",
                        "000000000000", clock=lambda: clock[0])  # fmt: skip
    assert again.describe_alarms({})["MetricAlarms"][0]["Metrics"] == ERROR_RATE


async def _no_delivery(arn: str, payload: bytes, subject: str | None) -> None:
    raise AssertionError("no actions configured")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"MetricName": "Errors"}, "mutually exclusive"),
        ({"Metrics": [*ERROR_RATE[:2], {**ERROR_RATE[2], "ReturnData": False}]}, "Exactly one"),
        ({"Metrics": [{**q, "ReturnData": True} for q in ERROR_RATE]}, "Exactly one"),
        ({"Metrics": [{"Id": "e1", "Expression": "nope / 2"}]}, "Unrecognized identifier"),
        ({"Metrics": [{"Id": "e1", "Expression": "1 +"}]}, "Error in expression e1"),
        ({"Metrics": []}, "1 to 10"),
        ({"Metrics": [stat(f"m{i}", "Errors", ReturnData=i == 0) for i in range(11)]}, "1 to 10"),
        ({"Metrics": [{"Id": "Bad", "Expression": "1"}]}, "Id"),
    ],
)
def test_bad_math_alarms_are_refused(change: dict[str, Any], words: str) -> None:
    with pytest.raises(AwsServiceError, match=words):
        parse_put({**ALARM_BODY, **change}, NOW, None)


def test_query_protocol_metrics_decode_like_json() -> None:
    """What Terraform's provider sends for ``metric_query`` blocks."""
    body = alarm_body({
        "Action": "PutMetricAlarm", "Version": "2010-08-01", "AlarmName": "a",
        "EvaluationPeriods": "1", "Threshold": "5", "ComparisonOperator": "GreaterThanThreshold",
        "Metrics.member.1.Id": "e1", "Metrics.member.1.Expression": "m1 * 100",
        "Metrics.member.1.ReturnData": "true", "Metrics.member.1.Label": "pct",
        "Metrics.member.2.Id": "m1", "Metrics.member.2.ReturnData": "false",
        "Metrics.member.2.MetricStat.Metric.Namespace": "AWS/Lambda",
        "Metrics.member.2.MetricStat.Metric.MetricName": "Errors",
        "Metrics.member.2.MetricStat.Metric.Dimensions.member.1.Name": "FunctionName",
        "Metrics.member.2.MetricStat.Metric.Dimensions.member.1.Value": "f",
        "Metrics.member.2.MetricStat.Period": "120",
        "Metrics.member.2.MetricStat.Stat": "Sum",
    })  # fmt: skip
    assert body["Metrics"][1] == {
        "Id": "m1",
        "ReturnData": False,
        "MetricStat": {
            "Metric": {
                "Namespace": "AWS/Lambda",
                "MetricName": "Errors",
                "Dimensions": [{"Name": "FunctionName", "Value": "f"}],
            },
            "Period": 120,
            "Stat": "Sum",
        },
    }
    alarm = parse_put(body, NOW, None)
    assert alarm.period == 120 and alarm.metrics == body["Metrics"]


def test_query_protocol_expression_queries_decode_and_run(sources: MetricSources) -> None:
    """GetMetricData over the query protocol (aws-sdk-go v1, so Grafana) with an Expression."""
    body = read_body({
        "Action": "GetMetricData", "Version": "2010-08-01",
        "StartTime": "2027-01-15T08:00:00Z", "EndTime": "2027-01-15T08:03:00Z",
        "ScanBy": "TimestampAscending",
        "MetricDataQueries.member.1.Id": "errors",
        "MetricDataQueries.member.1.ReturnData": "false",
        "MetricDataQueries.member.1.MetricStat.Metric.Namespace": "App",
        "MetricDataQueries.member.1.MetricStat.Metric.MetricName": "Errors",
        "MetricDataQueries.member.1.MetricStat.Period": "60",
        "MetricDataQueries.member.1.MetricStat.Stat": "Sum",
        "MetricDataQueries.member.2.Id": "doubled",
        "MetricDataQueries.member.2.Expression": "errors * 2",
        "MetricDataQueries.member.2.Period": "60",
    })  # fmt: skip
    assert body["StartTime"] == NOW and body["MetricDataQueries"][1]["Period"] == 60
    ops = CloudWatchOperations(sources, lambda: [])
    [result] = ops.get_metric_data(body)["MetricDataResults"]
    assert result["Id"] == "doubled" and result["Values"] == [2 * v for v in ERRORS]
