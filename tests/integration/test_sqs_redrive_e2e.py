"""Dead-letter queue redrive end to end: a function fails its queue's messages into the
dead-letter queue (the redrive policy), is fixed, and ``StartMessageMoveTask`` brings the
messages back to the queue, where the fixed function processes them. Then the task is
killed with the server mid-move and the restarted server finishes it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import (
    ROLE,
    client,
    kill,
    queue_arn,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Fails every message until the FIXED environment variable is set; records each it handled.
CONSUMER = """\
import os

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    if not os.environ.get("FIXED"):
        raise RuntimeError("bug")
    for r in event["Records"]:
        s3.put_object(Bucket="done", Key=r["body"], Body=r["eventSourceARN"])
"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = start_server(tmp_path / "data")
    yield server
    server.stop()


def _count(sqs: Any, url: str) -> int:
    got = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(got["ApproximateNumberOfMessages"]) + int(
        got["ApproximateNumberOfMessagesNotVisible"]
    )


def test_a_fixed_function_processes_its_redriven_dead_letters(server: LaminaProcess) -> None:
    sqs, lam, s3 = (client(server.endpoint, s) for s in ("sqs", "lambda", "s3"))
    s3.create_bucket(Bucket="done")
    dlq = sqs.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    url = sqs.create_queue(
        QueueName="jobs",
        Attributes={
            "VisibilityTimeout": "2",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": queue_arn("jobs-dlq"), "maxReceiveCount": "1"}
            ),
        },
    )["QueueUrl"]
    lam.create_function(
        FunctionName="jobs",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(CONSUMER)},
        Timeout=30,
    )
    bodies = [f"job-{i}" for i in range(4)]
    sqs.send_message_batch(
        QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)]
    )
    mapping = lam.create_event_source_mapping(
        EventSourceArn=queue_arn("jobs"), FunctionName="jobs", BatchSize=10
    )
    wait_until(lambda: _count(sqs, dlq) == 4, what="the failed messages in the DLQ")
    assert _count(sqs, url) == 0

    lam.update_function_configuration(
        FunctionName="jobs", Environment={"Variables": {"FIXED": "1"}}
    )
    wait_until(
        lambda: (
            lam.get_function_configuration(FunctionName="jobs")["LastUpdateStatus"] == "Successful"
        ),
        what="the fix deployed",
    )
    handle = sqs.start_message_move_task(SourceArn=queue_arn("jobs-dlq"))["TaskHandle"]
    assert handle

    def done() -> list[str]:
        return sorted(o["Key"] for o in s3.list_objects_v2(Bucket="done").get("Contents", []))

    wait_until(lambda: done() == bodies, what="the redriven messages processed")
    task = sqs.list_message_move_tasks(SourceArn=queue_arn("jobs-dlq"))["Results"][0]
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 4)
    assert _count(sqs, dlq) == 0
    # each came back through the source queue, not some other way
    assert {s3.get_object(Bucket="done", Key=b)["Body"].read().decode() for b in bodies} == {
        queue_arn("jobs")
    }
    lam.delete_event_source_mapping(UUID=mapping["UUID"])


def test_a_move_task_cut_short_by_a_kill_finishes_after_the_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        sqs = client(server.endpoint, "sqs")
        dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
        policy = json.dumps({"deadLetterTargetArn": queue_arn("q-dlq"), "maxReceiveCount": 1})
        url = sqs.create_queue(QueueName="q", Attributes={"RedrivePolicy": policy})["QueueUrl"]
        sqs.send_message_batch(
            QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(6)]
        )
        for _ in range(2):
            sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
        assert _count(sqs, dlq) == 6
        sqs.start_message_move_task(SourceArn=queue_arn("q-dlq"), MaxNumberOfMessagesPerSecond=1)
        task = sqs.list_message_move_tasks(SourceArn=queue_arn("q-dlq"))["Results"][0]
        assert task["Status"] == "RUNNING"
    finally:
        kill(server)
    server = start_server(data)
    try:
        sqs = client(server.endpoint, "sqs")

        def finished() -> bool:
            got = sqs.list_message_move_tasks(SourceArn=queue_arn("q-dlq"))["Results"][0]
            return bool(got["Status"] != "RUNNING")

        wait_until(finished, what="the move task finished after the restart")
        task = sqs.list_message_move_tasks(SourceArn=queue_arn("q-dlq"))["Results"][0]
        assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 6)
        assert (_count(sqs, dlq), _count(sqs, url)) == (0, 6)
    finally:
        server.stop()
