"""A real function consuming a FIFO queue through a real ``lamina serve``.

The function writes what it processed to S3, one object per record under
``log/<group>/<n>``, numbering each group's entries by counting those already there: two
invocations of one group at once would both take the same number and one entry would be
lost. A "poison" message of group b fails (and, as Lambda asks of FIFO consumers, the
function reports it and the rest of its group as failed) until the test puts
``release/b``: group b waits while groups a and c go on, then resumes in order.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.events.live import ROLE, client, queue_arn, start_server, wait_until, zip_source
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CONSUMER = """\
import json

import boto3

s3 = boto3.client("s3")
BUCKET = "fifo-log"


def released(group):
    try:
        s3.head_object(Bucket=BUCKET, Key="release/" + group)
        return True
    except Exception:
        return False


def handler(event, context):
    failures = []
    stopped = set()
    for record in event["Records"]:
        attrs = record["attributes"]
        group = attrs["MessageGroupId"]
        body = json.loads(record["body"])
        if group in stopped or (body.get("poison") and not released(group)):
            stopped.add(group)
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        prefix = "log/" + group + "/"
        n = s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("KeyCount", 0)
        entry = {
            "n": body["n"],
            "sequence": attrs["SequenceNumber"],
            "dedup": attrs["MessageDeduplicationId"],
            "receives": int(attrs["ApproximateReceiveCount"]),
        }
        s3.put_object(Bucket=BUCKET, Key=prefix + "%04d" % n, Body=json.dumps(entry))
    return {"batchItemFailures": failures}
"""

PER_GROUP = 6
POISON = ("b", 2)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = start_server(tmp_path_factory.mktemp("fifo-e2e") / "data")
    yield proc
    proc.stop()


def log(s3: Any, group: str) -> list[dict[str, Any]]:
    listed = s3.list_objects_v2(Bucket="fifo-log", Prefix=f"log/{group}/").get("Contents", [])
    return [
        json.loads(s3.get_object(Bucket="fifo-log", Key=o["Key"])["Body"].read())
        for o in sorted(listed, key=lambda o: o["Key"])
    ]


def test_a_function_sees_each_group_in_order_and_a_failure_blocks_only_its_group(
    server: LaminaProcess,
) -> None:
    s3, sqs, lam = (client(server.endpoint, s) for s in ("s3", "sqs", "lambda"))
    s3.create_bucket(Bucket="fifo-log")
    url = sqs.create_queue(
        QueueName="orders.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            # longer than a cold start's batch, or a batch comes back while still running
            "VisibilityTimeout": "8",
        },
    )["QueueUrl"]
    lam.create_function(
        FunctionName="fifo-consumer",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(CONSUMER)},
        Timeout=30,
        MemorySize=512,
    )
    bodies = [
        {"n": n, "group": g, **({"poison": True} if (g, n) == POISON else {})}
        for n in range(PER_GROUP)
        for g in "abc"
    ]  # interleaved: a0 b0 c0 a1 b1 c1 ...
    ids = []
    for start in range(0, len(bodies), 10):
        out = sqs.send_message_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(i), "MessageBody": json.dumps(b), "MessageGroupId": b["group"]}
                for i, b in enumerate(bodies[start : start + 10])
            ],
        )
        assert not out.get("Failed")
        ids += [s["MessageId"] for s in out["Successful"]]
    # the same body again within five minutes is a duplicate: accepted, not delivered
    again = sqs.send_message(QueueUrl=url, MessageBody=json.dumps(bodies[0]), MessageGroupId="a")
    assert again["MessageId"] == ids[0]

    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn("orders.fifo"),
        FunctionName="fifo-consumer",
        BatchSize=10,
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )

    def others_done() -> bool:
        done = [len(log(s3, g)) for g in "abc"]
        return done == [PER_GROUP, POISON[1], PER_GROUP]

    wait_until(others_done, limit_s=120, what="groups a and c, and b up to its poison")
    # group b stopped at its poison message; its later messages are still in the queue
    assert [e["n"] for e in log(s3, "b")] == [0, 1]
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    left = int(attrs["ApproximateNumberOfMessages"]) + int(
        attrs["ApproximateNumberOfMessagesNotVisible"]
    )
    assert left == PER_GROUP - 2

    s3.put_object(Bucket="fifo-log", Key="release/b", Body=b"")
    wait_until(
        lambda: len(log(s3, "b")) == PER_GROUP, limit_s=120, what="group b after its release"
    )
    for group in "abc":
        entries = log(s3, group)
        # each group in the order sent, each message once, never two batches at a time
        assert [e["n"] for e in entries] == list(range(PER_GROUP))
        sequences = [int(e["sequence"]) for e in entries]
        assert sequences == sorted(sequences) and len(set(sequences)) == PER_GROUP
        for e in entries:
            body = json.dumps(
                {
                    "n": e["n"],
                    "group": group,
                    **({"poison": True} if (group, e["n"]) == POISON else {}),
                }
            )
            assert e["dedup"] == hashlib.sha256(body.encode()).hexdigest()
    b = log(s3, "b")
    assert b[POISON[1]]["receives"] >= 2  # it failed at least once before it went through
    assert all(e["receives"] == 1 for g in "ac" for e in log(s3, g))

    def drained() -> bool:
        a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return bool(
            a["ApproximateNumberOfMessages"] == a["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    wait_until(drained, what="the queue drained")
    lam.delete_event_source_mapping(UUID=mapping["UUID"])
