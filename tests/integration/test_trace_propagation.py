"""X-Ray traces continue into the function: the ``Root`` a caller sends arrives in the
function's ``_X_AMZN_TRACE_ID`` through every path that carries one — a synchronous and an
asynchronous Invoke (``X-Amzn-Trace-Id``), an SQS message (``AWSTraceHeader``), a function
URL request and a workflow's Lambda task (StartExecution's ``traceHeader``) — with Lamina's
own span as the ``Parent``. Real server, real boto3 clients, a real Python function."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, aws_client, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CODE = """
import os

def handler(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    records = event.get("Records") if isinstance(event, dict) else None
    tag = records[0]["body"] if records else (event or {}).get("tag", "url")
    print("TRACE", tag, trace)
    return {"trace": trace, "tag": tag}
"""
ACCOUNT = "000000000000"


def new_root() -> str:
    return f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"


def header(root: str) -> str:
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=1"


def root_of(trace: str) -> str:
    return dict(part.split("=", 1) for part in trace.split(";"))["Root"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("traces")).start()
    try:
        proc.create("tracer", python_zip(CODE))
        yield proc
    finally:
        proc.stop()


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service)


def with_trace(lam: Any, value: str) -> Callable[..., None]:
    """Make ``lam``'s calls send ``X-Amzn-Trace-Id: value`` (boto3 has no parameter)."""

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = value

    lam.meta.events.register("before-sign.lambda.Invoke", add)
    return add


def logged_trace(server: LaminaProcess, tag: str, timeout_s: float = 60) -> str:
    """The trace the function printed for ``tag`` (from its CloudWatch Logs group)."""
    logs = client(server, "logs")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            events = logs.filter_log_events(logGroupName="/aws/lambda/tracer")["events"]
        except logs.exceptions.ResourceNotFoundException:
            events = []
        for e in events:
            words = e["message"].split()
            if words[:2] == ["TRACE", tag]:
                return str(words[2])
        time.sleep(0.2)
    raise AssertionError(f"the function never logged a trace for {tag}")


def test_sync_and_async_invokes_continue_the_callers_trace(server: LaminaProcess) -> None:
    lam = client(server, "lambda")
    sent = header(root := new_root())
    with_trace(lam, sent)
    out = json.loads(
        lam.invoke(FunctionName="tracer", Payload=b'{"tag": "sync"}')["Payload"].read()
    )
    assert root_of(out["trace"]) == root
    assert out["trace"] != sent and out["trace"].endswith(";Sampled=1")  # our Parent

    lam2 = client(server, "lambda")
    with_trace(lam2, header(root2 := new_root()))
    lam2.invoke(FunctionName="tracer", InvocationType="Event", Payload=b'{"tag": "async"}')
    assert root_of(logged_trace(server, "async")) == root2

    # No header, or one that is not an X-Ray header: a new trace.
    plain = client(server, "lambda")
    fresh = json.loads(plain.invoke(FunctionName="tracer", Payload=b"{}")["Payload"].read())
    with_trace(plain, "Root=nonsense")
    bogus = json.loads(plain.invoke(FunctionName="tracer", Payload=b"{}")["Payload"].read())
    assert len({root_of(fresh["trace"]), root_of(bogus["trace"]), root, root2}) == 4


def test_an_sqs_message_continues_its_aws_trace_header(server: LaminaProcess) -> None:
    sqs = client(server, "sqs")
    url = sqs.create_queue(QueueName="traced")["QueueUrl"]
    root = new_root()
    sqs.send_message(
        QueueUrl=url,
        MessageBody="sqs",
        MessageSystemAttributes={
            "AWSTraceHeader": {"StringValue": header(root), "DataType": "String"}
        },
    )
    client(server, "lambda").create_event_source_mapping(
        FunctionName="tracer",
        EventSourceArn=f"arn:aws:sqs:us-east-1:{ACCOUNT}:traced",
        BatchSize=1,
    )
    assert root_of(logged_trace(server, "sqs")) == root


def test_a_function_url_request_continues_its_trace_header(server: LaminaProcess) -> None:
    lam = client(server, "lambda")
    url = lam.create_function_url_config(FunctionName="tracer", AuthType="NONE")["FunctionUrl"]
    path = url[url.index("/lambda-url/") :]
    root = new_root()
    req = urllib.request.Request(server.endpoint + path, headers={"X-Amzn-Trace-Id": header(root)})
    with urllib.request.urlopen(req, timeout=60) as resp:
        body = json.loads(resp.read())
    assert root_of(body["trace"]) == root


def test_a_workflows_lambda_task_continues_the_executions_trace(server: LaminaProcess) -> None:
    sfn = client(server, "stepfunctions")
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "tracer", "Payload": {"tag": "sfn"}},
                "OutputPath": "$.Payload",
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name="traced", definition=json.dumps(definition), roleArn=f"arn:aws:iam::{ACCOUNT}:role/r"
    )["stateMachineArn"]
    root = new_root()
    run = sfn.start_execution(stateMachineArn=machine, input="{}", traceHeader=header(root))
    for _ in range(300):
        described = sfn.describe_execution(executionArn=run["executionArn"])
        if described["status"] != "RUNNING":
            break
        time.sleep(0.1)
    assert described["status"] == "SUCCEEDED", described
    assert root_of(json.loads(described["output"])["trace"]) == root
