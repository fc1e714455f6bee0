"""``lamina up`` deploys SNS: an ``AWS::SNS::Topic``, a function's ``SNS`` event with a
filter policy, an ``AWS::SNS::Subscription`` of a queue with raw delivery, and a dead-letter
topic. A publish reaches the function (filtered) and the queue; re-running ``up`` changes
nothing; a changed filter policy is updated in place; removing the event unsubscribes the
function; ``lamina down`` removes the topics."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client, wait_until
from tests.integration.harness import LaminaProcess, running_lamina
from tests.sam.upcli import kinds, nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

STACK = "news"
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Articles:
    Type: AWS::SNS::Topic
    Properties:
      DisplayName: Articles
      Tags: [{Key: team, Value: news}]
  DeadLetters:
    Type: AWS::SNS::Topic
  Seen:
    Type: AWS::SQS::Queue
  Archive:
    Type: AWS::SQS::Queue
  ArchiveSubscription:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Articles
      Protocol: sqs
      Endpoint: !GetAtt Archive.Arn
      RawMessageDelivery: true
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Environment: {Variables: {SEEN: !Ref Seen}}
      Policies:
        - SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}
      DeadLetterQueue: {Type: SNS, TargetArn: !Ref DeadLetters}
      Events:
        Published:
          Type: SNS
          Properties:
            Topic: !Ref Articles
            FilterPolicy: {section: [SECTION]}
"""
HANDLER = """
import os, boto3

def handler(event, context):
    sns = event["Records"][0]["Sns"]
    boto3.client("sqs").send_message(QueueUrl=os.environ["SEEN"], MessageBody=sns["Message"])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("sam-sns-data")) as proc:
        yield proc


def write_project(root: Path, section: str = "sports", *, with_event: bool = True) -> Path:
    text = textwrap.dedent(TEMPLATE).replace("SECTION", section)
    if not with_event:
        text = text[: text.index("      Events:\n")]
    (root / "template.yaml").write_text(text)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text(HANDLER)
    return root / "template.yaml"


def drain(sqs: Any, name: str) -> list[str]:
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    out: list[str] = []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        if not got.get("Messages"):
            return out
        for m in got["Messages"]:
            out.append(m["Body"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


def publish_all(server: LaminaProcess, topic: str, sections: list[str]) -> tuple[list[str], ...]:
    """Publish one message per section, then a marker the function takes; (what the
    function saw, what the archive queue got) once the marker arrived."""
    sns, sqs = client(server.endpoint, "sns"), client(server.endpoint, "sqs")
    for section in sections:
        attributes = {"section": {"DataType": "String", "StringValue": section}}
        sns.publish(TopicArn=topic, Message=section, MessageAttributes=attributes)
    seen: list[str] = []

    def arrived() -> bool:
        seen.extend(drain(sqs, f"{STACK}-Seen"))
        return "marker" in seen

    marker = sections[-1]
    sns.publish(
        TopicArn=topic,
        Message="marker",
        MessageAttributes={"section": {"DataType": "String", "StringValue": marker}},
    )
    wait_until(arrived, what="the marker at the function")
    return sorted(seen), sorted(drain(sqs, f"{STACK}-Archive"))


def test_up_deploys_topics_subscriptions_and_sns_events(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = write_project(tmp_path)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    created = kinds(report, "created")
    assert ("topic", f"{STACK}-Articles") in created
    assert ("subscription", "Reader.Published") in created
    assert ("subscription", "ArchiveSubscription") in created
    sns = client(server.endpoint, "sns")
    topic = f"arn:aws:sns:us-east-1:000000000000:{STACK}-Articles"
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["DisplayName"] == "Articles"
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [
        {"Key": "team", "Value": "news"}
    ]
    lam = server.lambda_client()
    dead = lam.get_function_configuration(FunctionName=f"{STACK}-Reader")["DeadLetterConfig"]
    assert dead == {"TargetArn": f"arn:aws:sns:us-east-1:000000000000:{STACK}-DeadLetters"}

    seen, archived = publish_all(server, topic, ["politics", "sports"])
    assert seen == ["marker", "sports"]  # the function's filter policy
    assert archived == ["marker", "politics", "sports"]  # raw, unfiltered

    # The same template again: nothing to do.
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0 and nothing_done(report), report

    # Another section: the subscription's filter policy changes in place.
    write_project(tmp_path, "politics")
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert kinds(report, "changed") == [("subscription", "Reader.Published")], report
    seen, _ = publish_all(server, topic, ["sports", "politics"])
    assert seen == ["marker", "politics"]

    # The event removed: the function is unsubscribed, the queue stays subscribed.
    write_project(tmp_path, with_event=False)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert kinds(report, "removed") == [("subscription", "Reader.Published")], report
    subs = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert [s["Protocol"] for s in subs] == ["sqs"]

    down = subprocess.run(
        [sys.executable, "-m", "lamina.cli.main", "down", str(template),
         "--endpoint", server.endpoint, "--stack-name", STACK],
        cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert down.returncode == 0, down.stdout + down.stderr
    assert sns.list_topics()["Topics"] == []
    assert sns.list_subscriptions()["Subscriptions"] == []


BUFFERED = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SNS::Topic
  Seen:
    Type: AWS::SQS::Queue
  Buffered:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Environment: {Variables: {SEEN: !Ref Seen}}
      Policies:
        - SQSSendMessagePolicy: {QueueName: !GetAtt Seen.QueueName}
      Events:
        Placed:
          Type: SNS
          Properties:
            Topic: !Ref Orders
            SqsSubscription: true
"""
BUFFERED_HANDLER = """
import json, os, boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    for record in event["Records"]:  # SQS records, each body SNS's notification
        message = json.loads(record["body"])["Message"]
        sqs.send_message(QueueUrl=os.environ["SEEN"], MessageBody=message)
"""


def test_an_sns_event_with_sqs_subscription_reaches_the_function_through_its_queue(
    server: LaminaProcess, tmp_path: Path
) -> None:
    (tmp_path / "template.yaml").write_text(textwrap.dedent(BUFFERED))
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text(BUFFERED_HANDLER)
    code, report = up(server, tmp_path / "template.yaml", "--stack-name", "buffered")
    assert code == 0, report
    created = kinds(report, "created")
    assert ("queue", "buffered-BufferedPlacedQueue") in created
    assert ("mapping", "Buffered.Placed") in created
    sns, sqs = client(server.endpoint, "sns"), client(server.endpoint, "sqs")
    topic = "arn:aws:sns:us-east-1:000000000000:buffered-Orders"
    (sub,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sub["Protocol"] == "sqs" and sub["Endpoint"].endswith(":buffered-BufferedPlacedQueue")
    sns.publish(TopicArn=topic, Message="order 1")
    seen: list[str] = []

    def arrived() -> bool:
        seen.extend(drain(sqs, "buffered-Seen"))
        return bool(seen)

    wait_until(arrived, what="the message through the queue at the function")
    assert seen == ["order 1"]
    code, report = up(server, tmp_path / "template.yaml", "--stack-name", "buffered")
    assert code == 0 and nothing_done(report), report
