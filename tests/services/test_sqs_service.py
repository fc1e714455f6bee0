"""The embedded SQS service, driven by boto3 (JSON protocol) and a query-protocol client."""

from __future__ import annotations

import hashlib
import http.client
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from botocore.exceptions import ClientError

from lamina.services.sqs.md5 import md5_of_attributes
from tests.services.sqs_fixtures import SqsServer, start_sqs


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path)


def test_send_receive_delete_round_trip_with_attributes(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="orders")["QueueUrl"]
    assert url == f"{sqs.url}/000000000000/orders"
    assert c.get_queue_url(QueueName="orders")["QueueUrl"] == url
    attrs: dict[str, dict[str, Any]] = {
        "kind": {"DataType": "String", "StringValue": "new"},
        "count": {"DataType": "Number", "StringValue": "3"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
    }
    sent = c.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attrs)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    assert sent["MD5OfMessageAttributes"] == md5_of_attributes(attrs)
    got = c.receive_message(
        QueueUrl=url,
        MessageSystemAttributeNames=["All"],
        MessageAttributeNames=["All"],
        MaxNumberOfMessages=10,
    )["Messages"]
    assert len(got) == 1
    m = got[0]
    assert m["Body"] == "héllo" and m["MessageId"] == sent["MessageId"]
    assert m["MD5OfBody"] == sent["MD5OfMessageBody"]
    assert m["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\x01\xff"
    assert m["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    a = m["Attributes"]
    assert a["ApproximateReceiveCount"] == "1"
    assert a["SenderId"] == "AKIDLAMINA"
    assert int(a["SentTimestamp"]) <= int(a["ApproximateFirstReceiveTimestamp"])
    c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    assert "Messages" not in c.receive_message(QueueUrl=url)


def test_the_md5_of_attributes_matches_the_published_sqs_example() -> None:
    # a value computed by SQS (and checked by the AWS SDKs) for one String attribute
    attrs = {"attr1": {"DataType": "String", "StringValue": "value1"}}
    data = (
        b"\x00\x00\x00\x05attr1" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x06value1"
    )
    assert md5_of_attributes(attrs) == hashlib.md5(data).hexdigest()


def test_visibility_timeout_hides_then_returns_a_message(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="vis", Attributes={"VisibilityTimeout": "2"})["QueueUrl"]
    c.send_message(QueueUrl=url, MessageBody="x")
    received_at = time.monotonic()
    first = c.receive_message(QueueUrl=url, AttributeNames=["ApproximateReceiveCount"])
    assert first["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "1"
    hidden = c.receive_message(QueueUrl=url)
    # Hidden while its timeout runs; a machine so loaded that asking again took longer
    # than the timeout may rightly see it back (sized for a busy 2-core host).
    assert "Messages" not in hidden or time.monotonic() - received_at >= 2.0
    again = c.receive_message(QueueUrl=url, WaitTimeSeconds=10, AttributeNames=["All"])
    receives = 2 if "Messages" not in hidden else 3
    assert again["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == str(receives)
    # the first receipt handle is stale: ChangeMessageVisibility refuses it
    with pytest.raises(ClientError) as err:
        c.change_message_visibility(
            QueueUrl=url, ReceiptHandle=first["Messages"][0]["ReceiptHandle"], VisibilityTimeout=5
        )
    assert err.value.response["Error"]["Code"] == "AWS.SimpleQueueService.MessageNotInflight"
    c.change_message_visibility(
        QueueUrl=url, ReceiptHandle=again["Messages"][0]["ReceiptHandle"], VisibilityTimeout=0
    )
    assert len(c.receive_message(QueueUrl=url)["Messages"]) == 1


def test_long_polling_returns_when_a_message_arrives(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="poll")["QueueUrl"]

    def later() -> None:
        time.sleep(0.5)
        sqs.client().send_message(QueueUrl=url, MessageBody="late")

    t = threading.Thread(target=later)
    started = time.monotonic()
    t.start()
    got = c.receive_message(QueueUrl=url, WaitTimeSeconds=10)
    waited = time.monotonic() - started
    t.join()
    assert got["Messages"][0]["Body"] == "late"
    assert waited < 10  # it did not wait out the whole poll
    empty_started = time.monotonic()
    assert "Messages" not in c.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert time.monotonic() - empty_started >= 0.9  # and an empty poll does wait


def test_redrive_moves_a_message_to_the_dlq_after_max_receive_count(sqs: SqsServer) -> None:
    c = sqs.client()
    dlq = c.create_queue(QueueName="dead")["QueueUrl"]
    dlq_arn = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    assert dlq_arn == "arn:aws:sqs:us-east-1:000000000000:dead"
    src = c.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": f'{{"deadLetterTargetArn":"{dlq_arn}","maxReceiveCount":"2"}}',
        },
    )["QueueUrl"]
    c.send_message(QueueUrl=src, MessageBody="poison")
    assert len(c.receive_message(QueueUrl=src)["Messages"]) == 1
    assert len(c.receive_message(QueueUrl=src)["Messages"]) == 1
    assert "Messages" not in c.receive_message(QueueUrl=src)  # the third receive moves it
    moved = c.receive_message(QueueUrl=dlq, AttributeNames=["All"])["Messages"]
    assert moved[0]["Body"] == "poison"
    assert c.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [src]


def test_batches_report_per_entry_results(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="batch")["QueueUrl"]
    out = c.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "a", "MessageBody": "one"},
            {"Id": "b", "MessageBody": "two", "DelaySeconds": 0},
            {"Id": "c", "MessageBody": "bad \x01 char"},
        ],
    )
    assert sorted(e["Id"] for e in out["Successful"]) == ["a", "b"]
    assert out["Failed"][0]["Id"] == "c" and out["Failed"][0]["SenderFault"] is True
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    deleted = c.delete_message_batch(
        QueueUrl=url,
        Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)]
        + [{"Id": "junk", "ReceiptHandle": "not-a-handle"}],
    )
    assert len(deleted["Successful"]) == 2 and deleted["Failed"][0]["Id"] == "junk"
    with pytest.raises(c.exceptions.TooManyEntriesInBatchRequest):
        c.send_message_batch(
            QueueUrl=url, Entries=[{"Id": f"m{i}", "MessageBody": "x"} for i in range(11)]
        )
    with pytest.raises(c.exceptions.BatchEntryIdsNotDistinct):
        c.send_message_batch(
            QueueUrl=url,
            Entries=[{"Id": "same", "MessageBody": "x"}, {"Id": "same", "MessageBody": "y"}],
        )


def test_queue_management_and_errors(sqs: SqsServer) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="q1", Attributes={"DelaySeconds": "5"})["QueueUrl"]
    # same name, same attributes: the same queue; different attributes: an error
    assert c.create_queue(QueueName="q1", Attributes={"DelaySeconds": "5"})["QueueUrl"] == url
    with pytest.raises(c.exceptions.QueueNameExists):
        c.create_queue(QueueName="q1", Attributes={"DelaySeconds": "6"})
    c.create_queue(QueueName="q2")
    assert [u.rsplit("/", 1)[1] for u in c.list_queues(QueueNamePrefix="q")["QueueUrls"]] == [
        "q1",
        "q2",
    ]
    c.send_message(QueueUrl=url, MessageBody="delayed")
    attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "1"
    assert attrs["DelaySeconds"] == "5" and attrs["VisibilityTimeout"] == "30"
    assert attrs["MessageRetentionPeriod"] == "345600"
    c.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})
    assert (
        c.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
        == "60"
    )
    c.purge_queue(QueueUrl=url)
    attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "0"
    with pytest.raises(ClientError) as err:
        c.create_queue(QueueName="bad", Attributes={"VisibilityTimeout": "43201"})
    assert err.value.response["Error"]["Code"] == "InvalidAttributeValue"
    with pytest.raises(ClientError) as err:
        c.receive_message(QueueUrl=url, MaxNumberOfMessages=11)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"
    c.delete_queue(QueueUrl=url)
    with pytest.raises(c.exceptions.QueueDoesNotExist):
        c.send_message(QueueUrl=url, MessageBody="x")
    with pytest.raises(c.exceptions.QueueDoesNotExist):
        c.get_queue_url(QueueName="q1")


def test_messages_survive_a_restart_of_the_service(tmp_path: Path) -> None:
    gen = start_sqs(tmp_path)
    first = next(gen)
    c = first.client()
    url = c.create_queue(QueueName="durable")["QueueUrl"]
    c.send_message(QueueUrl=url, MessageBody="kept")
    with pytest.raises(StopIteration):
        next(gen)
    gen2 = start_sqs(tmp_path)
    second = next(gen2)
    c2 = second.client()
    url2 = c2.get_queue_url(QueueName="durable")["QueueUrl"]
    assert c2.receive_message(QueueUrl=url2)["Messages"][0]["Body"] == "kept"
    with pytest.raises(StopIteration):
        next(gen2)


def query(url: str, params: dict[str, str], path: str = "/") -> tuple[int, ET.Element]:
    """POST a form as query-protocol SDKs do; parse the XML answer."""
    host = url.removeprefix("http://")
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request(
        "POST",
        path,
        urlencode(params),
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp.status, ET.fromstring(data)


NS = {"q": "http://queue.amazonaws.com/doc/2012-11-05/"}


def test_the_query_protocol_as_older_clients_speak_it(sqs: SqsServer) -> None:
    status, xml = query(
        sqs.url,
        {
            "Action": "CreateQueue",
            "QueueName": "legacy",
            "Attribute.1.Name": "VisibilityTimeout",
            "Attribute.1.Value": "20",
            "Version": "2012-11-05",
        },
    )
    assert status == 200
    url = xml.findtext("q:CreateQueueResult/q:QueueUrl", namespaces=NS)
    assert url == f"{sqs.url}/000000000000/legacy"
    attrs = {"who": {"DataType": "String", "StringValue": "query"}}
    status, xml = query(
        sqs.url,
        {
            "Action": "SendMessage",
            "MessageBody": "<xml & stuff>",
            "MessageAttribute.1.Name": "who",
            "MessageAttribute.1.Value.DataType": "String",
            "MessageAttribute.1.Value.StringValue": "query",
        },
        path="/000000000000/legacy",  # addressed by path instead of a QueueUrl parameter
    )
    assert status == 200
    assert xml.findtext("q:SendMessageResult/q:MD5OfMessageAttributes", namespaces=NS) == (
        md5_of_attributes(attrs)
    )
    query(
        sqs.url,
        {
            "Action": "SendMessageBatch",
            "QueueUrl": url,
            "SendMessageBatchRequestEntry.1.Id": "one",
            "SendMessageBatchRequestEntry.1.MessageBody": "b1",
            "SendMessageBatchRequestEntry.2.Id": "two",
            "SendMessageBatchRequestEntry.2.MessageBody": "b2",
        },
    )
    status, xml = query(
        sqs.url,
        {
            "Action": "ReceiveMessage",
            "QueueUrl": url,
            "MaxNumberOfMessages": "10",
            "AttributeName.1": "All",
            "MessageAttributeName.1": "All",
        },
    )
    messages = xml.findall("q:ReceiveMessageResult/q:Message", NS)
    assert [m.findtext("q:Body", namespaces=NS) for m in messages] == ["<xml & stuff>", "b1", "b2"]
    first = messages[0]
    assert first.findtext("q:MessageAttribute/q:Value/q:StringValue", namespaces=NS) == "query"
    counts = {
        a.findtext("q:Name", namespaces=NS): a.findtext("q:Value", namespaces=NS)
        for a in first.findall("q:Attribute", NS)
    }
    assert counts["ApproximateReceiveCount"] == "1" and counts["SenderId"]
    params = {"Action": "DeleteMessageBatch", "QueueUrl": url}
    for i, m in enumerate(messages, 1):
        params[f"DeleteMessageBatchRequestEntry.{i}.Id"] = f"d{i}"
        params[f"DeleteMessageBatchRequestEntry.{i}.ReceiptHandle"] = str(
            m.findtext("q:ReceiptHandle", namespaces=NS)
        )
    status, xml = query(sqs.url, params)
    ok = xml.findall("q:DeleteMessageBatchResult/q:DeleteMessageBatchResultEntry", NS)
    assert status == 200 and len(ok) == 3
    status, xml = query(sqs.url, {"Action": "GetQueueUrl", "QueueName": "missing"})
    assert status == 400
    assert xml.findtext("q:Error/q:Code", namespaces=NS) == (
        "AWS.SimpleQueueService.NonExistentQueue"
    )
    assert xml.findtext("q:Error/q:Type", namespaces=NS) == "Sender"


def test_a_missing_queue_is_reported_before_what_else_is_wrong(sqs: SqsServer) -> None:
    c = sqs.client()
    url = f"{sqs.url}/000000000000/absent"
    with pytest.raises(ClientError) as exc:
        c.send_message(QueueUrl=url, MessageBody="x", DelaySeconds=901)
    assert exc.value.response["Error"]["Code"] in (
        "QueueDoesNotExist",
        "AWS.SimpleQueueService.NonExistentQueue",
    )


def test_a_zero_visibility_timeout_does_not_repeat_a_message_within_one_receive(
    sqs: SqsServer,
) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="zero")["QueueUrl"]
    for body in ("a", "b"):
        c.send_message(QueueUrl=url, MessageBody=body)
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert sorted(m["Body"] for m in got["Messages"]) == ["a", "b"]
    again = c.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in again} == {"2"}
