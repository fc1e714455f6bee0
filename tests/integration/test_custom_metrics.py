"""Custom metrics on a real server: PutMetricData through boto3, EMF lines printed by
functions (aws-lambda-powertools' Metrics among them), read back with boto3 and the AWS
CLI, and an alarm on a custom metric that fires."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.serialize import create_serializer

from tests.events.live import client
from tests.integration.harness import LaminaProcess, python_zip, zip_files
from tests.integration.test_sdk_functions import vendored

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

AWS_CLI = str(Path(sys.executable).with_name("aws"))


def window(minutes: int = 30) -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=minutes), now + timedelta(minutes=2)


def eventually(read: Callable[[], Any], done: Callable[[Any], bool], wait_s: float = 30) -> Any:
    """``read()`` until ``done`` holds (EMF lines reach the store after a log flush)."""
    deadline = time.monotonic() + wait_s
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_put_metric_data_then_statistics_are_exact(lamina: LaminaProcess) -> None:
    cw = client(lamina.endpoint, "cloudwatch")
    now = int(time.time())
    at = datetime.fromtimestamp(now - now % 120 - 360, UTC)  # periods of 120 s start here
    dims = [{"Name": "Shop", "Value": "north"}, {"Name": "Env", "Value": "test"}]
    cw.put_metric_data(
        Namespace="Lamina/Test",
        MetricData=[
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": at, "Value": 10,
             "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": at + timedelta(seconds=20),
             "Values": [20, 30, 40], "Counts": [1, 2, 1], "Unit": "Milliseconds"},
            {"MetricName": "Latency", "Dimensions": dims, "Timestamp": at + timedelta(minutes=1),
             "StatisticValues": {"SampleCount": 4, "Sum": 400, "Minimum": 50, "Maximum": 200},
             "Unit": "Milliseconds"},
        ],
    )  # fmt: skip
    start, end = at, at + timedelta(minutes=2)
    # Dimension order does not matter: a series is its set of dimensions.
    query = {"Namespace": "Lamina/Test", "MetricName": "Latency", "Dimensions": dims[::-1],
             "StartTime": start, "EndTime": end}  # fmt: skip
    per_minute = cw.get_metric_statistics(
        **query, Period=60, Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"]
    )["Datapoints"]
    per_minute.sort(key=lambda p: p["Timestamp"])
    assert [
        (p["SampleCount"], p["Sum"], p["Minimum"], p["Maximum"], p["Unit"]) for p in per_minute
    ] == [(5.0, 130.0, 10.0, 40.0, "Milliseconds"), (4.0, 400.0, 50.0, 200.0, "Milliseconds")]
    assert per_minute[0]["Average"] == 26.0
    [whole] = cw.get_metric_statistics(
        **query, Period=120, Statistics=["SampleCount", "Sum"], ExtendedStatistics=["p50"]
    )["Datapoints"]
    assert (whole["SampleCount"], whole["Sum"]) == (9.0, 530.0)
    # A statistic set's values are unknown, so the merged period has no percentile.
    assert "p50" not in whole.get("ExtendedStatistics", {})
    [first] = cw.get_metric_statistics(
        **query, Period=60, ExtendedStatistics=["p50", "p99"], Unit="Milliseconds"
    )["Datapoints"][:1]
    assert first["ExtendedStatistics"] == {"p50": 30.0, "p99": 40.0}
    # Another unit, or another dimension set, selects nothing.
    assert (
        cw.get_metric_statistics(**query, Period=60, Statistics=["Sum"], Unit="Seconds")[
            "Datapoints"
        ]
        == []
    )
    assert (
        cw.get_metric_statistics(
            **{**query, "Dimensions": dims[:1]}, Period=60, Statistics=["Sum"]
        )["Datapoints"]
        == []
    )
    data = cw.get_metric_data(
        MetricDataQueries=[{"Id": "lat", "MetricStat": {"Metric": {
            "Namespace": "Lamina/Test", "MetricName": "Latency", "Dimensions": dims},
            "Period": 60, "Stat": "Sum"}}],
        StartTime=start, EndTime=end, ScanBy="TimestampAscending",
    )["MetricDataResults"][0]  # fmt: skip
    assert data["Values"] == [130.0, 400.0]
    listed = cw.list_metrics(Namespace="Lamina/Test")["Metrics"]
    assert listed == [
        {"Namespace": "Lamina/Test", "MetricName": "Latency",
         "Dimensions": [{"Name": "Env", "Value": "test"}, {"Name": "Shop", "Value": "north"}]}
    ]  # fmt: skip


def test_high_resolution_datapoints_answer_periods_under_a_minute(
    lamina: LaminaProcess,
) -> None:
    cw = client(lamina.endpoint, "cloudwatch")
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    cw.put_metric_data(
        Namespace="Lamina/HighRes",
        MetricData=[
            {"MetricName": "Hits", "Timestamp": at + timedelta(seconds=s), "Value": s,
             "StorageResolution": 1}
            for s in (1, 2, 11, 12)
        ],
    )  # fmt: skip
    points = cw.get_metric_statistics(
        Namespace="Lamina/HighRes", MetricName="Hits", StartTime=at,
        EndTime=at + timedelta(minutes=1), Period=10, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert sorted((p["Timestamp"] - at).seconds for p in points) == [0, 10]
    assert sorted(p["Sum"] for p in points) == [3.0, 23.0]
    [minute] = cw.get_metric_statistics(
        Namespace="Lamina/HighRes", MetricName="Hits", StartTime=at,
        EndTime=at + timedelta(minutes=1), Period=60, Statistics=["Sum"],
    )["Datapoints"]  # fmt: skip
    assert minute["Sum"] == 26.0


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ({"Namespace": "AWS/Lambda"}, "InvalidParameterValue", "Namespace"),
        ({"MetricData": [{"MetricName": "m", "Value": 1}] * 1001}, "InvalidParameterValue",
         "must not have a size greater than 1000"),
        ({"MetricData": [{"MetricName": "m", "Value": 1, "Dimensions": [
            {"Name": f"d{i}", "Value": "v"} for i in range(31)]}]}, "InvalidParameterValue",
         "MetricData.member.1.Dimensions must not have a size greater than 30"),
        ({"MetricData": [{"MetricName": "m", "Value": 1e200}]}, "InvalidParameterValue",
         "MetricData.member.1.Value is invalid"),
        ({"MetricData": [{"MetricName": "m", "Values": [1, 2], "Counts": [1]}]},
         "InvalidParameterValue", "Values and MetricData.member.1.Counts must be of the same"),
        ({"MetricData": [{"MetricName": "m", "Value": 1, "Values": [1]}]},
         "InvalidParameterCombination", "mutually exclusive"),
        ({"MetricData": [{"MetricName": "m", "Value": 1,
          "Timestamp": datetime.now(UTC) - timedelta(days=15)}]}, "InvalidParameterValue",
         "two weeks in the past"),
        ({"MetricData": [{"MetricName": "m", "Value": 1,
          "Timestamp": datetime.now(UTC) + timedelta(hours=3)}]}, "InvalidParameterValue",
         "two hours in the future"),
        ({"MetricData": [{"MetricName": "m", "StatisticValues": {"SampleCount": 1, "Sum": 1,
          "Minimum": 5, "Maximum": 1}}]}, "InvalidParameterValue",
         "StatisticValues.Minimum must not be greater than"),
    ],
)  # fmt: skip
def test_bad_put_metric_data_is_refused_in_cloudwatchs_words(
    lamina: LaminaProcess, change: dict[str, Any], code: str, words: str
) -> None:
    cw = client(lamina.endpoint, "cloudwatch")
    body: dict[str, Any] = {
        "Namespace": "Lamina/Bad",
        "MetricData": [{"MetricName": "m", "Value": 1}],
    }
    with pytest.raises(ClientError) as info:
        cw.put_metric_data(**{**body, **change})
    assert info.value.response["Error"]["Code"] == code
    assert words in info.value.response["Error"]["Message"]
    # Nothing of a refused call is stored.
    assert cw.list_metrics(Namespace="Lamina/Bad")["Metrics"] == []


EMF_APP = """
import json, time

def handler(event, context):
    now = int(time.time() * 1000)
    print(json.dumps({"_aws": {"Timestamp": now, "CloudWatchMetrics": [{
        "Namespace": "Lamina/Emf", "Dimensions": [["Route"], []],
        "Metrics": [{"Name": "Bytes", "Unit": "Bytes"}]}]},
        "Route": "/orders", "Bytes": [100, 300], "note": "kept in the log"}))
    # Invalid EMF: no Timestamp. It stays a plain log line and makes no datapoint.
    print(json.dumps({"_aws": {"CloudWatchMetrics": [{"Namespace": "Lamina/Emf",
        "Dimensions": [["Route"]], "Metrics": [{"Name": "Broken"}]}]},
        "Route": "/orders", "Broken": 1}))
    print("a plain line mentioning _aws")
    return "ok"
"""


def test_emf_lines_become_datapoints_and_invalid_ones_stay_log_lines(
    lamina: LaminaProcess,
) -> None:
    lamina.create("emf-printer", python_zip(EMF_APP), Timeout=30)
    for _ in range(2):
        out = lamina.invoke("emf-printer", {})
        assert out.function_error is None, (out.payload, out.log)
        assert '"Broken": 1' in out.log and "a plain line mentioning _aws" in out.log
    cw = client(lamina.endpoint, "cloudwatch")
    start, end = window()

    def read(dims: list[dict[str, str]], metric: str = "Bytes") -> list[dict[str, Any]]:
        points: list[dict[str, Any]] = cw.get_metric_statistics(
            Namespace="Lamina/Emf", MetricName=metric, Dimensions=dims, StartTime=start,
            EndTime=end, Period=3600, Statistics=["SampleCount", "Sum", "Maximum"],
        )["Datapoints"]  # fmt: skip
        return points

    route = [{"Name": "Route", "Value": "/orders"}]
    [point] = eventually(lambda: read(route), lambda p: p and p[0]["SampleCount"] == 4)
    assert (point["SampleCount"], point["Sum"], point["Maximum"]) == (4.0, 800.0, 300.0)
    assert point["Unit"] == "Bytes"
    [bare] = read([])  # the empty dimension set: the metric without dimensions
    assert bare["Sum"] == 800.0
    assert read(route, "Broken") == []
    names = {m["MetricName"] for m in cw.list_metrics(Namespace="Lamina/Emf")["Metrics"]}
    assert names == {"Bytes"}


POWERTOOLS_METRICS_APP = """
from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics(namespace="ShopApp", service="orders")


@metrics.log_metrics(capture_cold_start_metric=True)
def handler(event, context):
    metrics.add_metric(name="OrdersPlaced", unit=MetricUnit.Count, value=event["orders"])
    return "ok"
"""


def test_powertools_metrics_are_read_with_the_aws_cli(lamina: LaminaProcess) -> None:
    code = zip_files(
        {
            "app.py": POWERTOOLS_METRICS_APP,
            **vendored("aws_lambda_powertools", "jmespath", "typing_extensions"),
        }
    )
    lamina.create("powertools-metrics", code, Timeout=30, MemorySize=256)
    for orders in (2, 3, 5):
        out = lamina.invoke("powertools-metrics", {"orders": orders})
        assert out.function_error is None, (out.payload, out.log)
    start, end = window()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip

    def cli(metric: str, *dims: str) -> list[dict[str, Any]]:
        run = subprocess.run(
            [
                AWS_CLI, "cloudwatch", "get-metric-statistics", "--endpoint-url",
                lamina.endpoint, "--namespace", "ShopApp", "--metric-name", metric,
                "--dimensions", *dims, "--start-time", start.isoformat(),
                "--end-time", end.isoformat(), "--period", "3600",
                "--statistics", "Sum", "SampleCount", "--output", "json",
            ],
            capture_output=True, text=True, env=env, timeout=120, check=True,
        )  # fmt: skip
        points: list[dict[str, Any]] = json.loads(run.stdout)["Datapoints"]
        return points

    orders = eventually(
        lambda: cli("OrdersPlaced", "Name=service,Value=orders"),
        lambda p: p and p[0]["SampleCount"] == 3,
    )
    assert [(p["Sum"], p["SampleCount"], p["Unit"]) for p in orders] == [(10.0, 3.0, "Count")]
    cold = cli(
        "ColdStart", "Name=function_name,Value=powertools-metrics", "Name=service,Value=orders"
    )
    assert [p["Sum"] for p in cold] == [1.0]


def test_an_alarm_on_a_custom_metric_fires(lamina: LaminaProcess) -> None:
    cw, sqs = client(lamina.endpoint, "cloudwatch"), client(lamina.endpoint, "sqs")
    queue_url = sqs.create_queue(QueueName="custom-alarms")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    dims = [{"Name": "Queue", "Value": "jobs"}]
    cw.put_metric_alarm(
        AlarmName="backlog-high", Namespace="Lamina/Jobs", MetricName="Backlog",
        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=100,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=[queue_arn],
    )  # fmt: skip
    cw.put_metric_data(
        Namespace="Lamina/Jobs",
        MetricData=[{"MetricName": "Backlog", "Dimensions": dims, "Values": [20, 150]}],
    )
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20).get("Messages", [])
    assert got, "the alarm on the custom metric never fired"
    event = json.loads(got[0]["Body"])
    assert event["alarmData"]["alarmName"] == "backlog-high"
    assert event["alarmData"]["state"]["value"] == "ALARM"
    metric = event["alarmData"]["configuration"]["metrics"][0]["metricStat"]["metric"]
    assert metric == {
        "namespace": "Lamina/Jobs",
        "name": "Backlog",
        "dimensions": {"Queue": "jobs"},
    }
    [alarm] = cw.describe_alarms(AlarmNames=["backlog-high"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM"
    cw.delete_alarms(AlarmNames=["backlog-high"])


def query_call(lamina: LaminaProcess, params: dict[str, Any]) -> tuple[int, str]:
    """PutMetricData as the query protocol sends it (botocore's own query serializer),
    signed for ``monitoring``."""
    cw = client(lamina.endpoint, "cloudwatch")
    model = cw.meta.service_model.operation_model("PutMetricData")
    serialized = create_serializer("query").serialize_to_request(params, model)
    request = AWSRequest(
        method="POST",
        url=lamina.endpoint + "/",
        data=serialized["body"],
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials("test", "test"), "monitoring", "us-east-1").add_auth(request)
    prepared = request.prepare()
    body = prepared.body.encode() if isinstance(prepared.body, str) else prepared.body
    req = urllib.request.Request(
        prepared.url, data=body, headers=dict(prepared.headers), method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_query_protocol_put_metric_data(lamina: LaminaProcess) -> None:
    at = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=2)
    status, text = query_call(
        lamina,
        {"Namespace": "Lamina/Query", "MetricData": [
            {"MetricName": "Jobs", "Timestamp": at, "Dimensions": [{"Name": "Q", "Value": "a"}],
             "Values": [1, 4], "Counts": [3, 1], "Unit": "Count"}]},
    )  # fmt: skip
    assert status == 200, text
    assert "<PutMetricDataResponse" in text
    [point] = client(lamina.endpoint, "cloudwatch").get_metric_statistics(
        Namespace="Lamina/Query", MetricName="Jobs", Dimensions=[{"Name": "Q", "Value": "a"}],
        StartTime=at, EndTime=at + timedelta(minutes=1), Period=60,
        Statistics=["Sum", "SampleCount"],
    )["Datapoints"]  # fmt: skip
    assert (point["Sum"], point["SampleCount"]) == (7.0, 4.0)
    status, text = query_call(
        lamina, {"Namespace": "AWS/EC2", "MetricData": [{"MetricName": "m", "Value": 1}]}
    )
    assert status == 400
    assert "<Code>InvalidParameterValue</Code>" in text and "Namespace" in text


def test_a_put_over_one_megabyte_is_refused_whole(lamina: LaminaProcess) -> None:
    # botocore gzips it (a few KB on the wire): the limit is on the inflated request.
    dims = [{"Name": f"d{i}", "Value": "v" * 255} for i in range(30)]
    data = [{"MetricName": "m", "Dimensions": dims, "Value": 1}] * 1000
    cw = client(lamina.endpoint, "cloudwatch")
    with pytest.raises(ClientError) as info:
        cw.put_metric_data(Namespace="Lamina/Huge", MetricData=data)
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLarge"
    assert cw.list_metrics(Namespace="Lamina/Huge")["Metrics"] == []
