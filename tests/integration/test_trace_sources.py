"""X-Ray traces through the event sources, as AWS's services pass them on: an S3
notification continues the ``PutObject`` call's ``X-Amzn-Trace-Id``, an EventBridge rule's
target the ``PutEvents`` call's (or the entry's ``TraceHeader``), a queue message the
``SendMessage`` call's or the notifying service's (``AWSTraceHeader``); a schedule starts a
new trace. A malformed header is never handed on. The ledger keeps what started each
invoke (``faas_trigger``). Real server, real boto3 clients, a real Python function that
prints the ``_X_AMZN_TRACE_ID`` it was given."""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import wait_until
from tests.integration.harness import LaminaProcess, aws_client, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Names each invoke by its event (an S3 key, an SQS body's S3 key or event detail, a put
# event's detail, a schedule's Input) and prints the trace it was handed.
CODE = """
import json
import os

def tag_of(event):
    records = event.get("Records")
    if records and "s3" in records[0]:
        return records[0]["s3"]["object"]["key"]
    if records:  # an SQS message: raw text, an S3 notification or an EventBridge event
        try:
            body = json.loads(records[0]["body"])
        except ValueError:
            return records[0]["body"]
        return tag_of(body) if isinstance(body, dict) else records[0]["body"]
    if isinstance(event.get("detail"), dict):
        return event["detail"]["tag"]
    return event.get("tag", "url")

def handler(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    tag = tag_of(event)
    print("TRACE", tag, trace, context.aws_request_id, "TraceHeader" in json.dumps(event))
    return {"trace": trace, "tag": tag, "request_id": context.aws_request_id}
"""
ACCOUNT = "000000000000"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:tracer"
FRESH = re.compile(r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0")


def new_root() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def header(root: str) -> str:
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"


def fields(trace: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in trace.split(";"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    # rate(1 minute) fires every second.
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "60"}
    proc = LaminaProcess(tmp_path_factory.mktemp("trace-sources"), env).start()
    try:
        proc.create("tracer", python_zip(CODE))
        yield proc
    finally:
        proc.stop()


def traced(server: LaminaProcess, service: str, operation: str, value: str | None) -> Any:
    """A boto3 client whose ``operation`` calls send ``X-Amzn-Trace-Id: value`` (boto3 has
    no parameter for it; the X-Ray SDK adds it the same way)."""
    c = aws_client(server, service)
    if value is not None:

        def add(request: Any, **_: Any) -> None:
            request.headers["X-Amzn-Trace-Id"] = value

        c.meta.events.register(f"before-sign.{service}.{operation}", add)
    return c


class Seen:
    """What the function printed for a tag: (trace, request id, whether the event
    carried a TraceHeader), from its CloudWatch Logs group."""

    def __init__(self, server: LaminaProcess) -> None:
        self.logs = aws_client(server, "logs")

    def __call__(self, tag: str) -> tuple[str, str, bool]:
        found: list[tuple[str, str, bool]] = []

        def printed() -> bool:
            try:
                events = self.logs.filter_log_events(logGroupName="/aws/lambda/tracer")["events"]
            except self.logs.exceptions.ResourceNotFoundException:
                return False
            for e in events:
                words = e["message"].split()
                if words[:2] == ["TRACE", tag]:
                    found.append((words[2], words[3], words[4] == "True"))
                    return True
            return False

        wait_until(printed, what=f"the function's trace for {tag}")
        return found[0]


def ledger_trigger(server: LaminaProcess, request_id: str) -> str:
    """The ``faas_trigger`` the ledger keeps for ``request_id`` (written in batches)."""
    found: list[str] = []

    def written() -> bool:
        uri = f"{(server.data_dir / 'ledger.db').resolve().as_uri()}?mode=ro"
        with closing(sqlite3.connect(uri, uri=True)) as db:
            rows = db.execute(
                "SELECT faas_trigger FROM invocations WHERE request_id = ?", (request_id,)
            ).fetchall()
        found[:] = [r[0] for r in rows]
        return bool(found)

    wait_until(written, what=f"the ledger's row of {request_id}")
    assert len(set(found)) == 1, found
    return found[0]


def notify(server: LaminaProcess, bucket: str, configuration: dict[str, Any]) -> None:
    s3 = aws_client(server, "s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)


def test_put_object_continues_its_trace_into_the_notified_function(
    server: LaminaProcess,
) -> None:
    notify(
        server,
        "uploads",
        {
            "LambdaFunctionConfigurations": [
                {"LambdaFunctionArn": FUNCTION_ARN, "Events": ["s3:ObjectCreated:*"]}
            ]
        },
    )
    seen = Seen(server)
    root, junk_root = new_root(), new_root()
    sent = header(root)
    traced(server, "s3", "PutObject", sent).put_object(Bucket="uploads", Key="s3-traced", Body=b"")
    # A valid Root among fields that are not: only Root (and Sampled) go on, never the text.
    junk = f"Root={junk_root};Parent=<script>;Sampled=1;Evil=x"
    traced(server, "s3", "PutObject", junk).put_object(Bucket="uploads", Key="s3-junk", Body=b"")
    bad = "Root=1-nothex-zzzz;Parent=53995c3f42cd8ad8;Sampled=1"
    traced(server, "s3", "PutObject", bad).put_object(Bucket="uploads", Key="s3-bad", Body=b"")
    traced(server, "s3", "PutObject", None).put_object(Bucket="uploads", Key="s3-plain", Body=b"")
    # CopyObject notifies too (ObjectCreated:Copy), with the copy call's trace.
    copy_root = new_root()
    traced(server, "s3", "CopyObject", header(copy_root)).copy_object(
        Bucket="uploads", Key="s3-copy", CopySource={"Bucket": "uploads", "Key": "s3-plain"}
    )

    trace, rid, _ = seen("s3-traced")
    got = fields(trace)
    assert got["Root"] == root and got["Sampled"] == "1"
    assert got["Parent"] != fields(sent)["Parent"] and re.fullmatch("[0-9a-f]{16}", got["Parent"])
    assert ledger_trigger(server, rid) == "datasource"

    trace, _, _ = seen("s3-junk")
    assert fields(trace)["Root"] == junk_root and "script" not in trace and "Evil" not in trace
    # The valid fields only, and the chain's count of this function (recursive loop
    # detection counts an S3 notification): the junk never reaches the function.
    assert set(fields(trace)) == {"Root", "Parent", "Sampled", "Lineage"}
    assert re.fullmatch(r"[0-9a-f]{8}:1", fields(trace)["Lineage"])

    fresh = {seen("s3-bad")[0], seen("s3-plain")[0]}
    assert all(FRESH.fullmatch(t) for t in fresh) and len(fresh) == 2
    assert not any("nothex" in t or root in t for t in fresh)

    assert fields(seen("s3-copy")[0])["Root"] == copy_root


def test_put_events_continue_the_calls_or_the_entrys_trace(server: LaminaProcess) -> None:
    events = aws_client(server, "events")
    events.put_rule(Name="traced", EventPattern=json.dumps({"source": ["traced"]}))
    events.put_targets(Rule="traced", Targets=[{"Id": "fn", "Arn": FUNCTION_ARN}])
    seen = Seen(server)
    call_root, entry_root = new_root(), new_root()

    def entry(tag: str, **more: str) -> dict[str, Any]:
        return {"Source": "traced", "DetailType": "t", "Detail": json.dumps({"tag": tag}), **more}

    answer = traced(server, "events", "PutEvents", header(call_root)).put_events(
        Entries=[
            entry("eb-entry", TraceHeader=header(entry_root)),  # the entry's wins
            entry("eb-call"),
            entry("eb-bad-entry", TraceHeader="Root=1-zz;Sampled=1"),  # dropped: the call's
        ]
    )
    assert answer["FailedEntryCount"] == 0
    traced(server, "events", "PutEvents", "Root=garbage").put_events(Entries=[entry("eb-bad")])

    trace, rid, carried = seen("eb-entry")
    assert fields(trace)["Root"] == entry_root and fields(trace)["Sampled"] == "1"
    assert not carried  # the header is not put in the event, as in EventBridge
    assert ledger_trigger(server, rid) == "pubsub"
    assert fields(seen("eb-call")[0])["Root"] == call_root
    assert fields(seen("eb-bad-entry")[0])["Root"] == call_root
    bad = seen("eb-bad")[0]
    assert FRESH.fullmatch(bad) and "garbage" not in bad


def test_queues_carry_the_trace_to_their_consumer(server: LaminaProcess) -> None:
    """A queue that S3 notifies, that a rule targets, or that a client sends to with an
    ``X-Amzn-Trace-Id`` header: the message's ``AWSTraceHeader`` continues the trace into
    the function its event source mapping invokes."""
    sqs = aws_client(server, "sqs")
    url = sqs.create_queue(QueueName="relay")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:relay"
    aws_client(server, "lambda").create_event_source_mapping(
        FunctionName="tracer", EventSourceArn=queue_arn, BatchSize=1
    )
    seen = Seen(server)
    notify(
        server,
        "to-queue",
        {"QueueConfigurations": [{"QueueArn": queue_arn, "Events": ["s3:ObjectCreated:*"]}]},
    )
    events = aws_client(server, "events")
    events.put_rule(Name="to-queue", EventPattern=json.dumps({"source": ["queued"]}))
    events.put_targets(Rule="to-queue", Targets=[{"Id": "q", "Arn": queue_arn}])

    s3_root, eb_root, send_root, own_root = (new_root() for _ in range(4))
    traced(server, "s3", "PutObject", header(s3_root)).put_object(
        Bucket="to-queue", Key="via-s3", Body=b""
    )
    traced(server, "events", "PutEvents", header(eb_root)).put_events(
        Entries=[{"Source": "queued", "DetailType": "t", "Detail": '{"tag": "via-rule"}'}]
    )
    sender = traced(server, "sqs", "SendMessage", header(send_root))
    sender.send_message(QueueUrl=url, MessageBody="via-send")
    # A message's own AWSTraceHeader wins over the call's header, as in SQS.
    sender.send_message(
        QueueUrl=url,
        MessageBody="via-attribute",
        MessageSystemAttributes={
            "AWSTraceHeader": {"StringValue": header(own_root), "DataType": "String"}
        },
    )
    traced(server, "sqs", "SendMessage", "Root=nope").send_message(
        QueueUrl=url, MessageBody="via-bad-send"
    )

    trace, rid, _ = seen("via-s3")
    assert fields(trace)["Root"] == s3_root
    assert ledger_trigger(server, rid) == "pubsub"
    assert fields(seen("via-rule")[0])["Root"] == eb_root
    assert fields(seen("via-send")[0])["Root"] == send_root
    assert fields(seen("via-attribute")[0])["Root"] == own_root
    assert FRESH.fullmatch(seen("via-bad-send")[0])


# Answers with the trace it was handed, or fails with it as the error message: an async
# invoke's destination record carries either (responsePayload).
DEST_CODE = """
import os

def handler(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    if event.get("fail"):
        raise RuntimeError(trace)
    return {"trace": trace}
"""


def messages(sqs: Any, url: str) -> list[dict[str, Any]]:
    """The next message(s) of ``url``, waited for, with their system attributes."""
    got: list[dict[str, Any]] = []

    def came() -> bool:
        got.extend(
            sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], WaitTimeSeconds=1
            ).get("Messages", [])
        )
        return bool(got)

    wait_until(came, what=f"a message in {url}")
    return got


def test_destination_and_dead_letter_messages_continue_the_invocations_trace(
    server: LaminaProcess,
) -> None:
    """An Event invoke's destination record (a queue's message, an event bus's event that a
    rule hands to a queue) and its dead-letter message carry the trace of the invocation
    they report, the Lambda span (the Parent the function was handed) as their parent, as
    Lambda passes its trace to the services it calls; an invoke that came without a trace
    passes on the one Lamina started for it."""
    sqs = aws_client(server, "sqs")
    lam = aws_client(server, "lambda")
    events = aws_client(server, "events")
    ok = sqs.create_queue(QueueName="dest-ok")["QueueUrl"]
    dlq = sqs.create_queue(QueueName="dest-dlq")["QueueUrl"]
    via_bus = sqs.create_queue(QueueName="dest-via-bus")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:"
    events.create_event_bus(Name="dest-bus")
    events.put_rule(
        Name="failures",
        EventBusName="dest-bus",
        EventPattern=json.dumps({"source": ["lambda"]}),
    )
    events.put_targets(
        Rule="failures", EventBusName="dest-bus", Targets=[{"Id": "q", "Arn": arn + "dest-via-bus"}]
    )
    server.create(
        "dest-tracer", python_zip(DEST_CODE), DeadLetterConfig={"TargetArn": arn + "dest-dlq"}
    )
    lam.put_function_event_invoke_config(
        FunctionName="dest-tracer",
        MaximumRetryAttempts=0,
        DestinationConfig={
            "OnSuccess": {"Destination": arn + "dest-ok"},
            "OnFailure": {"Destination": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/dest-bus"},
        },
    )

    def invoke(trace: str | None, payload: dict[str, Any]) -> None:
        traced(server, "lambda", "Invoke", trace).invoke(
            FunctionName="dest-tracer", InvocationType="Event", Payload=json.dumps(payload)
        )

    # Success: the OnSuccess queue's message.
    root = new_root()
    invoke(header(root), {})
    (msg,) = messages(sqs, ok)
    handed = json.loads(msg["Body"])["responsePayload"]["trace"]
    assert fields(handed)["Root"] == root and fields(handed)["Sampled"] == "1"
    # Exactly the header the function was handed: its Root, the Lambda span as Parent, its
    # Sampled, and the chain's Lineage (recursive loop detection) when it has one.
    assert msg["Attributes"]["AWSTraceHeader"] == handed

    # Failure: the dead-letter message and the OnFailure bus's event (its rule's queue).
    failed_root = new_root()
    invoke(header(failed_root), {"fail": True})
    (dead,) = messages(sqs, dlq)
    (forwarded,) = messages(sqs, via_bus)
    failed_handed = json.loads(forwarded["Body"])["detail"]["responsePayload"]["errorMessage"]
    assert fields(failed_handed)["Root"] == failed_root
    assert failed_handed != handed
    assert dead["Attributes"]["AWSTraceHeader"] == failed_handed
    assert forwarded["Attributes"]["AWSTraceHeader"] == failed_handed
    assert "TraceHeader" not in forwarded["Body"]  # not in the event, as EventBridge has it

    # No trace with the invoke: the destination continues the one Lamina started for it.
    invoke(None, {})
    (own,) = messages(sqs, ok)
    fresh = json.loads(own["Body"])["responsePayload"]["trace"]
    assert FRESH.match(fresh) and root not in fresh and failed_root not in fresh
    assert own["Attributes"]["AWSTraceHeader"] == fresh


def test_a_workflow_continues_its_start_calls_header_or_its_rules_trace(
    server: LaminaProcess,
) -> None:
    """StartExecution's ``X-Amzn-Trace-Id`` header (preferred over ``traceHeader`` in the
    body, as Step Functions documents), and a rule's state machine target, carry the trace
    into the execution's Lambda tasks."""
    sfn = aws_client(server, "stepfunctions")
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "tracer", "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="relay", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/r"
    )["stateMachineArn"]
    events = aws_client(server, "events")
    events.put_rule(Name="to-workflow", EventPattern=json.dumps({"source": ["flow"]}))
    events.put_targets(Rule="to-workflow", Targets=[{"Id": "sm", "Arn": machine}])
    seen = Seen(server)
    header_root, body_root, eb_root = new_root(), new_root(), new_root()

    traced(server, "stepfunctions", "StartExecution", header(header_root)).start_execution(
        stateMachineArn=machine, input='{"tag": "sfn-header"}', traceHeader=header(body_root)
    )
    traced(server, "events", "PutEvents", header(eb_root)).put_events(
        Entries=[{"Source": "flow", "DetailType": "t", "Detail": '{"tag": "sfn-rule"}'}]
    )
    trace, rid, _ = seen("sfn-header")
    assert fields(trace)["Root"] == header_root
    assert ledger_trigger(server, rid) == "other"  # a workflow's task, whoever started it
    assert fields(seen("sfn-rule")[0])["Root"] == eb_root


def test_schedules_start_new_traces_and_each_trigger_is_in_the_ledger(
    server: LaminaProcess,
) -> None:
    events = aws_client(server, "events")
    events.put_rule(Name="tick", ScheduleExpression="rate(1 minute)")
    events.put_targets(
        Rule="tick", Targets=[{"Id": "fn", "Arn": FUNCTION_ARN, "Input": '{"tag": "tick"}'}]
    )
    seen = Seen(server)
    trace, tick_rid, _ = seen("tick")
    events.disable_rule(Name="tick")
    assert FRESH.fullmatch(trace)

    lam = traced(server, "lambda", "Invoke", None)
    answer = lam.invoke(FunctionName="tracer", Payload=b'{"tag": "direct"}')
    direct = json.loads(answer["Payload"].read())
    lam.invoke(FunctionName="tracer", InvocationType="Event", Payload=b'{"tag": "async"}')
    url = lam.create_function_url_config(FunctionName="tracer", AuthType="NONE")["FunctionUrl"]
    with urllib.request.urlopen(url, timeout=60) as resp:
        by_url = json.loads(resp.read())
    assert {
        "tick": ledger_trigger(server, tick_rid),
        "direct": ledger_trigger(server, direct["request_id"]),
        "async": ledger_trigger(server, seen("async")[1]),
        "url": ledger_trigger(server, by_url["request_id"]),
    } == {"tick": "timer", "direct": "other", "async": "other", "url": "http"}


def test_a_queued_s3_events_trace_survives_a_restart(tmp_path: Path) -> None:
    """The notification waits in the durable async queue (reserved concurrency 0: every
    attempt is throttled) while the server restarts; once it runs, it continues the
    ``PutObject`` call's trace and the ledger says ``datasource``."""
    proc = LaminaProcess(tmp_path, {"LAMINA_ASYNC_THROTTLE_MAX_S": "0.3"}).start()
    try:
        proc.create("tracer", python_zip(CODE))
        aws_client(proc, "lambda").put_function_concurrency(
            FunctionName="tracer", ReservedConcurrentExecutions=0
        )
        notify(
            proc,
            "uploads",
            {
                "LambdaFunctionConfigurations": [
                    {"LambdaFunctionArn": FUNCTION_ARN, "Events": ["s3:ObjectCreated:*"]}
                ]
            },
        )
        root = new_root()
        sent = f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1;Extra=kept-out"
        traced(proc, "s3", "PutObject", sent).put_object(Bucket="uploads", Key="later", Body=b"")

        def stored() -> list[tuple[str, str]]:
            with closing(sqlite3.connect(tmp_path / "async-invokes.db")) as db:
                return db.execute("SELECT trace, faas_trigger FROM events").fetchall()

        wait_until(lambda: bool(stored()), what="the queued S3 event")
        # Kept rebuilt from its valid fields, not as the client wrote it.
        assert stored() == [(f"Root={root};Parent=53995c3f42cd8ad8;Sampled=1", "datasource")]
        proc.stop()
        proc.start()
        aws_client(proc, "lambda").delete_function_concurrency(FunctionName="tracer")
        trace, rid, _ = Seen(proc)("later")
        assert fields(trace)["Root"] == root and fields(trace)["Sampled"] == "1"
        assert ledger_trigger(proc, rid) == "datasource"
    finally:
        proc.stop()
