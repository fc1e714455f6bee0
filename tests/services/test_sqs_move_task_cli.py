"""The AWS CLI's ``aws sqs start-message-move-task`` / ``list-message-move-tasks`` /
``cancel-message-move-task`` against the embedded SQS (a dead-letter queue redriven)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.services.sqs_fixtures import CREDS, SqsServer, start_sqs


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path)


def test_the_aws_cli_redrives_a_dead_letter_queue(sqs: SqsServer, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", sqs.url, "sqs"]

    def run(*args: str, ok: bool = True) -> Any:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) == ok, done.stderr
        return json.loads(done.stdout) if ok and done.stdout.strip() else done.stderr

    c = sqs.client()
    dlq = c.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    dlq_arn = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
    url = c.create_queue(QueueName="jobs", Attributes={"RedrivePolicy": policy})["QueueUrl"]
    for body in ("one", "two"):
        c.send_message(QueueUrl=url, MessageBody=body)
    for _ in range(2):
        c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)

    refused = run(
        "start-message-move-task",
        "--source-arn",
        dlq_arn,
        "--max-number-of-messages-per-second",
        "0",
        ok=False,
    )
    assert "InvalidParameterValue" in refused
    handle = run("start-message-move-task", "--source-arn", dlq_arn)["TaskHandle"]
    assert handle
    for _ in range(100):
        task = run("list-message-move-tasks", "--source-arn", dlq_arn)["Results"][0]
        if task["Status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("COMPLETED", 2)
    gone = run("cancel-message-move-task", "--task-handle", handle, ok=False)
    assert "UnsupportedOperation" in gone
    got = c.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in got) == ["one", "two"]
