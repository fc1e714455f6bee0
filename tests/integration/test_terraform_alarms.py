"""A Terraform-managed CloudWatch alarm (``aws_cloudwatch_metric_alarm``) against a real
server: hashicorp/aws speaks CloudWatch's query protocol (the AWS SDK for Go v2), so this
is PutMetricAlarm, DescribeAlarms, the tag operations and DeleteAlarms as Terraform sends
them. The alarm then fires a function when another function's errors cross its threshold.
Needs the same terraform and provider mirror as ``test_terraform.py`` (skipped without
them on a developer's machine, failed in CI).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, aws_client, python_zip
from tests.integration.test_terraform import (
    server,
    terraform,
    terraform_present,
    terraform_workdir,
)

# Fixtures of test_terraform.py: Terraform present (skipped without it, failed in CI)
# and a fresh server per test.
__all__ = ["server", "terraform_present"]

pytestmark = pytest.mark.slow


CONFIG = Path(__file__).parent / "terraform_alarms" / "main.tf"
FLAKY = """
def handler(event, context):
    if event.get("fail"):
        raise RuntimeError("flaky")
    return "ok"
"""
ON_CALL = """
import json
def handler(event, context):
    print("ON-CALL " + json.dumps(event))
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    return terraform_workdir(tmp_path, CONFIG)


def _on_call_lines(server: LaminaProcess) -> list[str]:
    logs = aws_client(server, "logs")
    try:
        found = logs.filter_log_events(
            logGroupName="/aws/lambda/tf-on-call", filterPattern="ON-CALL"
        )["events"]
    except ClientError:
        return []
    return [e["message"] for e in found]


def test_terraform_alarm_applies_plans_clean_fires_and_destroys(
    workdir: Path, server: LaminaProcess
) -> None:
    lam, cw = aws_client(server, "lambda"), aws_client(server, "cloudwatch")
    for name, code in (("tf-flaky", FLAKY), ("tf-on-call", ON_CALL)):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(code)},
        )
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)

    # What Terraform made reads back through boto3 (CBOR) as it was written (query).
    [alarm] = cw.describe_alarms(AlarmNames=["tf-flaky-errors"])["MetricAlarms"]
    assert alarm["Threshold"] == 2.0 and alarm["Period"] == 300
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": "tf-flaky"}]
    assert alarm["AlarmActions"] == ["arn:aws:lambda:us-east-1:000000000000:function:tf-on-call"]
    assert alarm["StateValue"] == "OK"  # no errors yet, missing data not breaching
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "lamina", "project": "lamina-tf"}
    # Read back, it is exactly what the configuration says: nothing to change.
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)

    # Errors cross the threshold: the alarm invokes its function with CloudWatch's event.
    assert _on_call_lines(server) == []
    for _ in range(2):
        assert "FunctionError" in lam.invoke(FunctionName="tf-flaky", Payload=b'{"fail": 1}')
    deadline = time.monotonic() + 40  # evaluated every 10 s
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        lines = _on_call_lines(server)
        time.sleep(0.5)
    assert lines, "the alarm never invoked its function"
    event = json.loads(lines[0].split("ON-CALL ", 1)[1])
    assert event["source"] == "aws.cloudwatch"
    assert event["alarmData"]["alarmName"] == "tf-flaky-errors"
    assert event["alarmData"]["state"]["value"] == "ALARM"
    assert event["alarmData"]["previousState"]["value"] == "OK"

    # A change in place: the threshold through PutMetricAlarm, the tag through TagResource.
    terraform(workdir, "apply", "-auto-approve", "-input=false", var, "-var=team=ops",
              "-var=threshold=5")  # fmt: skip
    [alarm] = cw.describe_alarms(AlarmNames=["tf-flaky-errors"])["MetricAlarms"]
    assert alarm["Threshold"] == 5.0
    tags = cw.list_tags_for_resource(ResourceARN=alarm["AlarmArn"])["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"team": "ops", "project": "lamina-tf"}
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var, "-var=team=ops",
              "-var=threshold=5")  # fmt: skip

    terraform(workdir, "destroy", "-auto-approve", "-input=false", var)
    assert cw.describe_alarms()["MetricAlarms"] == []


MATH_CONFIG = Path(__file__).parent / "terraform_alarms_math" / "main.tf"


def test_terraform_error_rate_alarm_with_metric_queries(
    tmp_path: Path, server: LaminaProcess
) -> None:
    """``metric_query`` blocks (the standard Lambda error-rate alarm): applied, read back
    exactly (a clean plan), evaluated (ALARM once a third of the invokes fail), changed in
    place, destroyed."""
    workdir = terraform_workdir(tmp_path, MATH_CONFIG)
    lam, cw = aws_client(server, "lambda"), aws_client(server, "cloudwatch")
    for name, code in (("tf-flaky", FLAKY), ("tf-on-call", ON_CALL)):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/r",
            Code={"ZipFile": python_zip(code)},
        )
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    [alarm] = cw.describe_alarms(AlarmNames=["tf-flaky-error-rate"])["MetricAlarms"]
    queries = {m["Id"]: m for m in alarm["Metrics"]}
    assert queries["e1"]["Expression"] == "100 * errors / invocations"
    assert queries["errors"]["MetricStat"]["Period"] == 300
    assert queries["errors"]["MetricStat"]["Metric"]["Dimensions"] == [
        {"Name": "FunctionName", "Value": "tf-flaky"}
    ]
    assert alarm["StateValue"] == "OK"  # no invokes: missing data, not breaching
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)

    # One failure in three invokes: 33 % > 10 %, the alarm invokes its function.
    for payload in (b'{"fail": 1}', b"{}", b"{}"):
        lam.invoke(FunctionName="tf-flaky", Payload=payload)
    deadline = time.monotonic() + 40  # evaluated every 10 s
    lines: list[str] = []
    while time.monotonic() < deadline and not lines:
        lines = _on_call_lines(server)
        time.sleep(0.5)
    assert lines, "the error rate alarm never invoked its function"
    event = json.loads(lines[0].split("ON-CALL ", 1)[1])
    assert event["alarmData"]["alarmName"] == "tf-flaky-error-rate"
    assert event["alarmData"]["state"]["value"] == "ALARM"
    expressions = [m.get("expression") for m in event["alarmData"]["configuration"]["metrics"]]
    assert "100 * errors / invocations" in expressions

    terraform(workdir, "apply", "-auto-approve", "-input=false", var, "-var=threshold=50")
    [alarm] = cw.describe_alarms(AlarmNames=["tf-flaky-error-rate"])["MetricAlarms"]
    assert alarm["Threshold"] == 50.0
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var, "-var=threshold=50")
    terraform(workdir, "destroy", "-auto-approve", "-input=false", var)
    assert cw.describe_alarms()["MetricAlarms"] == []
