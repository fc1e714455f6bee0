"""Metric math against a real server with real invocations: a function that fails some of
its invokes, its error rate through GetMetricData (boto3, CBOR) and the query protocol,
and a metric math alarm on that rate that changes state and notifies a queue."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, aws_client, python_zip, running_lamina

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CODE = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("asked to fail")
    return "ok"
"""
OK, FAILED = 6, 2
DIMS = [{"Name": "FunctionName", "Value": "flaky"}]


def stat(qid: str, metric: str, **extra: Any) -> dict[str, Any]:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {"Namespace": "AWS/Lambda", "MetricName": metric, "Dimensions": DIMS},
            "Period": 60,
            "Stat": "Sum",
        },
        **extra,
    }


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("math")) as proc:
        lam = aws_client(proc, "lambda")
        lam.create_function(
            FunctionName="flaky",
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(CODE)},
        )
        for i in range(OK + FAILED):
            out = lam.invoke(FunctionName="flaky", Payload=json.dumps({"fail": i < FAILED}))
            assert ("FunctionError" in out) == (i < FAILED)
        yield proc


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=1), now + timedelta(minutes=2)


def by_id(results: list[dict[str, Any]]) -> dict[str, dict[float, float]]:
    return {
        r["Id"]: {t.timestamp(): v for t, v in zip(r["Timestamps"], r["Values"], strict=True)}
        for r in results
    }


def test_error_rate_of_a_failing_function(server: LaminaProcess) -> None:
    start, end = window()
    out = aws_client(server, "cloudwatch").get_metric_data(
        MetricDataQueries=[
            stat("errors", "Errors"),
            stat("invocations", "Invocations"),
            {"Id": "rate", "Expression": "100 * errors / invocations", "Label": "Error rate"},
            {"Id": "overall", "Expression": "100 * SUM(errors) / SUM(invocations)"},
            {"Id": "hidden", "Expression": "FILL(errors, 0)", "ReturnData": False},
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    results = out["MetricDataResults"]
    assert [r["Id"] for r in results] == ["errors", "invocations", "rate", "overall"]
    got = by_id(results)
    assert sum(got["errors"].values()) == FAILED
    assert sum(got["invocations"].values()) == OK + FAILED
    # Per minute, the rate is the two series' quotient where both have a datapoint.
    assert got["rate"] == {at: 100 * e / got["invocations"][at] for at, e in got["errors"].items()}
    assert results[2]["Label"] == "Error rate" and results[2]["StatusCode"] == "Complete"
    # A scalar is given at every minute of the window.
    assert set(got["overall"].values()) == {100 * FAILED / (OK + FAILED)}
    assert len(got["overall"]) == 62


def test_bad_expressions_are_validation_errors(server: LaminaProcess) -> None:
    start, end = window()
    cw = aws_client(server, "cloudwatch")
    for expression in ("errors +", "nothere * 2", "(" * 100 + "1" + ")" * 100):
        with pytest.raises(ClientError) as info:
            cw.get_metric_data(
                MetricDataQueries=[stat("errors", "Errors"), {"Id": "e", "Expression": expression}],
                StartTime=start,
                EndTime=end,
            )
        assert info.value.response["Error"]["Code"] == "ValidationError"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_error_rate_alarm_changes_state_and_notifies(server: LaminaProcess) -> None:
    sqs, cw = aws_client(server, "sqs"), aws_client(server, "cloudwatch")
    queue_url = sqs.create_queue(QueueName="alarms")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    metrics = [
        {**stat("errors", "Errors", ReturnData=False)},
        {**stat("invocations", "Invocations", ReturnData=False)},
        {"Id": "rate", "Expression": "100 * SUM(errors) / SUM(invocations)", "ReturnData": True},
    ]
    for q in metrics[:2]:
        q["MetricStat"]["Period"] = 600
    cw.put_metric_alarm(
        AlarmName="flaky-error-rate",
        Metrics=metrics,
        EvaluationPeriods=1,
        Threshold=10,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[queue_arn],
        OKActions=[queue_arn],
    )
    # Evaluated at once: 2 of 8 invokes failed, 25 % > 10 %.
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20)["Messages"]
    event = json.loads(got[0]["Body"])
    assert event["alarmData"]["state"]["value"] == "ALARM"
    configured = event["alarmData"]["configuration"]["metrics"]
    assert [m["id"] for m in configured] == ["errors", "invocations", "rate"]
    [alarm] = cw.describe_alarms(AlarmNames=["flaky-error-rate"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM" and "25" in alarm["StateReason"]
    assert [m["Id"] for m in alarm["Metrics"]] == ["errors", "invocations", "rate"]
    assert "MetricName" not in alarm
    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=got[0]["ReceiptHandle"])
    # A threshold above the rate: back to OK, the queue told.
    cw.put_metric_alarm(
        AlarmName="flaky-error-rate",
        Metrics=metrics,
        EvaluationPeriods=1,
        Threshold=50,
        ComparisonOperator="GreaterThanThreshold",
        AlarmActions=[queue_arn],
        OKActions=[queue_arn],
    )
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20)["Messages"]
    assert json.loads(got[0]["Body"])["alarmData"]["state"]["value"] == "OK"
    # A malformed math alarm is refused in CloudWatch's words.
    with pytest.raises(ClientError) as info:
        cw.put_metric_alarm(
            AlarmName="bad",
            Metrics=[{**m, "ReturnData": True} for m in metrics],
            EvaluationPeriods=1,
            Threshold=1,
            ComparisonOperator="GreaterThanThreshold",
        )
    assert info.value.response["Error"]["Code"] == "ValidationError"
