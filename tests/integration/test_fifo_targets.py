"""Lamina's own deliveries into SQS FIFO queues, as AWS has them, through a real ``lamina
serve`` and boto3: a rule target on a FIFO queue needs ``SqsParameters.MessageGroupId``
(EventBridge's refusal word for word) and delivers with that group, the event's id as the
deduplication id; S3 refuses a FIFO queue as a notification destination; an EventBridge
Scheduler target on one needs a group; a FIFO queue as an async invoke's destination or
dead-letter queue is accepted, as Lambda accepts it, and gets nothing (Lambda does not
deliver to FIFO queues), which the server's log says."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.events.live import (
    ROLE,
    client,
    function_arn,
    queue_arn,
    receive_all,
    start_server,
    wait_until,
    zip_source,
)
from tests.integration.harness import LaminaProcess, wait_for_text

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

PATTERN = json.dumps({"source": ["shop.fifo"]})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = start_server(tmp_path_factory.mktemp("fifo-targets") / "data")
    yield server
    server.stop()


def fifo_queue(sqs: Any, name: str, content_based: bool = False) -> str:
    attributes = {"FifoQueue": "true"}
    if content_based:
        attributes["ContentBasedDeduplication"] = "true"
    url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return url


def drain(sqs: Any, url: str, n: int) -> list[dict[str, Any]]:
    """Receive (and delete) messages of ``url`` until ``n`` have come."""
    got: list[dict[str, Any]] = []

    def more() -> bool:
        got.extend(receive_all(sqs, url))
        return len(got) >= n

    wait_until(more, what=f"{n} messages in {url}")
    return got


def refusal(call: Any) -> tuple[str, int, str]:
    with pytest.raises(ClientError) as err:
        call()
    error = err.value.response["Error"]
    return error["Code"], err.value.response["ResponseMetadata"]["HTTPStatusCode"], error["Message"]


def test_a_rule_target_on_a_fifo_queue_needs_a_group_and_delivers_with_it(
    server: LaminaProcess,
) -> None:
    events = client(server.endpoint, "events")
    sqs = client(server.endpoint, "sqs")
    plain = fifo_queue(sqs, "orders.fifo")
    by_content = fifo_queue(sqs, "orders-content.fifo", content_based=True)
    events.put_rule(Name="to-fifo", EventPattern=PATTERN)

    # No SqsParameters: refused as a whole, in EventBridge's words; nothing is kept.
    assert refusal(
        lambda: events.put_targets(
            Rule="to-fifo", Targets=[{"Id": "q", "Arn": queue_arn("orders.fifo")}]
        )
    ) == (
        "ValidationException",
        400,
        "Parameter(s) SqsParameters must be specified for target: q.",
    )
    assert events.list_targets_by_rule(Rule="to-fifo")["Targets"] == []

    answer = events.put_targets(
        Rule="to-fifo",
        Targets=[
            {
                "Id": "q",
                "Arn": queue_arn("orders.fifo"),
                "SqsParameters": {"MessageGroupId": "orders"},
            },
            {
                "Id": "c",
                "Arn": queue_arn("orders-content.fifo"),
                "SqsParameters": {"MessageGroupId": "by-content"},
            },
        ],
    )
    assert answer["FailedEntryCount"] == 0
    shown = {t["Id"]: t for t in events.list_targets_by_rule(Rule="to-fifo")["Targets"]}
    assert shown["q"]["SqsParameters"] == {"MessageGroupId": "orders"}
    assert shown["c"]["SqsParameters"] == {"MessageGroupId": "by-content"}

    # Two events with the same detail: each is its own message (the event id is the
    # deduplication id where the queue has no content-based deduplication), in order.
    put = events.put_events(
        Entries=[
            {"Source": "shop.fifo", "DetailType": "Placed", "Detail": json.dumps({"n": 1})},
            {"Source": "shop.fifo", "DetailType": "Placed", "Detail": json.dumps({"n": 1})},
        ]
    )
    ids = [e["EventId"] for e in put["Entries"]]
    got = drain(sqs, plain, 2)
    assert [m["json"]["id"] for m in got] == ids
    assert {m["Attributes"]["MessageGroupId"] for m in got} == {"orders"}
    assert [m["Attributes"]["MessageDeduplicationId"] for m in got] == ids
    # The queue with content-based deduplication: its own rule decides (the two bodies
    # differ by their event id, so both are kept).
    kept = drain(sqs, by_content, 2)
    assert [m["json"]["id"] for m in kept] == ids
    assert {m["Attributes"]["MessageGroupId"] for m in kept} == {"by-content"}
    assert all(m["Attributes"]["MessageDeduplicationId"] not in ids for m in kept)


def test_s3_refuses_a_fifo_queue_as_a_notification_destination(server: LaminaProcess) -> None:
    s3 = client(server.endpoint, "s3")
    sqs = client(server.endpoint, "sqs")
    fifo_queue(sqs, "uploads.fifo")
    s3.create_bucket(Bucket="fifo-notes")
    code, status, message = refusal(
        lambda: s3.put_bucket_notification_configuration(
            Bucket="fifo-notes",
            NotificationConfiguration={
                "QueueConfigurations": [
                    {"QueueArn": queue_arn("uploads.fifo"), "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
    )
    assert (code, status) == ("InvalidArgument", 400)
    assert message == "Unable to validate the following destination configurations"
    assert "QueueConfigurations" not in s3.get_bucket_notification_configuration(
        Bucket="fifo-notes"
    )


def test_a_schedule_on_a_fifo_queue_needs_a_group(server: LaminaProcess) -> None:
    scheduler = client(server.endpoint, "scheduler")
    sqs = client(server.endpoint, "sqs")
    fifo_queue(sqs, "ticks.fifo", content_based=True)
    target: dict[str, Any] = {"Arn": queue_arn("ticks.fifo"), "RoleArn": ROLE}
    window = {"Mode": "OFF"}
    code, status, message = refusal(
        lambda: scheduler.create_schedule(
            Name="fifo-tick",
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow=window,
            Target=target,
        )
    )
    assert (code, status) == ("ValidationException", 400)
    assert "MessageGroupId" in message
    scheduler.create_schedule(
        Name="fifo-tick",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow=window,
        Target={**target, "SqsParameters": {"MessageGroupId": "ticks"}},
    )
    shown = scheduler.get_schedule(Name="fifo-tick")["Target"]
    assert shown["SqsParameters"] == {"MessageGroupId": "ticks"}


FAIL = """\
def handler(event, context):
    raise RuntimeError("no")
"""


def test_a_fifo_destination_is_accepted_as_lambda_accepts_it_and_gets_nothing(
    server: LaminaProcess,
) -> None:
    lam = client(server.endpoint, "lambda")
    sqs = client(server.endpoint, "sqs")
    fifo = fifo_queue(sqs, "failures.fifo", content_based=True)
    standard = sqs.create_queue(QueueName="failures-standard")["QueueUrl"]
    lam.create_function(
        FunctionName="fifo-dest",
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": zip_source(FAIL)},
        DeadLetterConfig={"TargetArn": queue_arn("failures.fifo")},
    )
    lam.put_function_event_invoke_config(
        FunctionName="fifo-dest",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn("failures.fifo")}},
    )
    got = lam.get_function_event_invoke_config(FunctionName="fifo-dest")
    assert got["DestinationConfig"]["OnFailure"]["Destination"] == queue_arn("failures.fifo")
    assert lam.get_function_configuration(FunctionName="fifo-dest")["DeadLetterConfig"] == {
        "TargetArn": queue_arn("failures.fifo")
    }
    lam.invoke(FunctionName="fifo-dest", InvocationType="Event", Payload=b"{}")
    wait_for_text(lambda: "".join(server.output), "failures.fifo is a FIFO queue")
    # The same failure with a standard queue as the destination does arrive (so the FIFO
    # queue's emptiness is the rule, not a slow delivery).
    lam.put_function_event_invoke_config(
        FunctionName="fifo-dest",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": queue_arn("failures-standard")}},
    )
    lam.invoke(FunctionName="fifo-dest", InvocationType="Event", Payload=b"{}")
    records = drain(sqs, standard, 1)
    assert records[0]["json"]["requestContext"]["functionArn"].startswith(function_arn("fifo-dest"))
    assert receive_all(sqs, fifo) == []
