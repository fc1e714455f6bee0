"""The AWS CLI against a FIFO queue of the embedded SQS (its own protocol and parameter names)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.services.sqs_fixtures import CREDS, SqsServer, start_sqs


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path)


def test_the_aws_cli_sends_to_and_receives_from_a_fifo_queue(
    sqs: SqsServer, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": CREDS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": CREDS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "config"),
    }
    aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", sqs.url, "sqs"]

    def run(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run([*aws, *args], env=env, capture_output=True, text=True, timeout=60)
        assert (done.returncode == 0) == ok, done.stderr  # a refusal: 255 (CLI v1), 254 (v2)
        return done

    url = json.loads(
        run(
            "create-queue",
            "--queue-name",
            "cli.fifo",
            "--attributes",
            "FifoQueue=true,ContentBasedDeduplication=true",
        ).stdout
    )["QueueUrl"]
    sent = [
        json.loads(
            run(
                "send-message",
                "--queue-url",
                url,
                "--message-body",
                body,
                "--message-group-id",
                "g",
            ).stdout
        )
        for body in ("one", "two", "one")
    ]
    assert sent[2]["MessageId"] == sent[0]["MessageId"]  # deduplicated by content
    assert int(sent[1]["SequenceNumber"]) > int(sent[0]["SequenceNumber"])
    refused = run("send-message", "--queue-url", url, "--message-body", "x", ok=False)
    assert "MissingParameter" in refused.stderr
    got = json.loads(
        run(
            "receive-message",
            "--queue-url",
            url,
            "--max-number-of-messages",
            "10",
            "--message-system-attribute-names",
            "All",
        ).stdout
    )["Messages"]
    assert [m["Body"] for m in got] == ["one", "two"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}
