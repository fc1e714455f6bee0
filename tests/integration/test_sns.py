"""SNS against a real server with boto3: topics, subscriptions, fan-out to functions and
queues, filter policies, raw delivery, retries into a dead-letter queue, restarts and every
refusal with SNS's error code."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, aws_cli, aws_client, cli_json, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# A function that records each SNS record it gets in a queue named by its environment.
RECORDER = """
import json, os, boto3

def handler(event, context):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=os.environ["OUT"])["QueueUrl"]
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    for record in event["Records"]:
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"record": record, "trace": trace}))
    return {"seen": len(event["Records"])}
"""
FAILING = """
def handler(event, context):
    raise RuntimeError("refused: " + event["Records"][0]["Sns"]["Message"])
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    data: Path = tmp_path_factory.mktemp("data")
    lamina = LaminaProcess(
        data, {"LAMINA_ASYNC_RETRY_DELAY_1_S": "0.1", "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.1"}
    ).start()
    yield lamina
    lamina.stop()


def wait_for(what: Callable[[], Any], timeout: float = 60.0) -> Any:
    """``what()`` once it is truthy (the condition is waited on, not a duration)."""
    deadline = time.monotonic() + timeout
    while True:
        value = what()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


class Queue:
    def __init__(self, server: LaminaProcess, name: str) -> None:
        self.sqs = aws_client(server, "sqs")
        self.url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        self.name = name

    def receive(self, count: int, timeout: float = 60.0) -> list[dict[str, Any]]:
        """At least ``count`` messages, each deleted once read."""
        got: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(got) < count and time.monotonic() < deadline:
            out = self.sqs.receive_message(
                QueueUrl=self.url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=1,
                MessageAttributeNames=["All"],
            )
            for m in out.get("Messages", []):
                got.append(m)
                self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=m["ReceiptHandle"])
        return got

    def empty(self) -> bool:
        out = self.sqs.receive_message(QueueUrl=self.url, WaitTimeSeconds=1)
        return not out.get("Messages")


def recorder(server: LaminaProcess, name: str) -> tuple[str, Queue]:
    """A function recording its SNS records in a queue of its own; (its ARN, the queue)."""
    out = Queue(server, f"{name}-seen")
    arn = server.create(name, python_zip(RECORDER), Environment={"Variables": {"OUT": out.name}})[
        "FunctionArn"
    ]
    return arn, out


def error_of(call: Callable[[], object]) -> tuple[str, int]:
    with pytest.raises(ClientError) as err:
        call()
    response = err.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def test_fan_out_to_two_functions_and_a_queue(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    topic = sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"]
    assert sns.create_topic(Name="orders", Attributes={"DisplayName": "Orders"})["TopicArn"] == (
        topic
    )
    first, first_seen = recorder(server, "sns-first")
    second, second_seen = recorder(server, "sns-second")
    queue = Queue(server, "orders-queue")
    subs = [
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=first)["SubscriptionArn"],
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=second)["SubscriptionArn"],
        sns.subscribe(
            TopicArn=topic, Protocol="sqs", Endpoint=queue.arn, ReturnSubscriptionArn=True
        )["SubscriptionArn"],
    ]
    # Subscribing an endpoint again answers its subscription.
    assert (
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=first)["SubscriptionArn"]
        == (subs[0])
    )
    assert all(s.startswith(topic + ":") for s in subs)
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted(subs)
    message_id = sns.publish(
        TopicArn=topic,
        Message="order 1 placed",
        Subject="New order",
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "placed"},
            "total": {"DataType": "Number", "StringValue": "42.5"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
        },
    )["MessageId"]

    for seen, sub in ((first_seen, subs[0]), (second_seen, subs[1])):
        (message,) = seen.receive(1)
        record = json.loads(message["Body"])["record"]
        assert record["EventSource"] == "aws:sns"
        assert record["EventVersion"] == "1.0"
        assert record["EventSubscriptionArn"] == sub
        body = record["Sns"]
        assert body["Type"] == "Notification"
        assert body["MessageId"] == message_id
        assert body["TopicArn"] == topic
        assert body["Subject"] == "New order"
        assert body["Message"] == "order 1 placed"
        assert body["MessageAttributes"] == {
            "kind": {"Type": "String", "Value": "placed"},
            "total": {"Type": "Number", "Value": "42.5"},
            "blob": {"Type": "Binary", "Value": "AAE="},
        }
        assert body["SignatureVersion"] == "1" and body["Signature"]
        assert "Action=Unsubscribe" in body["UnsubscribeUrl"]
        assert body["Timestamp"].endswith("Z")

    (message,) = queue.receive(1)
    envelope = json.loads(message["Body"])
    assert envelope["Type"] == "Notification"
    assert envelope["MessageId"] == message_id
    assert envelope["Message"] == "order 1 placed"
    assert envelope["Subject"] == "New order"
    assert envelope["MessageAttributes"]["kind"] == {"Type": "String", "Value": "placed"}
    assert "SigningCertURL" in envelope and "UnsubscribeURL" in envelope
    assert message.get("MessageAttributes") is None  # not raw: attributes are in the body

    # The notification's unsubscribe link works (an unsigned GET, served in dev mode).
    with urllib.request.urlopen(envelope["UnsubscribeURL"]) as answer:
        assert answer.status == 200
    listed = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert sorted(s["SubscriptionArn"] for s in listed) == sorted(subs[:2])


def test_filter_policies_on_attributes_and_on_the_body(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    topic = sns.create_topic(Name="filtered")["TopicArn"]
    by_attribute = Queue(server, "filtered-attributes")
    by_body = Queue(server, "filtered-body")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=by_attribute.arn,
        Attributes={
            "FilterPolicy": json.dumps(
                {"store": [{"prefix": "eu-"}], "price": [{"numeric": [">=", 100]}]}
            ),
            "RawMessageDelivery": "true",
        },
    )
    body_sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=by_body.arn)[
        "SubscriptionArn"
    ]
    sns.set_subscription_attributes(
        SubscriptionArn=body_sub, AttributeName="FilterPolicyScope", AttributeValue="MessageBody"
    )
    sns.set_subscription_attributes(
        SubscriptionArn=body_sub,
        AttributeName="FilterPolicy",
        AttributeValue=json.dumps({"order": {"status": [{"anything-but": "draft"}]}}),
    )
    attributes = sns.get_subscription_attributes(SubscriptionArn=body_sub)["Attributes"]
    assert attributes["FilterPolicyScope"] == "MessageBody"
    assert json.loads(attributes["FilterPolicy"]) == {
        "order": {"status": [{"anything-but": "draft"}]}
    }

    def publish(message: dict[str, Any], store: str, price: str) -> None:
        sns.publish(
            TopicArn=topic,
            Message=json.dumps(message),
            MessageAttributes={
                "store": {"DataType": "String", "StringValue": store},
                "price": {"DataType": "Number", "StringValue": price},
            },
        )

    publish({"order": {"status": "draft", "n": 1}}, "eu-west", "150")  # attributes only
    publish({"order": {"status": "paid", "n": 2}}, "us-east", "150")  # body only
    publish({"order": {"status": "paid", "n": 3}}, "eu-north", "99")  # body only
    publish({"order": {"status": "draft", "n": 4}}, "us-east", "5")  # neither

    raw = by_attribute.receive(1)
    assert [json.loads(m["Body"])["order"]["n"] for m in raw] == [1]  # raw: the message itself
    assert raw[0]["MessageAttributes"]["store"] == {"StringValue": "eu-west", "DataType": "String"}
    enveloped = by_body.receive(2)
    assert sorted(
        json.loads(json.loads(m["Body"])["Message"])["order"]["n"] for m in enveloped
    ) == [
        2,
        3,
    ]
    # Nothing else arrives: the fourth message (and the others' other copies) were filtered.
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "marker", "n": 5}}))
    assert [
        json.loads(json.loads(m["Body"])["Message"])["order"]["n"] for m in by_body.receive(1)
    ] == [5]
    assert by_attribute.empty()


def test_message_structure_json_sends_each_protocol_its_message(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    topic = sns.create_topic(Name="structured")["TopicArn"]
    queue = Queue(server, "structured-queue")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    sns.publish(
        TopicArn=topic,
        MessageStructure="json",
        Message=json.dumps({"default": "for everyone", "sqs": "for queues"}),
    )
    (message,) = queue.receive(1)
    assert json.loads(message["Body"])["Message"] == "for queues"


def test_a_failing_function_is_retried_then_its_destination_and_dlq_get_it(
    server: LaminaProcess,
) -> None:
    sns = aws_client(server, "sns")
    lam = server.lambda_client()
    topic = sns.create_topic(Name="failures")["TopicArn"]
    # The function's dead-letter target is a topic; its raw subscriber sees the attributes.
    dead_letters = sns.create_topic(Name="dead-letters")["TopicArn"]
    dlq = Queue(server, "failures-dlq")
    sns.subscribe(
        TopicArn=dead_letters,
        Protocol="sqs",
        Endpoint=dlq.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    failed_topic = sns.create_topic(Name="failed-invocations")["TopicArn"]
    destination = Queue(server, "failed-invocations-queue")
    sns.subscribe(TopicArn=failed_topic, Protocol="sqs", Endpoint=destination.arn)
    arn = server.create(
        "sns-failing", python_zip(FAILING), DeadLetterConfig={"TargetArn": dead_letters}
    )["FunctionArn"]
    lam.put_function_event_invoke_config(
        FunctionName="sns-failing",
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failed_topic}},
    )
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="poison")

    (dead,) = dlq.receive(1)
    event = json.loads(dead["Body"])
    assert event["Records"][0]["Sns"]["Message"] == "poison"
    assert dead["MessageAttributes"]["ErrorMessage"]["StringValue"] == "refused: poison"
    (notified,) = destination.receive(1)
    record = json.loads(json.loads(notified["Body"])["Message"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestPayload"]["Records"][0]["Sns"]["Message"] == "poison"


def test_topics_tags_and_attributes(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    arns = [
        sns.create_topic(Name=f"paged-{i:03d}", Tags=[{"Key": "n", "Value": str(i)}])["TopicArn"]
        for i in range(105)
    ]
    listed: list[str] = []
    token: str | None = None
    while True:
        page = sns.list_topics(**({"NextToken": token} if token else {}))
        listed += [t["TopicArn"] for t in page["Topics"]]
        token = page.get("NextToken")
        if not token:
            break
    assert set(arns) <= set(listed) and len(listed) == len(set(listed))
    topic = arns[7]
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "n", "Value": "7"}]
    sns.tag_resource(ResourceArn=topic, Tags=[{"Key": "team", "Value": "payments"}])
    sns.untag_resource(ResourceArn=topic, TagKeys=["n"])
    assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [
        {"Key": "team", "Value": "payments"}
    ]
    sns.set_topic_attributes(TopicArn=topic, AttributeName="DisplayName", AttributeValue="Seven")
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    assert attributes["DisplayName"] == "Seven"
    assert attributes["TopicArn"] == topic
    assert json.loads(attributes["Policy"])["Statement"][0]["Resource"] == topic
    for arn in arns:
        sns.delete_topic(TopicArn=arn)
    remaining = {t["TopicArn"] for t in sns.list_topics()["Topics"]}
    assert not remaining & set(arns)


def test_refusals_carry_sns_error_codes(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    missing = "arn:aws:sns:us-east-1:000000000000:nope"
    topic = sns.create_topic(Name="refusals")["TopicArn"]
    queue = Queue(server, "refusals-queue")
    assert error_of(lambda: sns.publish(TopicArn=missing, Message="x")) == ("NotFound", 404)
    assert error_of(lambda: sns.get_topic_attributes(TopicArn=missing)) == ("NotFound", 404)
    assert error_of(
        lambda: sns.subscribe(TopicArn=missing, Protocol="sqs", Endpoint=queue.arn)
    ) == ("NotFound", 404)
    assert error_of(lambda: sns.get_subscription_attributes(SubscriptionArn=topic + ":x")) == (
        "NotFound",
        404,
    )
    assert error_of(lambda: sns.list_tags_for_resource(ResourceArn=missing)) == (
        "ResourceNotFound",
        404,
    )
    assert error_of(lambda: sns.create_topic(Name="bad name!")) == ("InvalidParameter", 400)
    assert error_of(lambda: sns.create_topic(Name="refusals", Attributes={"DisplayName": "x"})) == (
        "InvalidParameter",
        400,
    )
    assert error_of(
        lambda: sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="a@example.com")
    ) == ("InvalidParameter", 400)
    assert error_of(
        lambda: sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=queue.arn)
    ) == ("InvalidParameter", 400)
    assert error_of(
        lambda: sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes={"FilterPolicy": json.dumps({"a": {"b": ["c"]}})},
        )
    ) == ("InvalidParameter", 400)
    assert error_of(
        lambda: sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes={"FilterPolicy": json.dumps({k: ["v"] for k in "abcdef"})},
        )
    ) == ("InvalidParameter", 400)
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="")) == ("InvalidParameter", 400)
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x" * 262_145)) == (
        "InvalidParameter",
        400,
    )
    assert error_of(lambda: sns.publish(TopicArn=topic, Message="x", MessageStructure="json")) == (
        "InvalidParameter",
        400,
    )
    assert error_of(
        lambda: sns.publish(
            TopicArn=topic,
            Message="x",
            MessageAttributes={"n": {"DataType": "Number", "StringValue": "many"}},
        )
    ) == ("ParameterValueInvalid", 400)
    assert error_of(lambda: sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[])) == (
        "EmptyBatchRequest",
        400,
    )
    assert error_of(
        lambda: sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[{"Id": "a", "Message": "1"}, {"Id": "a", "Message": "2"}],
        )
    ) == ("BatchEntryIdsNotDistinct", 400)
    assert error_of(
        lambda: sns.publish_batch(
            TopicArn=topic,
            PublishBatchRequestEntries=[{"Id": str(i), "Message": "m"} for i in range(11)],
        )
    ) == ("TooManyEntriesInBatchRequest", 400)


def test_publish_batch_delivers_each_entry(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    topic = sns.create_topic(Name="batched")["TopicArn"]
    queue = Queue(server, "batched-queue")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    out = sns.publish_batch(
        TopicArn=topic,
        PublishBatchRequestEntries=[
            {"Id": "one", "Message": "first"},
            {"Id": "two", "Message": "second", "Subject": "bad\nsubject"},
            {"Id": "three", "Message": "third"},
        ],
    )
    assert sorted(s["Id"] for s in out["Successful"]) == ["one", "three"]
    assert [(f["Id"], f["Code"], f["SenderFault"]) for f in out["Failed"]] == [
        ("two", "InvalidParameter", True)
    ]
    assert sorted(m["Body"] for m in queue.receive(2)) == ["first", "third"]


def test_topics_and_subscriptions_survive_a_restart(tmp_path: Path) -> None:
    server = LaminaProcess(tmp_path / "data").start()
    try:
        sns = aws_client(server, "sns")
        topic = sns.create_topic(Name="kept", Tags=[{"Key": "k", "Value": "v"}])["TopicArn"]
        queue = Queue(server, "kept-queue")
        sub = sns.subscribe(
            TopicArn=topic,
            Protocol="sqs",
            Endpoint=queue.arn,
            Attributes={"RawMessageDelivery": "true"},
        )["SubscriptionArn"]
    finally:
        server.stop()
    server = LaminaProcess(tmp_path / "data").start()
    try:
        sns = aws_client(server, "sns")
        assert topic in {t["TopicArn"] for t in sns.list_topics()["Topics"]}
        assert sns.list_tags_for_resource(ResourceArn=topic)["Tags"] == [{"Key": "k", "Value": "v"}]
        attributes = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
        assert attributes["RawMessageDelivery"] == "true"
        sns.publish(TopicArn=topic, Message="after the restart")
        queue = Queue(server, "kept-queue")
        assert [m["Body"] for m in queue.receive(1)] == ["after the restart"]
        sns.unsubscribe(SubscriptionArn=sub)
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    finally:
        server.stop()


def test_a_publishs_trace_continues_into_the_function_and_the_queue(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    header = f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    sns.meta.events.register("before-sign.sns.Publish", add)
    topic = sns.create_topic(Name="traced")["TopicArn"]
    function, seen = recorder(server, "sns-traced")
    queue = Queue(server, "traced-queue")
    sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    sns.publish(TopicArn=topic, Message="follow me")
    (message,) = seen.receive(1)
    trace = json.loads(message["Body"])["trace"]
    assert f"Root={root}" in trace and "Sampled=1" in trace
    out = queue.sqs.receive_message(
        QueueUrl=queue.url, WaitTimeSeconds=10, MessageSystemAttributeNames=["AWSTraceHeader"]
    )
    assert f"Root={root}" in out["Messages"][0]["Attributes"]["AWSTraceHeader"]


def test_a_published_message_is_delivered_after_a_restart(tmp_path: Path) -> None:
    """The function is throttled (reserved concurrency 0) when the message is published:
    its event waits in the durable queue, across a restart, until the function can run."""
    data = tmp_path / "data"
    server = LaminaProcess(data, {"LAMINA_ASYNC_THROTTLE_MAX_S": "0.2"}).start()
    try:
        sns = aws_client(server, "sns")
        topic = sns.create_topic(Name="durable")["TopicArn"]
        function, seen = recorder(server, "sns-durable")
        server.lambda_client().put_function_concurrency(
            FunctionName="sns-durable", ReservedConcurrentExecutions=0
        )
        sns.subscribe(TopicArn=topic, Protocol="lambda", Endpoint=function)
        message_id = sns.publish(TopicArn=topic, Message="kept")["MessageId"]
    finally:
        server.stop()
    server = LaminaProcess(data, {"LAMINA_ASYNC_THROTTLE_MAX_S": "0.2"}).start()
    try:
        server.lambda_client().delete_function_concurrency(FunctionName="sns-durable")
        seen = Queue(server, "sns-durable-seen")
        (message,) = seen.receive(1)
        record = json.loads(message["Body"])["record"]
        assert record["Sns"]["MessageId"] == message_id
        assert record["Sns"]["Message"] == "kept"
    finally:
        server.stop()


def test_the_aws_cli_creates_subscribes_and_publishes(
    server: LaminaProcess, tmp_path: Path
) -> None:
    topic = cli_json(aws_cli(server, tmp_path, "sns", "create-topic", "--name", "cli-topic"))[
        "TopicArn"
    ]
    queue = Queue(server, "cli-queue")
    sub = cli_json(
        aws_cli(
            server,
            tmp_path,
            "sns",
            "subscribe",
            "--topic-arn",
            topic,
            "--protocol",
            "sqs",
            "--notification-endpoint",
            queue.arn,
            "--attributes",
            json.dumps({"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"k": ["v"]})}),
        )
    )["SubscriptionArn"]
    listed = cli_json(aws_cli(server, tmp_path, "sns", "list-subscriptions"))["Subscriptions"]
    assert sub in {s["SubscriptionArn"] for s in listed}
    for value in ("no", "v"):
        published = aws_cli(
            server,
            tmp_path,
            "sns",
            "publish",
            "--topic-arn",
            topic,
            "--message",
            f"value {value}",
            "--message-attributes",
            json.dumps({"k": {"DataType": "String", "StringValue": value}}),
        )
        assert "MessageId" in cli_json(published)
    assert [m["Body"] for m in queue.receive(1)] == ["value v"]
    missing = aws_cli(
        server, tmp_path, "sns", "get-topic-attributes", "--topic-arn", topic + "-gone"
    )
    assert missing.returncode != 0 and "NotFound" in missing.stderr


def test_a_bucket_notifies_a_topic(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    s3 = aws_client(server, "s3")
    topic = sns.create_topic(Name="uploads")["TopicArn"]
    queue = Queue(server, "uploads-queue")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    s3.create_bucket(Bucket="sns-uploads")
    s3.put_bucket_notification_configuration(
        Bucket="sns-uploads",
        NotificationConfiguration={
            "TopicConfigurations": [
                {
                    "Id": "to-topic",
                    "TopicArn": topic,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": ".csv"}]}},
                }
            ]
        },
    )
    configured = s3.get_bucket_notification_configuration(Bucket="sns-uploads")
    assert configured["TopicConfigurations"][0]["TopicArn"] == topic
    s3.put_object(Bucket="sns-uploads", Key="skip.txt", Body=b"no")
    s3.put_object(Bucket="sns-uploads", Key="data.csv", Body=b"a,b")
    (message,) = queue.receive(1)
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == "Amazon S3 Notification"
    (record,) = json.loads(envelope["Message"])["Records"]
    assert record["s3"]["object"]["key"] == "data.csv"
    assert record["s3"]["configurationId"] == "to-topic"
    assert queue.empty()


PUBLISHER = """
import boto3

def handler(event, context):
    try:
        out = boto3.client("sns").publish(TopicArn=event["topic"], Message="from a function")
    except boto3.client("sns").exceptions.ClientError as exc:
        error = exc.response["Error"]
        return {"code": error["Code"], "status": exc.response["ResponseMetadata"]["HTTPStatusCode"]}
    return {"id": out["MessageId"]}
"""


def test_a_functions_role_decides_whether_it_may_publish(server: LaminaProcess) -> None:
    sns, iam = aws_client(server, "sns"), aws_client(server, "iam")
    topic = sns.create_topic(Name="guarded")["TopicArn"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    role = iam.create_role(RoleName="publisher", AssumeRolePolicyDocument=json.dumps(trust))
    server.lambda_client().create_function(
        FunctionName="sns-publisher",
        Runtime="python3.11",
        Handler="app.handler",
        Code={"ZipFile": python_zip(PUBLISHER)},
        Role=role["Role"]["Arn"],
        Timeout=60,
    )

    def publish() -> dict[str, Any]:
        out = server.lambda_client().invoke(
            FunctionName="sns-publisher", Payload=json.dumps({"topic": topic}).encode()
        )
        return dict(json.loads(out["Payload"].read()))

    assert publish() == {"code": "AuthorizationError", "status": 403}
    allow = {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}
    iam.put_role_policy(
        RoleName="publisher",
        PolicyName="publish",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow]}),
    )
    assert "id" in publish()


def test_an_undeliverable_message_goes_to_the_subscriptions_redrive_queue(
    server: LaminaProcess,
) -> None:
    sns = aws_client(server, "sns")
    topic = sns.create_topic(Name="redriven")["TopicArn"]
    doomed = Queue(server, "redriven-doomed")
    dlq = Queue(server, "redriven-dlq")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=doomed.arn,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq.arn})},
    )
    doomed.sqs.delete_queue(QueueUrl=doomed.url)
    message_id = sns.publish(TopicArn=topic, Message="nowhere to go")["MessageId"]
    (message,) = dlq.receive(1)
    envelope = json.loads(message["Body"])
    assert (envelope["MessageId"], envelope["Message"]) == (message_id, "nowhere to go")


def test_a_topic_is_an_on_success_destination(server: LaminaProcess) -> None:
    sns = aws_client(server, "sns")
    results = sns.create_topic(Name="results")["TopicArn"]
    queue = Queue(server, "results-queue")
    sns.subscribe(
        TopicArn=results,
        Protocol="sqs",
        Endpoint=queue.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    server.create("sns-succeeds", python_zip("def handler(event, context):\n    return event\n"))
    lam = server.lambda_client()
    lam.put_function_event_invoke_config(
        FunctionName="sns-succeeds", DestinationConfig={"OnSuccess": {"Destination": results}}
    )
    lam.invoke(FunctionName="sns-succeeds", InvocationType="Event", Payload=b'{"n": 7}')
    (message,) = queue.receive(1)
    record = json.loads(message["Body"])  # raw: Lambda's destination record itself
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"] == {"n": 7} and record["responsePayload"] == {"n": 7}


def test_an_alarm_notifies_a_topic_in_cloudwatchs_sns_shape(server: LaminaProcess) -> None:
    sns, cw = aws_client(server, "sns"), aws_client(server, "cloudwatch")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    queue = Queue(server, "alarms-queue")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    dims = [{"Name": "Queue", "Value": "jobs"}]
    cw.put_metric_alarm(
        AlarmName="backlog-on-topic", Namespace="Lamina/Jobs", MetricName="Backlog",
        Dimensions=dims, Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=100,
        ComparisonOperator="GreaterThanThreshold", AlarmActions=[topic],
    )  # fmt: skip
    cw.put_metric_data(
        Namespace="Lamina/Jobs",
        MetricData=[{"MetricName": "Backlog", "Dimensions": dims, "Values": [150]}],
    )
    (message,) = queue.receive(1)
    envelope = json.loads(message["Body"])
    assert envelope["Subject"] == 'ALARM: "backlog-on-topic" in US East (N. Virginia)'
    alarm = json.loads(envelope["Message"])
    assert (alarm["AlarmName"], alarm["NewStateValue"]) == ("backlog-on-topic", "ALARM")
    assert alarm["AlarmActions"] == [topic]
    assert alarm["Trigger"]["MetricName"] == "Backlog"
    assert alarm["Trigger"]["Statistic"] == "MAXIMUM"
    assert alarm["Trigger"]["Dimensions"] == [{"value": "jobs", "name": "Queue"}]
    cw.delete_alarms(AlarmNames=["backlog-on-topic"])


def test_a_rule_publishes_matching_events_to_a_topic(server: LaminaProcess) -> None:
    sns, events = aws_client(server, "sns"), aws_client(server, "events")
    topic = sns.create_topic(Name="orders-events")["TopicArn"]
    queue = Queue(server, "orders-events-queue")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue.arn)
    events.put_rule(Name="orders-to-topic", EventPattern=json.dumps({"source": ["shop"]}))
    events.put_targets(Rule="orders-to-topic", Targets=[{"Id": "topic", "Arn": topic}])
    entry = {"Source": "shop", "DetailType": "OrderPlaced", "Detail": json.dumps({"n": 1})}
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    (message,) = queue.receive(1)
    event = json.loads(json.loads(message["Body"])["Message"])
    assert (event["source"], event["detail"]) == ("shop", {"n": 1})
    events.remove_targets(Rule="orders-to-topic", Ids=["topic"])
    events.delete_rule(Name="orders-to-topic")


def test_a_state_machine_publishes_to_a_topic(server: LaminaProcess) -> None:
    sns, sfn = aws_client(server, "sns"), aws_client(server, "stepfunctions")
    topic = sns.create_topic(Name="workflow-events")["TopicArn"]
    queue = Queue(server, "workflow-events-queue")
    sns.subscribe(
        TopicArn=topic,
        Protocol="sqs",
        Endpoint=queue.arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    missing = topic + "-gone"
    definition = {
        "StartAt": "Optimized",
        "States": {
            "Optimized": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.order", "Subject": "order"},
                "ResultPath": "$.published",
                "Next": "Missing",
            },
            "Missing": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sns:publish",
                "Parameters": {"TopicArn": missing, "Message": "nobody"},
                "Catch": [
                    {
                        "ErrorEquals": ["Sns.NotFoundException"],
                        "ResultPath": "$.caught",
                        "Next": "Done",
                    }
                ],
                "End": True,
            },
            "Done": {"Type": "Succeed"},
        },
    }
    arn = sfn.create_state_machine(
        name="publishes",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::000000000000:role/sfn",
    )["stateMachineArn"]
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"order": {"n": 9}}))

    def finished() -> dict[str, Any] | None:
        done = sfn.describe_execution(executionArn=started["executionArn"])
        return None if done["status"] == "RUNNING" else dict(done)

    done = wait_for(finished)
    assert done is not None and done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["published"]["MessageId"]
    assert output["caught"]["Error"] == "Sns.NotFoundException"
    assert [json.loads(m["Body"]) for m in queue.receive(1)] == [{"n": 9}]
