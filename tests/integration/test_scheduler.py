"""EventBridge Scheduler with boto3 on a real server: schedules, flexible windows, retries."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.events.live import client, start_server
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/scheduler"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    # 60x: rate(1 minute) fires every real second.
    proc = start_server(tmp_path_factory.mktemp("scheduler"), {"LAMINA_SCHEDULE_TIME_SCALE": "60"})
    yield proc
    proc.stop()


def receive(sqs: Any, url: str, count: int, within_s: float = 60) -> list[Any]:
    got: list[Any] = []
    deadline = time.monotonic() + within_s
    while len(got) < count and time.monotonic() < deadline:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
    return got


def test_a_schedule_is_created_read_listed_updated_and_deleted(server: LaminaProcess) -> None:
    scheduler = client(server.endpoint, "scheduler")
    target = {
        "Arn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:nowhere",
        "RoleArn": ROLE,
        "Input": '{"a": 1}',
        "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
    }
    arn = scheduler.create_schedule(
        Name="crud",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target=target,
        State="DISABLED",
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/crud"
    got = scheduler.get_schedule(Name="crud")
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3,
        "MaximumEventAgeInSeconds": 600,
    }
    assert (got["State"], got["ScheduleExpression"]) == ("DISABLED", "rate(1 hour)")
    names = [s["Name"] for s in scheduler.list_schedules()["Schedules"]]
    assert "crud" in names
    scheduler.update_schedule(
        Name="crud",
        ScheduleExpression="rate(2 hours)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target,
        State="DISABLED",
    )
    assert scheduler.get_schedule(Name="crud")["FlexibleTimeWindow"] == {"Mode": "OFF"}
    with pytest.raises(ClientError) as conflict:
        scheduler.create_schedule(
            Name="crud",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
        )
    assert conflict.value.response["Error"]["Code"] == "ConflictException"
    scheduler.delete_schedule(Name="crud")
    with pytest.raises(ClientError) as missing:
        scheduler.get_schedule(Name="crud")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as bad:
        scheduler.create_schedule(
            Name="bad",
            ScheduleExpression="every tuesday",
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
        )
    assert bad.value.response["Error"]["Code"] == "ValidationException"


def test_a_schedule_fires_with_schedulers_event_and_retries_a_failed_delivery(
    server: LaminaProcess,
) -> None:
    scheduler, sqs = client(server.endpoint, "scheduler"), client(server.endpoint, "sqs")
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:late-queue"
    # The queue does not exist yet: the first deliveries fail and are retried.
    scheduler.create_schedule(
        Name="every-minute",
        ScheduleExpression="rate(1 minute)",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 1},
        Target={
            "Arn": queue_arn,
            "RoleArn": ROLE,
            "RetryPolicy": {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 3600},
        },
    )
    time.sleep(3)  # a few ticks fail (about 60 schedule-seconds each)
    url = sqs.create_queue(QueueName="late-queue")["QueueUrl"]
    events = receive(sqs, url, 3)
    assert len(events) >= 3
    event = events[0]
    assert (event["source"], event["detail-type"]) == ("aws.scheduler", "Scheduled Event")
    assert event["resources"] == [
        f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/every-minute"
    ]
    # Ticks keep their scheduled times a minute apart, whatever the flexible offset.
    stamps = sorted({e["time"] for e in events})
    assert len(stamps) == len(events) and all(s.endswith("Z") for s in stamps)
    log = "".join(server.output)
    assert "rule default/every-minute: delivery to " + queue_arn + " failed" in log
    assert "rule default/every-minute: delivered to " + queue_arn + " on retry" in log
    scheduler.delete_schedule(Name="every-minute")
