"""Metrics of a real server: ``/metrics`` parsed by prometheus_client after known traffic.

Signed mode (access keys set), so the scrape's authentication is exercised: Basic
credentials and SigV4 are accepted, nothing else is.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import botocore.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from botocore.parsers import create_parser
from botocore.serialize import create_serializer
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.harness import (
    LaminaProcess,
    aws_client,
    python_zip,
    signed_lamina,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

KEY, SECRET = "AKIDMETRICS", "metrics-secret"
CODE = """
import json

def handler(event, context):
    bodies = [json.loads(r["body"]) for r in event.get("Records", [])]
    if event.get("fail") or any(b.get("fail") for b in bodies):
        raise ValueError("asked to fail")
    return {"ok": True}
"""
OK, FAILED, THROTTLED = 5, 3, 2


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with signed_lamina(tmp_path_factory.mktemp("metrics"), KEY, SECRET, "r") as proc:
        yield proc


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, KEY, SECRET)


@pytest.fixture(scope="module")
def traffic(server: LaminaProcess) -> None:
    """OK successes and FAILED errors of ``metered``, THROTTLED throttles of ``blocked``."""
    lam = client(server, "lambda")
    for name in ("metered", "blocked"):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(CODE)},
            MemorySize=256,
        )
    for i in range(OK + FAILED):
        out = lam.invoke(FunctionName="metered", Payload=json.dumps({"fail": i < FAILED}))
        assert ("FunctionError" in out) == (i < FAILED)
    lam.put_function_concurrency(FunctionName="blocked", ReservedConcurrentExecutions=0)
    for _ in range(THROTTLED):
        with pytest.raises(ClientError) as info:
            lam.invoke(FunctionName="blocked", Payload=b"{}")
        assert info.value.response["Error"]["Code"] == "TooManyRequestsException"


def scrape(server: LaminaProcess, headers: dict[str, str]) -> tuple[int, str]:
    req = urllib.request.Request(server.endpoint + "/metrics", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def basic(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


FN = (("faas_name", "metered"), ("faas_version", "$LATEST"))


def test_scrape_counts_known_invokes_errors_and_throttles(
    server: LaminaProcess, traffic: None
) -> None:
    status, text = scrape(server, basic(KEY, SECRET))
    assert status == 200, text
    got = samples(text)
    assert got[("faas_invocations_total", FN)] == OK + FAILED
    assert got[("faas_errors_total", FN)] == FAILED
    assert got[("faas_timeouts_total", FN)] == 0
    assert got[("faas_coldstarts_total", FN)] >= 1
    blocked = (("faas_name", "blocked"), ("faas_version", "$LATEST"))
    assert got[("lamina_throttles_total", blocked)] == THROTTLED
    assert got[("faas_invocations_total", blocked)] == 0
    # The duration histogram counts every invocation; its +Inf bucket equals _count.
    assert got[("faas_invoke_duration_seconds_count", FN)] == OK + FAILED
    assert got[("faas_invoke_duration_seconds_bucket", (*FN, ("le", "+Inf")))] == OK + FAILED
    assert got[("faas_invoke_duration_seconds_sum", FN)] > 0
    assert got[("faas_init_duration_seconds_count", FN)] == got[("faas_coldstarts_total", FN)]
    assert got[("faas_mem_limit_bytes", FN)] == 256 * 1024 * 1024
    assert 0 < got[("faas_mem_usage_bytes", FN)] <= 256 * 1024 * 1024
    assert got[("lamina_billed_gb_seconds_total", FN)] > 0
    assert got[("lamina_cost_usd_total", FN)] > 0
    assert got[("faas_concurrent_executions", (("faas_name", "metered"),))] == 0
    envs = sum(v for (name, _), v in got.items() if name == "lamina_environments")
    assert envs >= 1


def test_scrape_again_after_more_invokes_counts_them(server: LaminaProcess, traffic: None) -> None:
    before = samples(scrape(server, basic(KEY, SECRET))[1])[("faas_invocations_total", FN)]
    client(server, "lambda").invoke(FunctionName="metered", Payload=b"{}")
    after = samples(scrape(server, basic(KEY, SECRET))[1])[("faas_invocations_total", FN)]
    assert after == before + 1


def test_scrape_needs_credentials_when_keys_are_set(server: LaminaProcess) -> None:
    assert scrape(server, {})[0] == 403
    assert scrape(server, basic(KEY, "wrong"))[0] == 403
    assert scrape(server, basic("AKIDNOBODY", SECRET))[0] == 403
    # A SigV4-signed GET is accepted too.
    aws = AWSRequest(method="GET", url=server.endpoint + "/metrics")
    SigV4Auth(Credentials(KEY, SECRET), "lambda", "us-east-1").add_auth(aws)
    status, text = scrape(server, dict(aws.headers.items()))
    assert status == 200 and "faas_invocations_total" in text


# -- CloudWatch: boto3 and the AWS CLI read the same rollups ----------------------------

AWS_CLI = str(Path(sys.executable).with_name("aws"))
DIMS = [{"Name": "FunctionName", "Value": "metered"}]


def window() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(hours=1), now + timedelta(minutes=2)


def test_get_metric_statistics_counts_invocations_and_errors(
    server: LaminaProcess, traffic: None
) -> None:
    cw = client(server, "cloudwatch")
    start, end = window()
    totals: dict[str, float] = {}
    for metric in ("Invocations", "Errors"):
        out = cw.get_metric_statistics(
            Namespace="AWS/Lambda",
            MetricName=metric,
            Dimensions=DIMS,
            StartTime=start,
            EndTime=end,
            Period=3600 + 180,
            Statistics=["Sum", "SampleCount"],
        )
        totals[metric] = sum(p["Sum"] for p in out["Datapoints"])
        assert all(p["Unit"] == "Count" for p in out["Datapoints"])
    assert totals["Invocations"] >= OK + FAILED  # later tests may add successes
    assert totals["Errors"] == FAILED
    duration = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Duration",
        Dimensions=DIMS,
        StartTime=start,
        EndTime=end,
        Period=3600 + 180,
        Statistics=["Maximum", "Minimum", "SampleCount"],
        ExtendedStatistics=["p50", "p99"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in duration) == totals["Invocations"]
    for point in duration:
        assert 0 < point["Minimum"] <= point["ExtendedStatistics"]["p50"] <= point["Maximum"]
        assert point["ExtendedStatistics"]["p99"] <= point["Maximum"]
    throttles = cw.get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="Throttles",
        Dimensions=[{"Name": "FunctionName", "Value": "blocked"}],
        StartTime=start,
        EndTime=end,
        Period=3600 + 180,
        Statistics=["Sum"],
    )["Datapoints"]
    assert sum(p["Sum"] for p in throttles) == THROTTLED


def test_cli_and_get_metric_data_return_the_same_numbers(
    server: LaminaProcess, traffic: None
) -> None:
    start, end = window()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    cli = subprocess.run(
        [
            AWS_CLI, "cloudwatch", "get-metric-statistics", "--endpoint-url", server.endpoint,
            "--namespace", "AWS/Lambda", "--metric-name", "Errors",
            "--dimensions", "Name=FunctionName,Value=metered", "Name=Resource,Value=metered",
            "--start-time", start.isoformat(), "--end-time", end.isoformat(),
            "--period", "60", "--statistics", "Sum", "SampleCount", "--output", "json",
        ],
        capture_output=True, text=True, env=env, timeout=120, check=True,
    )  # fmt: skip
    by_cli = {_epoch_of(p["Timestamp"]): p["Sum"] for p in json.loads(cli.stdout)["Datapoints"]}
    assert sum(by_cli.values()) == FAILED
    out = client(server, "cloudwatch").get_metric_data(
        MetricDataQueries=[
            {
                "Id": "errors",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "AWS/Lambda",
                        "MetricName": "Errors",
                        "Dimensions": [*DIMS, {"Name": "Resource", "Value": "metered"}],
                    },
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
            {
                "Id": "hidden",
                "ReturnData": False,
                "MetricStat": {
                    "Metric": {"Namespace": "AWS/Lambda", "MetricName": "Invocations"},
                    "Period": 60,
                    "Stat": "Sum",
                },
            },
        ],
        StartTime=start,
        EndTime=end,
        ScanBy="TimestampAscending",
    )
    [result] = out["MetricDataResults"]
    assert result["Id"] == "errors" and result["StatusCode"] == "Complete"
    by_data = {
        t.timestamp(): v for t, v in zip(result["Timestamps"], result["Values"], strict=True)
    }
    assert by_data == by_cli
    assert result["Timestamps"] == sorted(result["Timestamps"])


def test_list_metrics_and_errors(server: LaminaProcess, traffic: None) -> None:
    cw = client(server, "cloudwatch")
    metrics = cw.list_metrics(
        Namespace="AWS/Lambda", Dimensions=[{"Name": "FunctionName", "Value": "metered"}]
    )
    names = {m["MetricName"] for m in metrics["Metrics"]}
    assert {"Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions"} <= names
    assert all(
        {"Name": "FunctionName", "Value": "metered"} in m["Dimensions"] for m in metrics["Metrics"]
    )
    assert cw.list_metrics(Namespace="AWS/EC2")["Metrics"] == []
    start, end = window()
    with pytest.raises(ClientError) as info:
        cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", StartTime=start, EndTime=end,
            Period=90, Statistics=["Sum"],
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    with pytest.raises(ClientError) as info:
        cw.get_metric_statistics(
            Namespace="AWS/Lambda", MetricName="Invocations", StartTime=start - timedelta(days=3),
            EndTime=end, Period=60, Statistics=["Sum"],
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] == "InvalidParameterCombination"
    # An unsigned call is refused in signed mode.
    req = urllib.request.Request(
        server.endpoint + "/service/GraniteServiceVersion20100801/operation/ListMetrics",
        data=b"\xa0",
        headers={"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor"},
    )
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(req, timeout=30)
    assert http.value.code == 403


def _epoch_of(stamp: object) -> float:
    """The CLI prints CBOR timestamps as epoch numbers (its ``none`` timestamp format)."""
    if isinstance(stamp, str):
        return datetime.fromisoformat(stamp).timestamp()
    assert isinstance(stamp, int | float)
    return float(stamp)


def test_json_protocol_answers_like_cbor(server: LaminaProcess, traffic: None) -> None:
    """Older SDKs speak AWS JSON 1.0 to CloudWatch: same operation, same numbers."""
    start, end = window()
    body = json.dumps(
        {
            "Namespace": "AWS/Lambda",
            "MetricName": "Errors",
            "Dimensions": DIMS,
            "StartTime": start.timestamp(),
            "EndTime": end.timestamp(),
            "Period": 60,
            "Statistics": ["Sum"],
        }
    ).encode()
    aws = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.0",
            "X-Amz-Target": "GraniteServiceVersion20100801.GetMetricStatistics",
        },
    )
    SigV4Auth(Credentials(KEY, SECRET), "monitoring", "us-east-1").add_auth(aws)
    req = urllib.request.Request(
        server.endpoint + "/", data=body, headers=dict(aws.headers.items()), method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "application/x-amz-json-1.0"
        answer = json.loads(resp.read())
    assert sum(p["Sum"] for p in answer["Datapoints"]) == FAILED
    assert all(isinstance(p["Timestamp"], float) for p in answer["Datapoints"])


def _query_call(server: LaminaProcess, operation: str, params: dict[str, Any]) -> Any:
    """``operation`` over CloudWatch's query protocol, serialized and parsed by botocore's
    own query serializer and parser (what aws-sdk-go v1, so Grafana, and the AWS SDK for
    Go v2, so Terraform, speak to CloudWatch), signed for ``monitoring``."""
    model = botocore.session.get_session().get_service_model("cloudwatch")
    op = model.operation_model(operation)
    serialized = create_serializer("query").serialize_to_request(params, op)
    body = urlencode(serialized["body"]).encode()
    aws = AWSRequest(
        method="POST",
        url=server.endpoint + "/",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    SigV4Auth(Credentials(KEY, SECRET), "monitoring", "us-east-1").add_auth(aws)
    req = urllib.request.Request(
        server.endpoint + "/", data=body, headers=dict(aws.headers.items()), method="POST"
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.headers["Content-Type"] == "text/xml"
        raw = {"body": resp.read(), "headers": dict(resp.headers), "status_code": resp.status}
    return create_parser("query").parse(raw, op.output_shape)


def test_query_protocol_reads_answer_like_cbor(server: LaminaProcess, traffic: None) -> None:
    """GetMetricStatistics, GetMetricData and ListMetrics over the query protocol (form in,
    XML out) give the numbers boto3 gets over CBOR."""
    start, end = window()
    stats = {
        "Namespace": "AWS/Lambda", "MetricName": "Duration", "Dimensions": DIMS,
        "StartTime": start, "EndTime": end, "Period": 60,
        "Statistics": ["Sum", "SampleCount", "Maximum"], "ExtendedStatistics": ["p99"],
    }  # fmt: skip
    by_query = _query_call(server, "GetMetricStatistics", stats)["Datapoints"]
    by_cbor = client(server, "cloudwatch").get_metric_statistics(**stats)["Datapoints"]
    assert by_query and sorted(by_query, key=str) == sorted(by_cbor, key=str)
    # One Duration sample per invocation (the module's earlier tests add invokes).
    counted = {k: v for k, v in stats.items() if k != "ExtendedStatistics"}
    calls = client(server, "cloudwatch").get_metric_statistics(
        **{**counted, "MetricName": "Invocations", "Statistics": ["Sum"]}
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in by_query) == sum(p["Sum"] for p in calls) >= OK + FAILED
    assert all(set(p["ExtendedStatistics"]) == {"p99"} for p in by_query)

    queries = {
        "MetricDataQueries": [
            {"Id": "errors", "MetricStat": {"Metric": {"Namespace": "AWS/Lambda",
             "MetricName": "Errors", "Dimensions": DIMS}, "Period": 60, "Stat": "Sum"}},
            {"Id": "calls", "ReturnData": False, "MetricStat": {"Metric": {
             "Namespace": "AWS/Lambda", "MetricName": "Invocations"}, "Period": 60,
             "Stat": "Sum"}},
        ],
        "StartTime": start, "EndTime": end, "ScanBy": "TimestampAscending",
    }  # fmt: skip
    data = _query_call(server, "GetMetricData", queries)
    [result] = data["MetricDataResults"]
    assert result["Id"] == "errors" and sum(result["Values"]) == FAILED
    [cbor] = client(server, "cloudwatch").get_metric_data(**queries)["MetricDataResults"]
    assert (result["Timestamps"], result["Values"]) == (cbor["Timestamps"], cbor["Values"])

    listed = _query_call(server, "ListMetrics", {"Namespace": "AWS/Lambda", "Dimensions": DIMS})
    by_cbor_list = client(server, "cloudwatch").list_metrics(
        Namespace="AWS/Lambda", Dimensions=DIMS
    )
    assert listed["Metrics"] and listed["Metrics"] == by_cbor_list["Metrics"]


# -- alarms: PutMetricAlarm notifies a queue and a function -----------------------------

SINK = """
import json

def handler(event, context):
    print("ALARM-EVENT " + json.dumps(event))
    return "ok"
"""


def test_alarm_on_errors_notifies_a_queue_and_a_function(
    server: LaminaProcess, traffic: None
) -> None:
    lam, sqs, cw, logs = (client(server, s) for s in ("lambda", "sqs", "cloudwatch", "logs"))
    lam.create_function(
        FunctionName="alarm-sink",
        Runtime="python3.12",
        Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/r",
        Code={"ZipFile": python_zip(SINK)},
    )
    queue_url = sqs.create_queue(QueueName="alarms")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sink_arn = lam.get_function(FunctionName="alarm-sink")["Configuration"]["FunctionArn"]
    cw.put_metric_alarm(
        AlarmName="metered-errors",
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=DIMS,
        Statistic="Sum",
        Period=600,
        EvaluationPeriods=1,
        Threshold=FAILED,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[queue_arn, sink_arn],
    )
    # A put is evaluated at once: the queue gets CloudWatch's alarm event.
    got = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=20)["Messages"]
    event = json.loads(got[0]["Body"])
    assert event["source"] == "aws.cloudwatch"
    assert event["alarmData"]["alarmName"] == "metered-errors"
    assert event["alarmData"]["state"]["value"] == "ALARM"
    assert event["alarmData"]["previousState"]["value"] == "INSUFFICIENT_DATA"
    [alarm] = cw.describe_alarms(AlarmNames=["metered-errors"])["MetricAlarms"]
    assert alarm["StateValue"] == "ALARM" and alarm["Threshold"] == FAILED
    # ... and the function ran with the same event (asynchronously).
    deadline = time.monotonic() + 30
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        try:
            found = logs.filter_log_events(
                logGroupName="/aws/lambda/alarm-sink", filterPattern="ALARM-EVENT"
            )["events"]
        except ClientError:
            found = []
        lines = [e["message"] for e in found]
        time.sleep(0.3)
    assert lines, "the alarm never invoked its function"
    sent = json.loads(lines[0].split("ALARM-EVENT ", 1)[1])
    assert sent["alarmData"]["state"]["value"] == "ALARM"
    # A bad alarm is refused in CloudWatch's words; a deleted one is gone.
    with pytest.raises(ClientError) as info:
        cw.put_metric_alarm(
            AlarmName="bad", Namespace="AWS/Lambda", MetricName="Errors", Statistic="Sum",
            Period=60, EvaluationPeriods=1, Threshold=1,
            ComparisonOperator="GreaterThanThreshold", AlarmActions=["arn:aws:sns:x:y:z"],
        )  # fmt: skip
    assert info.value.response["Error"]["Code"] == "InvalidParameterValue"
    cw.delete_alarms(AlarmNames=["metered-errors"])
    assert cw.describe_alarms()["MetricAlarms"] == []


def test_async_backlog_and_loop_lag_are_scraped(server: LaminaProcess, traffic: None) -> None:
    lam = client(server, "lambda")
    # ``blocked`` has reserved concurrency 0: its Event invokes wait in the queue, retried.
    for _ in range(2):
        assert (
            lam.invoke(FunctionName="blocked", InvocationType="Event", Payload=b"{}")["StatusCode"]
            == 202
        )
    got = samples(scrape(server, basic(KEY, SECRET))[1])
    assert got[("lamina_async_events", (("faas_name", "blocked"),))] == 2
    assert got[("lamina_async_event_age_seconds", (("faas_name", "blocked"),))] >= 0
    assert got[("lamina_event_loop_lag_seconds", ())] >= 0


def test_request_rates_and_esm_batches_are_scraped(server: LaminaProcess, traffic: None) -> None:
    before = samples(scrape(server, basic(KEY, SECRET))[1])
    lam, sqs = client(server, "lambda"), client(server, "sqs")
    url = sqs.create_queue(QueueName="metered-q")["QueueUrl"]
    for i in range(3):  # three batches of one: one fails
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"fail": i == 0}))
    mapping = lam.create_event_source_mapping(
        FunctionName="metered",
        EventSourceArn="arn:aws:sqs:us-east-1:000000000000:metered-q",
        BatchSize=1,
    )["UUID"]
    labels = (
        ("faas_name", "metered"),
        ("mapping", mapping),
        ("source", "arn:aws:sqs:us-east-1:000000000000:metered-q"),
    )
    got: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for _ in range(300):
        got = samples(scrape(server, basic(KEY, SECRET))[1])
        # The failed message comes back after its visibility timeout: at least 3 batches.
        if got.get(("lamina_esm_batches_total", labels), 0) >= 3:
            break
        time.sleep(0.2)
    lam.delete_event_source_mapping(UUID=mapping)
    assert got[("lamina_esm_batches_total", labels)] >= 3
    assert got[("lamina_esm_records_total", labels)] == got[("lamina_esm_batches_total", labels)]
    assert got[("lamina_esm_failed_batches_total", labels)] >= 1
    # Every scrape and API call counted, per face.
    lam_calls = ("lamina_http_requests_total", (("face", "lambda"),))
    assert got[lam_calls] == before[lam_calls] + 1  # CreateEventSourceMapping
    metrics_calls = ("lamina_http_requests_total", (("face", "metrics"),))
    assert got[metrics_calls] > before[metrics_calls]
    assert got[("lamina_http_requests_total", (("face", "sqs"),))] >= 4
