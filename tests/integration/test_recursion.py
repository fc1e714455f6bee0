"""Recursive loop detection: a function that feeds the queue (or the async invokes) that
start it is stopped once it has run 16 more times in one chain of requests — the stopped
message goes to the queue's dead-letter queue, the stopped event to the on-failure
destination — unless its ``RecursiveLoop`` is ``Allow``. Real server, real boto3 inside
and outside the function (the SDK hands ``_X_AMZN_TRACE_ID`` on with every call)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.events.live import wait_until
from tests.integration.harness import LaminaProcess, aws_client, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

# Each hop prints itself and, below the last hop, starts the next one the way it started:
# a message to the queue it came from, or an asynchronous invoke of itself.
CODE = """
import json
import boto3

LAST_HOP = 20
sqs = boto3.client("sqs")
lam = boto3.client("lambda")

def handler(event, context):
    if "Records" in event:
        for record in event["Records"]:
            body = json.loads(record["body"])
            print("HOP", body["run"], body["hop"])
            if body["hop"] < LAST_HOP:
                sqs.send_message(QueueUrl=body["queue"],
                                 MessageBody=json.dumps({**body, "hop": body["hop"] + 1}))
    else:
        print("HOP", event["run"], event["hop"])
        if event["hop"] < LAST_HOP:
            lam.invoke(FunctionName=context.function_name, InvocationType="Event",
                       Payload=json.dumps({**event, "hop": event["hop"] + 1}))
"""
LAST_HOP = 20
ACCOUNT = "000000000000"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    env = {"LAMINA_ASYNC_RETRY_DELAY_1_S": "0.2", "LAMINA_ASYNC_RETRY_DELAY_2_S": "0.2"}
    proc = LaminaProcess(tmp_path_factory.mktemp("recursion"), env).start()
    try:
        yield proc
    finally:
        proc.stop()


def hops(server: LaminaProcess, function: str, run: str) -> list[int]:
    logs = aws_client(server, "logs")
    try:
        events = logs.filter_log_events(logGroupName=f"/aws/lambda/{function}")["events"]
    except logs.exceptions.ResourceNotFoundException:
        return []
    out = []
    for e in events:
        words = e["message"].split()
        if words[:2] == ["HOP", run]:
            out.append(int(words[2]))
    return sorted(out)


def drops(server: LaminaProcess, function: str) -> float:
    """``RecursiveInvocationsDropped``'s Sum for ``function`` over the last hour."""
    now = time.time()
    points = aws_client(server, "cloudwatch").get_metric_statistics(
        Namespace="AWS/Lambda",
        MetricName="RecursiveInvocationsDropped",
        Dimensions=[{"Name": "FunctionName", "Value": function}],
        StartTime=now - 3600,
        EndTime=now + 60,
        Period=3600,
        Statistics=["Sum"],
    )["Datapoints"]
    return float(sum(p["Sum"] for p in points))


def one_message(sqs: Any, url: str) -> dict[str, Any]:
    got: list[dict[str, Any]] = []

    def arrived() -> bool:
        got.extend(sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1).get("Messages", []))
        return bool(got)

    wait_until(arrived, limit_s=120, what=f"a message in {url}")
    return got[0]


def queue_loop(server: LaminaProcess, function: str) -> tuple[Any, str, str]:
    """``function`` mapped to a queue whose redrive policy moves a message received twice
    to a dead-letter queue; returns (sqs client, the queue's URL, the DLQ's URL)."""
    sqs = aws_client(server, "sqs")
    dlq = sqs.create_queue(QueueName=f"{function}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])
    policy = {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": 1}
    url = sqs.create_queue(
        QueueName=f"{function}-q",
        Attributes={"VisibilityTimeout": "3", "RedrivePolicy": json.dumps(policy)},
    )["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    server.create(function, python_zip(CODE))
    aws_client(server, "lambda").create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn["QueueArn"], BatchSize=1
    )
    return sqs, url, dlq


def test_the_recursion_config_is_lambdas(server: LaminaProcess) -> None:
    lam = aws_client(server, "lambda")
    server.create("configured", python_zip(CODE))
    assert lam.get_function_recursion_config(FunctionName="configured")["RecursiveLoop"] == (
        "Terminate"
    )
    out = lam.put_function_recursion_config(FunctionName="configured", RecursiveLoop="Allow")
    assert out["RecursiveLoop"] == "Allow"
    assert lam.get_function_recursion_config(FunctionName="configured")["RecursiveLoop"] == (
        "Allow"
    )
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as bad:
        lam.put_function_recursion_config(FunctionName="configured", RecursiveLoop="Sometimes")
    assert "Member must satisfy enum value set: [Allow, Terminate]" in str(bad.value)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_recursion_config(FunctionName="nobody")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.get_function_recursion_config(FunctionName="configured:1")
    lam.delete_function(FunctionName="configured")
    server.create("configured", python_zip(CODE))  # a new function starts at Terminate
    assert lam.get_function_recursion_config(FunctionName="configured")["RecursiveLoop"] == (
        "Terminate"
    )


def test_a_queue_loop_is_stopped_after_16_more_runs_and_its_message_dead_lettered(
    server: LaminaProcess,
) -> None:
    sqs, url, dlq = queue_loop(server, "queue-looper")
    run = secrets.token_hex(4)
    # The first message carries no trace: its run starts the chain; 16 more are counted.
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"run": run, "hop": 0, "queue": url}))
    stopped = one_message(sqs, dlq)
    assert json.loads(stopped["Body"])["hop"] == 17
    assert hops(server, "queue-looper", run) == list(range(17))  # hops 0 to 16 ran, once each
    # Stopped once: received again, the message went to the DLQ, not to the function.
    wait_until(lambda: drops(server, "queue-looper") > 0, what="RecursiveInvocationsDropped")
    assert drops(server, "queue-looper") == 1


def test_a_function_allowed_to_loop_runs_on(server: LaminaProcess) -> None:
    sqs, url, dlq = queue_loop(server, "allowed-looper")
    lam = aws_client(server, "lambda")
    lam.put_function_recursion_config(FunctionName="allowed-looper", RecursiveLoop="Allow")
    run = secrets.token_hex(4)
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"run": run, "hop": 0, "queue": url}))
    wait_until(
        lambda: LAST_HOP in hops(server, "allowed-looper", run),
        limit_s=120,
        what="the allowed loop's last hop",
    )
    assert hops(server, "allowed-looper", run) == list(range(LAST_HOP + 1))
    assert "Messages" not in sqs.receive_message(QueueUrl=dlq)
    assert drops(server, "allowed-looper") == 0


def test_an_async_self_invoke_loop_is_stopped_into_its_on_failure_destination(
    server: LaminaProcess,
) -> None:
    sqs = aws_client(server, "sqs")
    failures = sqs.create_queue(QueueName="self-invoker-failures")["QueueUrl"]
    failures_arn = sqs.get_queue_attributes(QueueUrl=failures, AttributeNames=["QueueArn"])
    server.create("self-invoker", python_zip(CODE))
    lam = aws_client(server, "lambda")
    lam.put_function_event_invoke_config(
        FunctionName="self-invoker",
        DestinationConfig={"OnFailure": {"Destination": failures_arn["Attributes"]["QueueArn"]}},
    )
    run = secrets.token_hex(4)
    lam.invoke(
        FunctionName="self-invoker",
        InvocationType="Event",
        Payload=json.dumps({"run": run, "hop": 0}),
    )
    record = json.loads(one_message(sqs, failures)["Body"])
    assert record["requestContext"]["condition"] == "RecursiveInvocationException"
    assert record["requestContext"]["approximateInvokeCount"] == 0  # it never ran
    assert record["requestPayload"] == {"run": run, "hop": 17}
    assert record["requestContext"]["functionArn"] == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:self-invoker:$LATEST"
    )
    assert hops(server, "self-invoker", run) == list(range(17))
    wait_until(lambda: drops(server, "self-invoker") > 0, what="RecursiveInvocationsDropped")
    assert drops(server, "self-invoker") == 1
