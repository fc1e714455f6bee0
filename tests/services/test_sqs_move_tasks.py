"""SQS message move tasks (dead-letter queue redrive): the pure decisions, then boto3
against the embedded SQS service (a queue, its DLQ via a redrive policy, a redrive)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from lamina.errors import AwsServiceError
from lamina.services.sqs.movetasks import (
    COMPLETED,
    FAILED,
    RUNNING,
    MoveTask,
    after_step,
    batch_size,
    entry,
    parse_handle,
    parse_list,
    parse_start,
    task_handle,
)
from lamina.services.sqs.service import SqsService
from lamina.services.sqs.store import SqsStore
from tests.events.servers import LoopThread
from tests.services.sqs_fixtures import SqsServer, start_sqs

# SQS's JSON protocol answers the query protocol's code too, and boto3 prefers it.
UNSUPPORTED = "AWS.SimpleQueueService.UnsupportedOperation"
DLQ_ARN = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"


# -- pure decisions ----------------------------------------------------------------------
def test_start_request_rate_must_be_1_to_500() -> None:
    assert parse_start({"SourceArn": DLQ_ARN}).rate is None
    assert parse_start({"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": 500}).rate == 500
    for bad in (0, 501, "x"):
        with pytest.raises(AwsServiceError) as err:
            parse_start({"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": bad})
        assert err.value.code == "InvalidParameterValue"
    with pytest.raises(AwsServiceError) as err:
        parse_start({})
    assert err.value.code == "MissingParameter"


def test_list_max_results_defaults_to_one_and_stops_at_ten() -> None:
    assert parse_list({"SourceArn": DLQ_ARN}) == (DLQ_ARN, 1)
    assert parse_list({"SourceArn": DLQ_ARN, "MaxResults": 10}) == (DLQ_ARN, 10)
    with pytest.raises(AwsServiceError):
        parse_list({"SourceArn": DLQ_ARN, "MaxResults": 11})


def test_task_handle_round_trips_and_rejects_strangers() -> None:
    assert parse_handle(task_handle("t-1", DLQ_ARN)) == ("t-1", DLQ_ARN)
    assert parse_handle("not a handle!") is None
    assert parse_handle(task_handle("t-1", "queue")) is None


def test_a_step_moves_at_most_the_rate() -> None:
    # The driver moves one step a second (moving.STEP_S): the rate is the step's size.
    assert batch_size(1) == 1 and batch_size(500) == 500
    assert batch_size(None) == 500  # no rate given: SQS's maximum


def test_status_after_a_step() -> None:
    assert after_step(2) == RUNNING
    assert after_step(0) == COMPLETED


def test_entry_shows_handle_only_while_running_and_reason_only_when_failed() -> None:
    running = MoveTask("t", DLQ_ARN, None, None, RUNNING, 1, 4, None, 1000)
    shaped = entry(running)
    assert parse_handle(shaped["TaskHandle"]) == ("t", DLQ_ARN)
    assert "DestinationArn" not in shaped and "MaxNumberOfMessagesPerSecond" not in shaped
    failed = MoveTask("t", DLQ_ARN, "arn:x", 7, FAILED, 1, 4, "gone", 1000)
    shaped = entry(failed)
    assert "TaskHandle" not in shaped
    assert (
        shaped["FailureReason"],
        shaped["DestinationArn"],
        shaped["MaxNumberOfMessagesPerSecond"],
    ) == (
        "gone",
        "arn:x",
        7,
    )


# -- against the embedded service ----------------------------------------------------------
@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path)


def _queue_with_dlq(c: Any, name: str, max_receives: int = 1) -> tuple[str, str, str]:
    """(queue URL, DLQ URL, DLQ ARN) for ``name`` whose messages die after one receive."""
    dlq = c.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    arn = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": max_receives})
    url = c.create_queue(QueueName=name, Attributes={"RedrivePolicy": policy})["QueueUrl"]
    return url, dlq, arn


def _kill(c: Any, url: str, bodies: list[str]) -> None:
    """Send ``bodies`` and receive each past maxReceiveCount, so they go to the DLQ."""
    for b in bodies:
        c.send_message(QueueUrl=url, MessageBody=b)
    for _ in range(3):
        c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)


def _drain(c: Any, url: str, want: int) -> list[str]:
    got: list[str] = []
    for _ in range(40):
        for m in c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            got.append(m["Body"])
            c.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if len(got) >= want:
            break
    return got


def _wait_status(c: Any, arn: str, status: str) -> dict[str, Any]:
    for _ in range(100):
        task: dict[str, Any] = c.list_message_move_tasks(SourceArn=arn)["Results"][0]
        if task["Status"] == status:
            return task
        time.sleep(0.1)
    raise AssertionError(f"task never {status}: {task}")


def test_redrive_to_the_source_brings_every_message_back_once(sqs: SqsServer) -> None:
    c = sqs.client()
    url, dlq, arn = _queue_with_dlq(c, "orders")
    _kill(c, url, ["a", "b", "c"])
    counts = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "3"
    handle = c.start_message_move_task(SourceArn=arn)["TaskHandle"]
    assert parse_handle(handle) is not None
    done = _wait_status(c, arn, "COMPLETED")
    assert (
        done["ApproximateNumberOfMessagesMoved"],
        done["ApproximateNumberOfMessagesToMove"],
    ) == (3, 3)
    assert "TaskHandle" not in done and "DestinationArn" not in done
    assert sorted(_drain(c, url, 3)) == ["a", "b", "c"]
    assert c.receive_message(QueueUrl=dlq).get("Messages") is None


def test_redrive_to_a_custom_destination_at_a_rate(sqs: SqsServer) -> None:
    c = sqs.client()
    url, _, arn = _queue_with_dlq(c, "orders")
    other = c.create_queue(QueueName="replay")["QueueUrl"]
    other_arn = c.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _kill(c, url, ["x", "y", "z"])
    c.start_message_move_task(
        SourceArn=arn, DestinationArn=other_arn, MaxNumberOfMessagesPerSecond=1
    )
    running = c.list_message_move_tasks(SourceArn=arn)["Results"][0]
    assert running["Status"] == "RUNNING"
    assert (running["DestinationArn"], running["MaxNumberOfMessagesPerSecond"]) == (other_arn, 1)
    _wait_status(c, arn, "COMPLETED")
    assert sorted(_drain(c, other, 3)) == ["x", "y", "z"]
    assert c.receive_message(QueueUrl=url).get("Messages") is None


def test_one_running_task_per_source_then_cancel(sqs: SqsServer) -> None:
    c = sqs.client()
    url, dlq, arn = _queue_with_dlq(c, "orders")
    _kill(c, url, [str(i) for i in range(5)])
    handle = c.start_message_move_task(SourceArn=arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with pytest.raises(ClientError) as err:
        c.start_message_move_task(SourceArn=arn)
    assert err.value.response["Error"]["Code"] == UNSUPPORTED
    moved = c.cancel_message_move_task(TaskHandle=handle)["ApproximateNumberOfMessagesMoved"]
    task = c.list_message_move_tasks(SourceArn=arn)["Results"][0]
    assert (task["Status"], task["ApproximateNumberOfMessagesMoved"]) == ("CANCELLED", moved)
    time.sleep(1.5)  # the driver has had its next step: it moved nothing more
    left = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert int(left["Attributes"]["ApproximateNumberOfMessages"]) == 5 - moved
    with pytest.raises(ClientError) as err:
        c.cancel_message_move_task(TaskHandle=handle)
    assert err.value.response["Error"]["Code"] == UNSUPPORTED
    # a new task may start now; the list is newest first
    c.start_message_move_task(SourceArn=arn)
    _wait_status(c, arn, "COMPLETED")
    both = c.list_message_move_tasks(SourceArn=arn, MaxResults=10)["Results"]
    assert [t["Status"] for t in both] == ["COMPLETED", "CANCELLED"]
    assert sorted(_drain(c, url, 5)) == [str(i) for i in range(5)]


def test_errors(sqs: SqsServer) -> None:
    c = sqs.client()
    plain = c.create_queue(QueueName="plain")["QueueUrl"]
    plain_arn = c.get_queue_attributes(QueueUrl=plain, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    cases: list[tuple[dict[str, Any], str]] = [
        ({"SourceArn": plain_arn}, "InvalidParameterValue"),  # nobody's DLQ
        ({"SourceArn": plain_arn + "-nope"}, "ResourceNotFoundException"),
    ]
    _, _, arn = _queue_with_dlq(c, "orders")
    cases += [
        ({"SourceArn": arn, "DestinationArn": plain_arn + "-nope"}, "ResourceNotFoundException"),
        ({"SourceArn": arn, "MaxNumberOfMessagesPerSecond": 501}, "InvalidParameterValue"),
    ]
    for kwargs, code in cases:
        with pytest.raises(ClientError) as err:
            c.start_message_move_task(**kwargs)
        assert err.value.response["Error"]["Code"] == code, kwargs
    with pytest.raises(ClientError) as err:
        c.cancel_message_move_task(TaskHandle="nonsense")
    assert err.value.response["Error"]["Code"] == "ResourceNotFoundException"
    fifo_dlq = c.create_queue(QueueName="f-dlq.fifo", Attributes={"FifoQueue": "true"})
    fifo_arn = c.get_queue_attributes(QueueUrl=fifo_dlq["QueueUrl"], AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    c.create_queue(
        QueueName="f.fifo",
        Attributes={
            "FifoQueue": "true",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": fifo_arn, "maxReceiveCount": 1}),
        },
    )
    with pytest.raises(ClientError) as err:
        c.start_message_move_task(SourceArn=fifo_arn, DestinationArn=plain_arn)
    assert err.value.response["Error"]["Code"] == "InvalidParameterValue"


def test_a_destination_deleted_mid_task_fails_it_visibly(sqs: SqsServer) -> None:
    c = sqs.client()
    url, _, arn = _queue_with_dlq(c, "orders")
    other = c.create_queue(QueueName="replay")["QueueUrl"]
    other_arn = c.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    _kill(c, url, ["a", "b", "c"])
    c.start_message_move_task(
        SourceArn=arn, DestinationArn=other_arn, MaxNumberOfMessagesPerSecond=1
    )
    c.delete_queue(QueueUrl=other)
    failed = _wait_status(c, arn, "FAILED")
    assert failed["FailureReason"] == "The destination queue does not exist."
    assert failed["ApproximateNumberOfMessagesMoved"] < 3


def test_a_task_running_at_a_restart_goes_on_after_it(tmp_path: Path) -> None:
    """The store is closed with the task RUNNING (its driver never ran), reopened by a new
    service, whose resume() finishes it."""
    store = SqsStore(tmp_path / "sqs.db", fsync=False)
    loop = LoopThread()
    service = SqsService(store, "us-east-1", "000000000000")
    dead = [{"Id": str(i), "MessageBody": f"m{i}"} for i in range(3)]

    async def before() -> str:
        from lamina.services.sqs.requests import DEFAULT_SENDER, Caller

        who = Caller("localhost", DEFAULT_SENDER)
        ops = service.operations()
        dlq_arn = service.arn("q-dlq")
        await ops["CreateQueue"]({"QueueName": "q-dlq"}, who)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 1})
        await ops["CreateQueue"](
            {"QueueName": "q", "Attributes": {"RedrivePolicy": policy, "VisibilityTimeout": "0"}},
            who,
        )
        url = "http://localhost/000000000000/q"
        await ops["SendMessageBatch"]({"QueueUrl": url, "Entries": dead}, who)
        for _ in range(2):
            await ops["ReceiveMessage"]({"QueueUrl": url, "MaxNumberOfMessages": 10}, who)
        await store.start_move_task("t1", "q-dlq", dlq_arn, None, None, service.now())
        return dlq_arn

    dlq_arn = loop.run(before())
    loop.stop()
    store.close()

    store = SqsStore(tmp_path / "sqs.db", fsync=False)
    loop = LoopThread()
    service = SqsService(store, "us-east-1", "000000000000")
    try:
        loop.run(service.moves.resume())
        for _ in range(50):
            tasks = loop.run(store.move_tasks("q-dlq"))
            if tasks[0][0].status != RUNNING:
                break
            time.sleep(0.1)
        assert (tasks[0][0].status, tasks[0][0].moved) == (COMPLETED, 3)
        assert tasks[0][0].source_arn == dlq_arn
        assert loop.run(store.counts("q", time.time()))[0] == 3
    finally:
        loop.run(service.moves.close())
        loop.stop()
        store.close()


def test_a_message_sent_straight_to_the_dlq_has_no_source_to_go_back_to(sqs: SqsServer) -> None:
    c = sqs.client()
    url, dlq, arn = _queue_with_dlq(c, "orders")
    _kill(c, url, ["dead"])
    c.send_message(QueueUrl=dlq, MessageBody="stray")  # never in any source queue
    c.start_message_move_task(SourceArn=arn)
    failed = _wait_status(c, arn, "FAILED")
    assert failed["FailureReason"] == "A message's original source queue is unknown."
    # what came before the stray message went back; the stray one stayed
    assert (failed["ApproximateNumberOfMessagesMoved"], _drain(c, url, 1)) == (1, ["dead"])
    assert [m["Body"] for m in c.receive_message(QueueUrl=dlq)["Messages"]] == ["stray"]


def test_a_fifo_dlq_goes_back_to_its_fifo_source_in_order_with_its_ids(sqs: SqsServer) -> None:
    c = sqs.client()
    dlq = c.create_queue(QueueName="o-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": 1})
    url = c.create_queue(
        QueueName="o.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "true",
            "RedrivePolicy": policy,
        },
    )["QueueUrl"]
    for body in ("1", "2", "3"):
        c.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    # each head of the group is received, comes back, and is dead-lettered on the next receive
    for _ in range(8):
        c.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0)
    counts = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "3"
    c.start_message_move_task(SourceArn=arn)
    _wait_status(c, arn, "COMPLETED")
    got = c.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
    )["Messages"]
    assert [m["Body"] for m in got] == ["1", "2", "3"]
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"g"}
