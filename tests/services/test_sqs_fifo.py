"""FIFO queues through boto3 against the embedded SQS: refusals, deduplication, order per
group, group locking, redrive, a restart, and the query protocol."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lamina.services.sqs.fifo import Candidate, pick
from tests.events.live import wait_until
from tests.services.sqs_fixtures import SqsServer, start_sqs
from tests.services.test_sqs_service import NS, query

ACCOUNT = "000000000000"


class Clock:
    """A clock the test moves: the deduplication window without waiting five minutes."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sqs(tmp_path: Path, clock: Clock) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path, clock=clock)


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def fifo_queue(c: Any, name: str = "orders.fifo", **attrs: str) -> str:
    return str(
        c.create_queue(QueueName=name, Attributes={"FifoQueue": "true", **attrs})["QueueUrl"]
    )


def test_creating_a_fifo_queue_and_the_refusals(sqs: SqsServer) -> None:
    c = sqs.client()
    url = fifo_queue(c)
    attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert attrs["DeduplicationScope"] == "queue"
    assert attrs["FifoThroughputLimit"] == "perQueue"
    assert attrs["QueueArn"].endswith(":orders.fifo")
    # the same call again is fine; different FIFO settings are not
    assert fifo_queue(c) == url
    with pytest.raises(ClientError) as exc:
        fifo_queue(c, ContentBasedDeduplication="true")
    assert code(exc) == "QueueAlreadyExists"  # boto3 reports the query-compatible code

    refusals: list[tuple[str, dict[str, str], str]] = [
        ("orders", {"FifoQueue": "true"}, "InvalidParameterValue"),  # no .fifo suffix
        ("orders.fifo", {}, "InvalidParameterValue"),  # .fifo names a standard queue
        ("x" * 76 + ".fifo", {"FifoQueue": "true"}, "InvalidParameterValue"),  # 81 long
        ("plain", {"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),
        ("plain", {"DeduplicationScope": "queue"}, "InvalidAttributeName"),
        ("a.fifo", {"FifoQueue": "true", "DeduplicationScope": "group"}, "InvalidAttributeValue"),
        ("a.fifo", {"FifoQueue": "yes"}, "InvalidAttributeValue"),
        (
            "a.fifo",
            {"FifoQueue": "true", "FifoThroughputLimit": "perMessageGroupId"},
            "InvalidAttributeValue",  # high throughput needs deduplication per group
        ),
    ]
    for name, attributes, expected in refusals:
        with pytest.raises(ClientError) as exc:
            c.create_queue(QueueName=name, Attributes=attributes)
        assert code(exc) == expected, (name, attributes)
    assert c.list_queues().get("QueueUrls") == [url]

    high = fifo_queue(
        c,
        "high.fifo",
        DeduplicationScope="messageGroup",
        FifoThroughputLimit="perMessageGroupId",
    )
    got = c.get_queue_attributes(QueueUrl=high, AttributeNames=["FifoThroughputLimit"])
    assert got["Attributes"] == {"FifoThroughputLimit": "perMessageGroupId"}

    # a queue's type never changes; FIFO settings belong to FIFO queues
    with pytest.raises(ClientError) as exc:
        c.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})
    assert code(exc) == "InvalidAttributeValue"
    plain = c.create_queue(QueueName="plain")["QueueUrl"]
    # asking a standard queue whether it is FIFO is no error: the answer leaves it out
    assert "Attributes" not in c.get_queue_attributes(QueueUrl=plain, AttributeNames=["FifoQueue"])
    with pytest.raises(ClientError) as exc:
        c.set_queue_attributes(QueueUrl=plain, Attributes={"ContentBasedDeduplication": "true"})
    assert code(exc) == "InvalidAttributeName"
    c.set_queue_attributes(QueueUrl=url, Attributes={"ContentBasedDeduplication": "true"})
    got = c.get_queue_attributes(QueueUrl=url, AttributeNames=["ContentBasedDeduplication"])
    assert got["Attributes"] == {"ContentBasedDeduplication": "true"}


def test_sending_to_a_fifo_queue_refuses_what_sqs_refuses(sqs: SqsServer) -> None:
    c = sqs.client()
    url = fifo_queue(c)
    plain = c.create_queue(QueueName="plain")["QueueUrl"]
    cases: list[tuple[str, dict[str, Any], str]] = [
        (url, {"MessageDeduplicationId": "d"}, "MissingParameter"),  # no group
        (url, {"MessageGroupId": "g"}, "InvalidParameterValue"),  # no deduplication
        (
            url,
            {"MessageGroupId": "g", "MessageDeduplicationId": "d", "DelaySeconds": 5},
            "InvalidParameterValue",  # a FIFO queue's delay is the queue's
        ),
        (url, {"MessageGroupId": "g é", "MessageDeduplicationId": "d"}, "InvalidParameterValue"),
        (
            url,
            {"MessageGroupId": "g", "MessageDeduplicationId": "d" * 129},
            "InvalidParameterValue",
        ),
        (plain, {"MessageDeduplicationId": "d"}, "InvalidParameterValue"),
    ]
    for queue, extra, expected in cases:
        with pytest.raises(ClientError) as exc:
            c.send_message(QueueUrl=queue, MessageBody="x", **extra)
        assert code(exc) == expected, extra
    assert c.receive_message(QueueUrl=url).get("Messages") is None
    c.send_message(
        QueueUrl=url,
        MessageBody="x",
        MessageGroupId="g",
        MessageDeduplicationId="d",
        DelaySeconds=0,
    )
    # a standard queue takes a group id (fair queues) and hands it back
    c.send_message(QueueUrl=plain, MessageBody="fair", MessageGroupId="tenant-1")
    got = c.receive_message(QueueUrl=plain, MessageSystemAttributeNames=["All"])["Messages"][0]
    assert got["Attributes"]["MessageGroupId"] == "tenant-1"
    assert "SequenceNumber" not in got["Attributes"]

    # in a batch each bad entry fails alone, with its code
    out = c.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": "ok", "MessageBody": "a", "MessageGroupId": "g", "MessageDeduplicationId": "1"},
            {"Id": "nogroup", "MessageBody": "b", "MessageDeduplicationId": "2"},
            {"Id": "nodedup", "MessageBody": "c", "MessageGroupId": "g"},
            {
                "Id": "delay",
                "MessageBody": "d",
                "MessageGroupId": "g",
                "MessageDeduplicationId": "4",
                "DelaySeconds": 1,
            },
        ],
    )
    assert [s["Id"] for s in out["Successful"]] == ["ok"]
    assert out["Successful"][0]["SequenceNumber"].isdigit()
    assert {f["Id"]: f["Code"] for f in out["Failed"]} == {
        "nogroup": "MissingParameter",
        "nodedup": "InvalidParameterValue",
        "delay": "InvalidParameterValue",
    }
    assert all(f["SenderFault"] for f in out["Failed"])


def test_deduplication_by_id_by_content_and_by_group_within_five_minutes(
    sqs: SqsServer, clock: Clock
) -> None:
    c = sqs.client()
    url = fifo_queue(c, ContentBasedDeduplication="true")
    first = c.send_message(QueueUrl=url, MessageBody="pay 10", MessageGroupId="acct-1")
    again = c.send_message(QueueUrl=url, MessageBody="pay 10", MessageGroupId="acct-2")
    # a duplicate is accepted, answered as the first, and not stored
    assert again["MessageId"] == first["MessageId"]
    assert again["SequenceNumber"] == first["SequenceNumber"]
    # an explicit id overrides the content's
    other = c.send_message(
        QueueUrl=url, MessageBody="pay 10", MessageGroupId="acct-1", MessageDeduplicationId="x"
    )
    assert other["MessageId"] != first["MessageId"]
    assert int(other["SequenceNumber"]) > int(first["SequenceNumber"])
    got = c.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["MessageId"] for m in got] == [first["MessageId"], other["MessageId"]]
    assert got[0]["Attributes"]["MessageDeduplicationId"] == hashlib.sha256(b"pay 10").hexdigest()
    assert got[0]["Attributes"]["MessageGroupId"] == "acct-1"
    assert got[0]["Attributes"]["SequenceNumber"] == first["SequenceNumber"]
    assert len(first["SequenceNumber"]) == 20
    for m in got:
        c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    # deleting does not end the window; five minutes do
    dup = c.send_message(QueueUrl=url, MessageBody="pay 10", MessageGroupId="acct-1")
    assert dup["MessageId"] == first["MessageId"]
    assert c.receive_message(QueueUrl=url).get("Messages") is None
    clock.now += 301
    fresh = c.send_message(QueueUrl=url, MessageBody="pay 10", MessageGroupId="acct-1")
    assert fresh["MessageId"] != first["MessageId"]
    assert c.receive_message(QueueUrl=url)["Messages"][0]["MessageId"] == fresh["MessageId"]

    # DeduplicationScope messageGroup: the same id in two groups is two messages
    per_group = fifo_queue(c, "per-group.fifo", DeduplicationScope="messageGroup")
    ids = [
        c.send_message(
            QueueUrl=per_group, MessageBody=b, MessageGroupId=g, MessageDeduplicationId="same"
        )["MessageId"]
        for g, b in (("a", "1"), ("b", "2"), ("a", "3"))
    ]
    assert ids[0] != ids[1] and ids[2] == ids[0]
    bodies = [
        m["Body"] for m in c.receive_message(QueueUrl=per_group, MaxNumberOfMessages=10)["Messages"]
    ]
    assert bodies == ["1", "2"]

    # within one batch too
    out = c.send_message_batch(
        QueueUrl=url,
        Entries=[
            {"Id": str(i), "MessageBody": "same body", "MessageGroupId": "g"} for i in range(3)
        ],
    )
    assert len({s["MessageId"] for s in out["Successful"]}) == 1


def drain(c: Any, url: str) -> list[dict[str, Any]]:
    """Receive and delete everything, one receive (up to ten) at a time, in receive order."""
    seen: list[dict[str, Any]] = []
    while True:
        got = c.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not got:
            return seen
        seen.extend(got)
        c.delete_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)
            ],
        )


def test_each_group_keeps_its_order_when_groups_are_sent_interleaved(sqs: SqsServer) -> None:
    c = sqs.client()
    url = fifo_queue(c)
    sent: dict[str, list[str]] = {}
    for i in range(30):
        group = "abc"[i * 7 % 3] if i % 4 else "abc"[i % 3]
        body = f"{group}-{len(sent.get(group, []))}"
        sent.setdefault(group, []).append(body)
        c.send_message(
            QueueUrl=url, MessageBody=body, MessageGroupId=group, MessageDeduplicationId=str(i)
        )
    received = drain(c, url)
    by_group: dict[str, list[str]] = {}
    for m in received:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == sent
    sequences = [int(m["Attributes"]["SequenceNumber"]) for m in received]
    for group in sent:
        mine = [
            s for s, m in zip(sequences, received, strict=True)
            if m["Attributes"]["MessageGroupId"] == group
        ]  # fmt: skip
        assert mine == sorted(mine)
    # one receive fills itself from one group first, the oldest group first
    for i, group in enumerate("xxyyyx"):
        c.send_message(
            QueueUrl=url,
            MessageBody=f"{group}{i}",
            MessageGroupId=group,
            MessageDeduplicationId=f"o{i}",
        )
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=4)["Messages"]
    assert [m["Body"] for m in got] == ["x0", "x1", "x5", "y2"]


def test_a_group_in_flight_is_locked_until_deleted_or_visible_again(sqs: SqsServer) -> None:
    c = sqs.client()
    url = fifo_queue(c, VisibilityTimeout="60")
    for i, group in enumerate("aab"):
        c.send_message(
            QueueUrl=url,
            MessageBody=f"{group}{i}",
            MessageGroupId=group,
            MessageDeduplicationId=str(i),
        )
    [a0] = c.receive_message(QueueUrl=url)["Messages"]
    assert a0["Body"] == "a0"
    # a1 waits behind a0, in flight: the next receives only see group b
    [b2] = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert b2["Body"] == "b2"
    assert c.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages") is None
    attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "1"  # a1: visible, but its group is locked
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "2"
    # made visible again, a0 comes back before a1
    c.change_message_visibility(
        QueueUrl=url, ReceiptHandle=a0["ReceiptHandle"], VisibilityTimeout=0
    )
    again = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in again] == ["a0", "a1"]
    assert c.receive_message(QueueUrl=url).get("Messages") is None
    c.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    # a1 is still in flight from the same receive: the group stays locked
    assert c.receive_message(QueueUrl=url).get("Messages") is None
    c.delete_message(QueueUrl=url, ReceiptHandle=again[1]["ReceiptHandle"])
    c.delete_message(QueueUrl=url, ReceiptHandle=b2["ReceiptHandle"])
    c.send_message(QueueUrl=url, MessageBody="a3", MessageGroupId="a", MessageDeduplicationId="3")
    assert c.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "a3"


def test_the_visibility_timeout_unlocks_a_group(sqs: SqsServer, clock: Clock) -> None:
    c = sqs.client()
    url = fifo_queue(c, VisibilityTimeout="30")
    for i in range(2):
        c.send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    assert c.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "m0"
    assert c.receive_message(QueueUrl=url).get("Messages") is None
    clock.now += 31
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])
    assert [m["Body"] for m in got["Messages"]] == ["m0", "m1"]
    assert got["Messages"][0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_redrive_needs_a_fifo_dead_letter_queue_and_keeps_the_group_moving(
    sqs: SqsServer, clock: Clock
) -> None:
    c = sqs.client()
    fifo_queue(c, "dead.fifo")
    c.create_queue(QueueName="dead-standard")

    def policy(target: str) -> str:
        return json.dumps(
            {
                "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:{target}",
                "maxReceiveCount": 2,
            }
        )

    with pytest.raises(ClientError) as exc:
        fifo_queue(c, RedrivePolicy=policy("dead-standard"))
    assert code(exc) == "InvalidParameterValue"
    assert exc.value.response["Error"]["Message"] == (
        f"Value {policy('dead-standard')} for parameter RedrivePolicy is invalid. "
        "Reason: Dead-letter queue must be same type of queue as the source.."
    )
    with pytest.raises(ClientError) as exc:
        c.create_queue(QueueName="std", Attributes={"RedrivePolicy": policy("dead.fifo")})
    assert code(exc) == "InvalidParameterValue"
    url = fifo_queue(c, VisibilityTimeout="10", RedrivePolicy=policy("dead.fifo"))
    with pytest.raises(ClientError) as exc:
        c.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy("dead-standard")})
    assert code(exc) == "InvalidParameterValue"

    for i in range(2):
        c.send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    for _ in range(2):  # m0 fails twice, holding m1 back each time
        got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
        assert [m["Body"] for m in got] == ["m0"]
        clock.now += 11
    # the third receive moves m0 to the dead-letter queue and hands out m1
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in got] == ["m1"]
    dlq = c.get_queue_url(QueueName="dead.fifo")["QueueUrl"]
    [dead] = c.receive_message(QueueUrl=dlq, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["Body"] == "m0"
    assert dead["Attributes"]["MessageGroupId"] == "g"
    assert dead["Attributes"]["MessageDeduplicationId"] == "0"


def test_fifo_messages_and_deduplication_survive_a_restart(tmp_path: Path) -> None:
    gen = start_sqs(tmp_path)
    c = next(gen).client()
    url = fifo_queue(c)
    first = c.send_message(
        QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="1"
    )
    c.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="2")
    with pytest.raises(StopIteration):
        next(gen)
    gen2 = start_sqs(tmp_path)
    c2 = next(gen2).client()
    again = c2.send_message(
        QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="1"
    )
    assert again["MessageId"] == first["MessageId"]
    assert [m["Body"] for m in drain(c2, url)] == ["one", "two"]
    with pytest.raises(StopIteration):
        next(gen2)


def test_the_query_protocol_carries_the_fifo_members(sqs: SqsServer) -> None:
    c = sqs.client()
    url = fifo_queue(c)
    status, xml = query(
        sqs.url,
        {
            "Action": "SendMessage",
            "QueueUrl": url,
            "MessageBody": "hello",
            "MessageGroupId": "g",
            "MessageDeduplicationId": "d",
        },
    )
    assert status == 200
    sequence = xml.findtext("q:SendMessageResult/q:SequenceNumber", namespaces=NS)
    assert sequence is not None and sequence.isdigit()
    status, xml = query(sqs.url, {"Action": "SendMessage", "QueueUrl": url, "MessageBody": "x"})
    assert status == 400
    assert xml.findtext("q:Error/q:Code", namespaces=NS) == "MissingParameter"


def test_pick_takes_the_oldest_unlocked_group_first() -> None:
    visible = [Candidate(s, g) for s, g in enumerate("abacbca")]
    asked: list[str] = []

    def of_group(group: str, n: int) -> list[Candidate]:
        asked.append(group)
        return [c for c in visible if c.group_id == group][:n]

    def seqs(locked: set[str], limit: int) -> list[int]:
        asked.clear()
        return [c.seq for c in pick(iter(visible), locked, limit, of_group)]

    assert seqs(set(), 10) == [0, 2, 6, 1, 4, 3, 5]
    assert seqs({"a"}, 3) == [1, 4, 3]
    assert seqs({"a", "b", "c"}, 10) == [] and asked == []
    assert seqs(set(), 2) == [0, 2] and asked == ["a"]  # no group read past the first


def test_a_long_poll_waits_on_a_locked_group_and_wakes_when_it_is_freed(tmp_path: Path) -> None:
    gen = start_sqs(tmp_path / "real-clock")
    server = next(gen)
    c = server.client()
    url = fifo_queue(c, VisibilityTimeout="60")
    for i in range(2):
        c.send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    [m0] = c.receive_message(QueueUrl=url)["Messages"]
    # m1 is visible but its group is locked: the poll waits (it does not spin on it)
    before = server.service.store.writer.operations
    assert c.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages") is None
    assert server.service.store.writer.operations - before < 10
    # a queue no poll has waited on yet: its wake-up appears when this poll starts waiting
    fresh = fifo_queue(c, "fresh.fifo", VisibilityTimeout="60")
    for i in range(2):
        c.send_message(
            QueueUrl=fresh, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )
    [m0] = c.receive_message(QueueUrl=fresh)["Messages"]
    got: list[Any] = []
    poll = threading.Thread(
        target=lambda: got.append(c.receive_message(QueueUrl=fresh, WaitTimeSeconds=20))
    )
    poll.start()
    wait_until(lambda: "fresh.fifo" in server.service._waiters, what="the poll waiting")
    c.delete_message(QueueUrl=fresh, ReceiptHandle=m0["ReceiptHandle"])
    poll.join()
    assert [m["Body"] for m in got[0]["Messages"]] == ["m1"]
    with pytest.raises(StopIteration):
        next(gen)


def test_a_retried_receive_with_its_attempt_id_gets_the_same_messages(
    sqs: SqsServer, clock: Clock
) -> None:
    c = sqs.client()
    url = fifo_queue(c, VisibilityTimeout="30")
    for i in range(3):
        c.send_message(
            QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g", MessageDeduplicationId=str(i)
        )

    def receive(attempt: str) -> list[dict[str, Any]]:
        got = c.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=2,
            ReceiveRequestAttemptId=attempt,
            MessageSystemAttributeNames=["ApproximateReceiveCount"],
        )
        return list(got.get("Messages", []))

    first = receive("try-1")
    assert [m["Body"] for m in first] == ["m0", "m1"]
    clock.now += 20
    again = receive("try-1")  # the answer was lost: the same messages, the same handles
    assert [(m["Body"], m["ReceiptHandle"]) for m in again] == [
        (m["Body"], m["ReceiptHandle"]) for m in first
    ]
    assert [m["Attributes"]["ApproximateReceiveCount"] for m in again] == ["1", "1"]
    assert receive("try-2") == []  # another attempt: the group is still locked
    clock.now += 20  # 40 s after the first receive, but the retry restarted the timeout
    assert receive("try-3") == []
    c.delete_message(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"])
    assert [m["Body"] for m in receive("try-1")] == ["m1"]  # what is left of it
    with pytest.raises(ClientError) as exc:
        receive("no spaces allowed")
    assert code(exc) == "InvalidParameterValue"
    clock.now += 301  # the attempt id is forgotten; m1's visibility ran out long ago
    got = receive("try-1")
    assert [m["Body"] for m in got] == ["m1", "m2"]
    assert got[0]["ReceiptHandle"] != first[1]["ReceiptHandle"]


OLD_SCHEMA = """
CREATE TABLE queues (name TEXT PRIMARY KEY, attributes TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}', created REAL NOT NULL, modified REAL NOT NULL);
CREATE TABLE messages (seq INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL,
    message_id TEXT NOT NULL, body TEXT NOT NULL, attributes TEXT NOT NULL,
    md5_body TEXT NOT NULL, md5_attributes TEXT, system_attributes TEXT NOT NULL,
    sent_ms INTEGER NOT NULL, first_receive_ms INTEGER,
    receive_count INTEGER NOT NULL DEFAULT 0, visible_at REAL NOT NULL, receipt TEXT);
INSERT INTO queues VALUES ('old', '{}', '{}', 1.0, 1.0);
"""


def test_an_sqs_db_from_before_fifo_queues_opens_and_keeps_its_messages(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / "sqs.db") as db:
        db.executescript(OLD_SCHEMA)
        db.execute(
            "INSERT INTO messages (queue, message_id, body, attributes, md5_body,"
            " system_attributes, sent_ms, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            ("old", "id-1", "from before", "{}", "md5", "{}", int(time.time() * 1000), 0),
        )
    db.close()
    gen = start_sqs(tmp_path)
    c = next(gen).client()
    old = c.get_queue_url(QueueName="old")["QueueUrl"]
    [m] = c.receive_message(QueueUrl=old, MessageSystemAttributeNames=["All"])["Messages"]
    assert (m["MessageId"], m["Body"]) == ("id-1", "from before")
    assert "MessageGroupId" not in m["Attributes"]
    url = fifo_queue(c)
    c.send_message(QueueUrl=url, MessageBody="new", MessageGroupId="g", MessageDeduplicationId="1")
    assert c.receive_message(QueueUrl=url)["Messages"][0]["Body"] == "new"
    with pytest.raises(StopIteration):
        next(gen)
