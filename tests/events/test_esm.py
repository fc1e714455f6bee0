"""SQS event source mappings: the operations, and pollers feeding a function from queues."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser.models import SqsModel

from lamina.errors import InvalidParameterValue, ResourceConflict, ResourceNotFound
from lamina.events.esm.clients import Boto3QueueClient, EmbeddedQueueClient, QueueClient
from lamina.events.esm.event import QueueMessage, failed_message_ids, held_back_in_groups
from lamina.events.esm.operations import MappingOperations
from lamina.events.esm.poller import MappingManager
from lamina.events.esm.store import MappingStore
from tests.events.helpers import Call, ScriptedFunction
from tests.services.sqs_fixtures import CREDS, SqsServer, start_sqs

ACCOUNT = "000000000000"
FN_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:consumer"
QUEUE_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"


def resolve(fn: str) -> tuple[str, str | None, str]:
    name, _, qualifier = (
        fn.rpartition(":function:")[2].partition(":") if ":" in fn else (fn, "", "")
    )
    if name != "consumer":
        raise ResourceNotFound(f"Function not found: {fn}")
    return name, qualifier or None, FN_ARN + (f":{qualifier}" if qualifier else "")


@pytest.fixture
def ops(tmp_path: Path) -> Iterator[MappingOperations]:
    store = MappingStore(tmp_path / "esm.db")
    yield MappingOperations(store, resolve, "us-east-1", ACCOUNT, clock=lambda: 1700.0)
    store.close()


def test_create_returns_creating_with_lambda_defaults(ops: MappingOperations) -> None:
    status, m = ops.handle(
        "POST", None, {}, {"EventSourceArn": QUEUE_ARN, "FunctionName": "consumer"}
    )
    assert status == 202
    assert m["State"] == "Creating" and m["BatchSize"] == 10
    assert m["MaximumBatchingWindowInSeconds"] == 0 and m["FunctionResponseTypes"] == []
    assert m["FunctionArn"] == FN_ARN and m["EventSourceArn"] == QUEUE_ARN
    assert m["EventSourceMappingArn"].endswith(f":event-source-mapping:{m['UUID']}")
    assert ops.handle("GET", m["UUID"], {})[1]["UUID"] == m["UUID"]
    listed = ops.handle("GET", None, {"FunctionName": "consumer"})[1]["EventSourceMappings"]
    assert [x["UUID"] for x in listed] == [m["UUID"]]
    with pytest.raises(ResourceConflict, match="already exists"):
        ops.create({"EventSourceArn": QUEUE_ARN, "FunctionName": "consumer"})


def test_create_validates_like_lambda(ops: MappingOperations) -> None:
    base = {"EventSourceArn": QUEUE_ARN, "FunctionName": "consumer"}
    with pytest.raises(InvalidParameterValue, match="greater than 0 if maximum batch size"):
        ops.create({**base, "BatchSize": 100})
    with pytest.raises(InvalidParameterValue, match="2 validation errors"):
        ops.create({**base, "BatchSize": 0, "MaximumBatchingWindowInSeconds": 301})
    with pytest.raises(InvalidParameterValue, match="greater than or equal to 2"):
        ops.create({**base, "ScalingConfig": {"MaximumConcurrency": 1}})
    with pytest.raises(InvalidParameterValue, match="enum value set"):
        ops.create({**base, "FunctionResponseTypes": ["Nope"]})
    with pytest.raises(InvalidParameterValue, match="Unsupported event source"):
        ops.create({**base, "EventSourceArn": "arn:aws:kinesis:us-east-1:1:stream/s"})
    with pytest.raises(ResourceNotFound):
        ops.create({**base, "FunctionName": "other"})
    _, m = ops.create(
        {
            **base,
            "BatchSize": 100,
            "MaximumBatchingWindowInSeconds": 5,
            "ScalingConfig": {"MaximumConcurrency": 2},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        }
    )
    assert m["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert m["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_update_and_delete_move_through_states(ops: MappingOperations) -> None:
    _, m = ops.create({"EventSourceArn": QUEUE_ARN, "FunctionName": "consumer"})
    with pytest.raises(ResourceConflict, match="Creating"):
        ops.update(m["UUID"], {"BatchSize": 5})
    stored = ops.store.mappings[m["UUID"]]
    from dataclasses import replace

    ops.store.save(replace(stored, state="Enabled"))
    assert ops.update(m["UUID"], {"Enabled": False})[1]["State"] == "Disabling"
    ops.store.save(replace(ops.store.mappings[m["UUID"]], state="Disabled"))
    assert ops.update(m["UUID"], {"BatchSize": 3})[1]["State"] == "Updating"
    assert ops.handle("DELETE", m["UUID"], {})[1]["State"] == "Deleting"


def test_batch_item_failure_answers_follow_lambdas_rules() -> None:
    ids = {"a", "b"}
    assert failed_message_ids(b'{"batchItemFailures":[]}', ids) == set()
    assert failed_message_ids(b'{"batchItemFailures":null}', ids) == set()
    assert failed_message_ids(b"null", ids) == set()
    assert failed_message_ids(b'{"batchItemFailures":[{"itemIdentifier":"b"}]}', ids) == {"b"}
    assert failed_message_ids(b'{"batchItemFailures":[{"itemIdentifier":""}]}', ids) is None
    assert failed_message_ids(b'{"batchItemFailures":[{"itemIdentifier":"zz"}]}', ids) is None
    assert failed_message_ids(b'{"batchItemFailures":[{"id":"a"}]}', ids) is None
    assert failed_message_ids(b"not json", ids) is None


@pytest.fixture
def sqs(tmp_path: Path) -> Iterator[SqsServer]:
    yield from start_sqs(tmp_path / "embedded")


def run_mapping(
    sqs: SqsServer,
    tmp_path: Path,
    fn: ScriptedFunction,
    body: dict[str, Any],
    until: Any,
    client_for: Any = None,
) -> dict[str, Any]:
    """Create a mapping, run the manager on the SQS server's loop until ``until()``."""

    async def main() -> dict[str, Any]:
        store = MappingStore(tmp_path / "esm.db")
        ops = MappingOperations(store, resolve, "us-east-1", ACCOUNT)

        def embedded(arn: str) -> QueueClient:
            return EmbeddedQueueClient(sqs.service, arn.rsplit(":", 1)[1])

        manager = MappingManager(store, client_for or embedded, fn, "us-east-1")
        ops.changed = manager.changed
        manager.start()
        _, m = ops.create({"FunctionName": "consumer", **body})
        for _ in range(1000):
            if await asyncio.to_thread(until):
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError(
                f"mapping did not get there: {[[r['body'] for r in json.loads(c.payload)['Records']] for c in fn.calls]}"
            )
        shape = store.mappings[m["UUID"]].shape("us-east-1", ACCOUNT)
        await manager.close()
        store.close()
        return shape

    return sqs.loop.run(main())


def test_a_mapping_delivers_batches_as_the_sqs_event_and_deletes_them(
    sqs: SqsServer, tmp_path: Path
) -> None:
    c = sqs.client()
    url = c.create_queue(QueueName="jobs")["QueueUrl"]
    for i in range(25):
        c.send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"n": i}),
            MessageAttributes={"kind": {"DataType": "String", "StringValue": "job"}},
        )
    fn = ScriptedFunction()
    delivered: list[int] = []

    def seen() -> bool:
        delivered[:] = [
            json.loads(r["body"])["n"] for call in fn.calls for r in call.json()["Records"]
        ]
        return len(delivered) >= 25

    shape = run_mapping(sqs, tmp_path, fn, {"EventSourceArn": QUEUE_ARN, "BatchSize": 10}, seen)
    assert sorted(delivered) == list(range(25))
    assert {c.trigger for c in fn.calls} == {"pubsub"}  # an SQS mapping's faas.trigger
    assert all(len(call.json()["Records"]) <= 10 for call in fn.calls)
    event = SqsModel(**fn.calls[0].json())
    record = event.Records[0]
    assert record.eventSource == "aws:sqs" and record.eventSourceARN == QUEUE_ARN
    assert record.awsRegion == "us-east-1"
    assert record.messageAttributes["kind"].stringValue == "job"
    raw = fn.calls[0].json()["Records"][0]
    assert raw["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(
        raw["attributes"]
    )
    assert shape["State"] == "Enabled"
    attrs = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"  # all were deleted


def test_partial_batch_failures_come_back_and_end_in_the_dlq(
    sqs: SqsServer, tmp_path: Path
) -> None:
    c = sqs.client()
    dlq = c.create_queue(QueueName="jobs-dlq")["QueueUrl"]
    c.create_queue(
        QueueName="jobs",
        Attributes={
            "VisibilityTimeout": "2",
            "RedrivePolicy": json.dumps(
                {
                    "deadLetterTargetArn": f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs-dlq",
                    "maxReceiveCount": 2,
                }
            ),
        },
    )
    url = c.get_queue_url(QueueName="jobs")["QueueUrl"]
    for body in ("good-1", "bad", "good-2"):
        c.send_message(QueueUrl=url, MessageBody=body)

    def behaviour(call: Call) -> bytes:
        records = call.json()["Records"]
        failures = [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]
        return json.dumps({"batchItemFailures": failures}).encode()

    fn = ScriptedFunction(behaviour)

    def dead_lettered() -> bool:
        a = c.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        return bool(a["Attributes"]["ApproximateNumberOfMessages"] == "1")

    run_mapping(
        sqs,
        tmp_path,
        fn,
        {
            "EventSourceArn": QUEUE_ARN,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
        dead_lettered,
    )
    bodies = [r["body"] for call in fn.calls for r in call.json()["Records"]]
    assert bodies.count("good-1") == 1 and bodies.count("good-2") == 1
    assert bodies.count("bad") == 2  # received twice, then moved by the redrive policy
    assert c.receive_message(QueueUrl=dlq)["Messages"][0]["Body"] == "bad"


def test_a_mapping_can_poll_an_external_sqs_endpoint(sqs: SqsServer, tmp_path: Path) -> None:
    # Another SQS-compatible server (another account) stands in for an external service.
    gen = start_sqs(tmp_path / "external", account="111111111111")
    external = next(gen)
    try:
        ext = external.client()
        url = ext.create_queue(QueueName="outside")["QueueUrl"]
        ext.send_message(QueueUrl=url, MessageBody="from afar")
        arn = "arn:aws:sqs:us-east-1:111111111111:outside"
        fn = ScriptedFunction()

        def client_for(a: str) -> QueueClient:
            assert a == arn
            return Boto3QueueClient(a, external.url, CREDS)

        run_mapping(
            sqs, tmp_path, fn, {"EventSourceArn": arn}, lambda: len(fn.calls) >= 1, client_for
        )
        record = fn.calls[0].json()["Records"][0]
        assert record["body"] == "from afar" and record["eventSourceARN"] == arn
        SqsModel(**fn.calls[0].json())
    finally:
        with pytest.raises(StopIteration):
            next(gen)


FIFO_ARN = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs.fifo"


def test_a_fifo_mapping_takes_at_most_ten_and_no_batching_window(ops: MappingOperations) -> None:
    base = {"EventSourceArn": FIFO_ARN, "FunctionName": "consumer"}
    with pytest.raises(InvalidParameterValue, match="Batching window is not supported for FIFO"):
        ops.create({**base, "BatchSize": 100, "MaximumBatchingWindowInSeconds": 5})
    with pytest.raises(InvalidParameterValue, match="greater than 0 if maximum batch size"):
        ops.create({**base, "BatchSize": 11})
    _, m = ops.create({**base, "BatchSize": 10})
    assert m["BatchSize"] == 10


def test_a_failed_record_holds_back_the_rest_of_its_group_only() -> None:
    def msg(mid: str, group: str) -> QueueMessage:
        return QueueMessage(mid, "h", "b", "m", {"MessageGroupId": group})

    batch = [msg("a1", "a"), msg("b1", "b"), msg("a2", "a"), msg("b2", "b"), msg("a3", "a")]
    assert held_back_in_groups(batch, {"a2"}) == {"a2", "a3"}
    assert held_back_in_groups(batch, {"b1"}) == {"b1", "b2"}
    assert held_back_in_groups(batch, set()) == set()


def fifo_jobs(c: Any, groups: str, per_group: int) -> str:
    """A ``jobs.fifo`` queue (visibility 1 s) holding ``<group><i>`` for each group,
    interleaved; its URL."""
    url: str = c.create_queue(
        QueueName="jobs.fifo", Attributes={"FifoQueue": "true", "VisibilityTimeout": "1"}
    )["QueueUrl"]
    for i in range(per_group):
        for group in groups:
            c.send_message(
                QueueUrl=url,
                MessageBody=f"{group}{i}",
                MessageGroupId=group,
                MessageDeduplicationId=f"{group}{i}",
            )
    return url


def drained(c: Any, url: str) -> Callable[[], bool]:
    """Whether the queue at ``url`` holds nothing, visible or in flight."""

    def empty() -> bool:
        a = c.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return bool(
            a["ApproximateNumberOfMessages"] == "0"
            and a["ApproximateNumberOfMessagesNotVisible"] == "0"
        )

    return empty


def test_a_fifo_mapping_keeps_each_group_in_order_and_holds_back_a_failed_group(
    sqs: SqsServer, tmp_path: Path
) -> None:
    c = sqs.client()
    url = fifo_jobs(c, "abc", 5)

    def behaviour(call: Call) -> bytes:
        # b1 fails the first time; the function reports it alone, as if b2.. had worked
        failures = [
            {"itemIdentifier": r["messageId"]}
            for r in call.json()["Records"]
            if r["body"] == "b1" and r["attributes"]["ApproximateReceiveCount"] == "1"
        ]
        return json.dumps({"batchItemFailures": failures}).encode()

    fn = ScriptedFunction(behaviour)

    run_mapping(
        sqs,
        tmp_path,
        fn,
        {"EventSourceArn": FIFO_ARN, "FunctionResponseTypes": ["ReportBatchItemFailures"]},
        drained(c, url),
    )
    records = [r for call in fn.calls for r in call.json()["Records"]]
    counts: dict[str, int] = {}
    for r in records:
        counts[r["body"]] = counts.get(r["body"], 0) + 1
    # b1's failure held b2-b4 back (they came again after it); no other group was touched
    assert counts == {f"{g}{i}": 2 if g == "b" and i >= 1 else 1 for g in "abc" for i in range(5)}
    for group in "abc":
        mine = [r for r in records if r["attributes"]["MessageGroupId"] == group]
        last = {r["body"]: n for n, r in enumerate(mine)}
        # the deliveries that stood are in the order the group was sent
        assert sorted(last, key=last.__getitem__) == [f"{group}{i}" for i in range(5)]
        sequences = [int(r["attributes"]["SequenceNumber"]) for r in mine]
        assert sequences[:5] == sorted(sequences[:5])
    first = fn.calls[0].json()["Records"][0]
    assert first["attributes"]["MessageDeduplicationId"] == first["body"]
    assert first["eventSourceARN"] == FIFO_ARN
    SqsModel(**fn.calls[0].json())  # powertools' model of the event takes the FIFO record


def test_a_failed_fifo_batch_comes_back_first_and_blocks_only_its_groups(
    sqs: SqsServer, tmp_path: Path
) -> None:
    c = sqs.client()
    url = fifo_jobs(c, "ab", 4)

    def behaviour(call: Call) -> object:
        # the first batch holding a1 fails as a whole (the function raised)
        records = call.json()["Records"]
        first_try = any(
            r["body"] == "a1" and r["attributes"]["ApproximateReceiveCount"] == "1" for r in records
        )
        return "error" if first_try else "ok"

    fn = ScriptedFunction(behaviour)

    run_mapping(sqs, tmp_path, fn, {"EventSourceArn": FIFO_ARN, "BatchSize": 2}, drained(c, url))
    batches = [[r["body"] for r in call.json()["Records"]] for call in fn.calls]
    failed = next(b for b in batches if "a1" in b)
    # batches of two: one group each, in order; the failed one came back whole, first
    assert failed == ["a0", "a1"]
    a_batches = [b for b in batches if b[0].startswith("a")]
    assert a_batches == [["a0", "a1"], ["a0", "a1"], ["a2", "a3"]]
    assert [b for b in batches if b[0].startswith("b")] == [["b0", "b1"], ["b2", "b3"]]
