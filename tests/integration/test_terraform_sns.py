"""Terraform (hashicorp/aws) manages an SNS topic, its access policy, a queue subscription
with raw delivery and a filter policy, a function subscription with its
``aws_lambda_permission`` for SNS, and an alarm notifying the topic: apply, a message published reaching the queue (filtered) and the function, a plan
with no changes, a changed filter policy in place, an empty plan again, destroy. Needs the
same terraform and provider mirror as ``test_terraform.py`` (skipped without them on a
developer's machine, failed in CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client, wait_until
from tests.integration.harness import LaminaProcess, zip_files
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

CONFIG = Path(__file__).parent / "terraform_sns" / "main.tf"
TOPIC = "arn:aws:sns:us-east-1:000000000000:tf-orders"
# The function sends each message it gets to the queue, so the test sees it was invoked.
HANDLER = """
import boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="tf-sns-seen")["QueueUrl"]
    for record in event["Records"]:
        sqs.send_message(QueueUrl=url, MessageBody="fn:" + record["Sns"]["Message"])
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": HANDLER}))
    return work


def bodies(sqs: Any, url: str) -> list[str]:
    """The bodies of the messages visible now, each deleted once read."""
    out: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        messages = got.get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def publish_and_receive(server: LaminaProcess, kind: str, n: int) -> list[Any]:
    sns, sqs = client(server.endpoint, "sns"), client(server.endpoint, "sqs")
    attributes = {"kind": {"DataType": "String", "StringValue": kind}}
    sns.publish(TopicArn=TOPIC, Message=f"{kind}-{n}", MessageAttributes=attributes)
    url = sqs.get_queue_url(QueueName="tf-sns-seen")["QueueUrl"]
    got: list[Any] = []

    def delivered() -> bool:
        got.extend(bodies(sqs, url))
        return any(str(b).startswith("fn:") for b in got)

    wait_until(delivered, what="the function's copy of the message at the queue")
    got.extend(bodies(sqs, url))
    return sorted(got)


def test_a_topic_and_its_subscriptions_apply_plan_clean_and_destroy(
    workdir: Path, server: LaminaProcess
) -> None:
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    sns = client(server.endpoint, "sns")
    attributes = sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]
    assert attributes["DisplayName"] == "Orders"
    assert sns.list_tags_for_resource(ResourceArn=TOPIC)["Tags"] == [
        {"Key": "team", "Value": "shop"}
    ]
    policy = json.loads(sns.get_topic_attributes(TopicArn=TOPIC)["Attributes"]["Policy"])
    assert policy["Statement"][0]["Principal"] == {"Service": "events.amazonaws.com"}
    (alarm,) = client(server.endpoint, "cloudwatch").describe_alarms()["MetricAlarms"]
    assert alarm["AlarmActions"] == [TOPIC]
    subs = sns.list_subscriptions_by_topic(TopicArn=TOPIC)["Subscriptions"]
    assert sorted(s["Protocol"] for s in subs) == ["lambda", "sqs"]
    assert publish_and_receive(server, "order", 1) == ["fn:order-1", "order-1"]
    assert publish_and_receive(server, "refund", 2) == ["fn:refund-2"]  # filtered out

    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    # A new filter policy changes the subscription in place.
    edit = (var, f"-var=filter={json.dumps({'kind': ['refund']})}")
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "0 added, 1 changed, 0 destroyed." in changed.stdout
    assert publish_and_receive(server, "refund", 3) == ["fn:refund-3", "refund-3"]
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    assert sns.list_topics()["Topics"] == []
    assert sns.list_subscriptions()["Subscriptions"] == []
    assert client(server.endpoint, "cloudwatch").describe_alarms()["MetricAlarms"] == []
