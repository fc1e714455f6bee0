"""Step Functions on a real ``lamina serve``, through boto3 and the AWS CLI, with real
Python, Node and Rust functions as Task states."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.integration.harness import (
    EXAMPLES,
    LaminaProcess,
    api_error,
    aws_cli,
    aws_client,
    cli_json,
    lamina_cli,
    python_zip,
)

ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(
        tmp_path_factory.mktemp("workflows"), {"LAMINA_SCHEDULE_TIME_SCALE": "100"}
    ).start()
    for example, runtime, handler in (
        ("hello-python", "python3.11", "app.handler"),
        ("hello-node", "nodejs20.x", "index.handler"),
        ("hello-rust", "provided.al2023", "bootstrap"),
    ):
        proc.create(example, (EXAMPLES / f"{example}.zip").read_bytes(), runtime=runtime,
                    handler=handler)  # fmt: skip
    yield proc
    proc.stop()


def sfn(server: LaminaProcess) -> Any:
    return aws_client(server, "stepfunctions", inject_host_prefix=False, read_timeout=120)


def create(server: LaminaProcess, name: str, definition: dict[str, Any], **extra: Any) -> str:
    arn: str = sfn(server).create_state_machine(
        name=name, definition=json.dumps(definition), roleArn=ROLE, **extra
    )["stateMachineArn"]
    return arn


def finish(server: LaminaProcess, arn: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        out: dict[str, Any] = sfn(server).describe_execution(executionArn=arn)
        if out["status"] != "RUNNING" or time.monotonic() > deadline:
            return out
        time.sleep(0.05)


def history(server: LaminaProcess, arn: str, **kw: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = sfn(server).get_execution_history(executionArn=arn, **kw)[
        "events"
    ]
    return events


def fn_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:123456789012:function:{name}"


ORDER = {
    "StartAt": "Python",
    "States": {
        "Python": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "hello-python", "Payload": {"name.$": "$.who"}},
            "ResultSelector": {"py.$": "$.Payload.message"},
            "ResultPath": "$.python",
            "Next": "Node",
        },
        "Node": {
            "Type": "Task",
            "Resource": fn_arn("hello-node"),
            "Parameters": {"name.$": "$.who"},
            "ResultSelector": {"node.$": "$.message", "runtime.$": "$.runtime"},
            "ResultPath": "$.node",
            "Next": "Rust",
        },
        "Rust": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": fn_arn("hello-rust"), "Payload": {"name": "Rust"}},
            "OutputPath": "$.Payload",
            "Next": "Pause",
        },
        "Pause": {"Type": "Wait", "Seconds": 30, "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}


def test_a_standard_execution_runs_python_node_and_rust_tasks(server: LaminaProcess) -> None:
    sm = create(server, "order", ORDER)
    client = sfn(server)
    ex = client.start_execution(stateMachineArn=sm, name="first", input='{"who": "Ada"}')
    assert ex["executionArn"].endswith(":execution:order:first")
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    output = json.loads(done["output"])
    assert output["message"] == "Hello, Rust!" and output["runtime"] == "rust"
    events = history(server, ex["executionArn"])
    types = [e["type"] for e in events]
    assert types[:3] == ["ExecutionStarted", "TaskStateEntered", "TaskScheduled"]
    assert "LambdaFunctionScheduled" in types and "LambdaFunctionSucceeded" in types
    assert types[-5:] == ["WaitStateEntered", "WaitStateExited", "SucceedStateEntered",
                          "SucceedStateExited", "ExecutionSucceeded"]  # fmt: skip
    assert [e["id"] for e in events] == list(range(1, len(events) + 1))
    # each event chained to the one before, except the first state's Entered event: 0 on
    # AWS (every history recorded in LocalStack's tests), not ExecutionStarted's 1
    assert [e["previousEventId"] for e in events] == [0, 0, *range(2, len(events))]
    exited = next(e for e in events if e["type"] == "TaskStateExited")
    assert json.loads(exited["stateExitedEventDetails"]["output"])["python"] == {
        "py": "Hello, Ada!"
    }
    node = next(e for e in events if e["type"] == "LambdaFunctionSucceeded")
    assert json.loads(node["lambdaFunctionSucceededEventDetails"]["output"])["runtime"] == "node"
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"]) == ("lambda", "invoke")
    wait_in = next(e for e in events if e["type"] == "WaitStateEntered")["timestamp"]
    wait_out = next(e for e in events if e["type"] == "WaitStateExited")["timestamp"]
    assert (wait_out - wait_in).total_seconds() >= 29  # schedule-clock time

    rev = history(server, ex["executionArn"], reverseOrder=True)
    assert [e["id"] for e in rev] == [e["id"] for e in reversed(events)]
    first = client.get_execution_history(executionArn=ex["executionArn"], maxResults=4)
    rest = client.get_execution_history(executionArn=ex["executionArn"], maxResults=1000,
                                        nextToken=first["nextToken"])  # fmt: skip
    assert [e["id"] for e in first["events"] + rest["events"]] == [e["id"] for e in events]
    described = client.describe_state_machine_for_execution(executionArn=ex["executionArn"])
    assert json.loads(described["definition"]) == ORDER
    cost = lamina_cli("workflow", "cost", "order", "--json", "--endpoint", server.endpoint)
    assert cost.returncode == 0, cost.stderr
    priced = json.loads(cost.stdout)
    assert priced["stateMachines"][0]["transitions"] == 5  # Python, Node, Rust, Pause, Done
    assert priced["stateMachines"][0]["cost"] == "0.000125"


def test_a_function_error_is_the_task_error_and_catch_handles_it(server: LaminaProcess) -> None:
    definition = {
        "StartAt": "Call",
        "States": {
            "Call": {
                "Type": "Task",
                "Resource": fn_arn("hello-python"),
                "Retry": [{"ErrorEquals": ["HelloError"], "MaxAttempts": 1, "IntervalSeconds": 1}],
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Failed"}],
                "End": True,
            },
            "Failed": {"Type": "Fail", "ErrorPath": "$.err.Error", "Cause": "caught"},
        },
    }  # fmt: skip
    sm = create(server, "failing", definition)
    ex = sfn(server).start_execution(stateMachineArn=sm, input='{"fail": true}')
    done = finish(server, ex["executionArn"])
    assert done["status"] == "FAILED"
    assert (done["error"], done["cause"]) == ("HelloError", "caught")
    types = [e["type"] for e in history(server, ex["executionArn"])]
    assert types.count("LambdaFunctionFailed") == 2
    failed = history(server, ex["executionArn"])[-1]
    assert failed["type"] == "ExecutionFailed"
    assert failed["executionFailedEventDetails"] == {"error": "HelloError", "cause": "caught"}
    # `lamina workflow` lists it and draws it
    cli = [sys.executable, "-m", "lamina.cli.main", "workflow"]
    listed = subprocess.run([*cli, "ls", "failing", "--endpoint", server.endpoint, "--json"],
                            capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    assert json.loads(listed.stdout)[0]["status"] == "FAILED"
    page = Path(tempfile.mkdtemp()) / "failing.html"
    subprocess.run([*cli, "picture", ex["executionArn"], "-o", str(page), "--endpoint",
                    server.endpoint], capture_output=True, text=True, check=True, timeout=60)  # fmt: skip
    text = page.read_text()
    assert "— FAILED" in text
    assert re.search(r">Call<.*?>caught( x2)? · ", text, re.S)  # retried once, then caught
    assert re.search(r">Failed<.*?>failed<", text, re.S)


def test_invalid_definitions_and_bad_requests_get_aws_errors(server: LaminaProcess) -> None:
    client = sfn(server)
    bad = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Nowhere"}}}
    code, status, message = api_error(
        lambda: client.create_state_machine(name="bad", definition=json.dumps(bad), roleArn=ROLE)
    )
    assert (code, status) == ("InvalidDefinition", 400)
    assert "Missing 'Next' target: Nowhere at /States/A/Next" in message
    result = client.validate_state_machine_definition(definition=json.dumps(bad))
    assert result["result"] == "FAIL"
    assert result["diagnostics"][0]["code"] == "MISSING_TRANSITION_TARGET"
    assert result["diagnostics"][0]["location"] == "/States/A/Next"
    missing = "arn:aws:states:us-east-1:123456789012:stateMachine:nope"
    assert api_error(lambda: client.start_execution(stateMachineArn=missing))[0] == (
        "StateMachineDoesNotExist"
    )
    gone = "arn:aws:states:us-east-1:123456789012:execution:nope:x"
    assert api_error(lambda: client.describe_execution(executionArn=gone))[0] == (
        "ExecutionDoesNotExist"
    )
    sm = create(server, "pass", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}})
    assert api_error(lambda: client.start_execution(stateMachineArn=sm, input="{nope"))[0] == (
        "InvalidExecutionInput"
    )
    big = json.dumps({"x": "y" * (256 * 1024)})
    assert api_error(lambda: client.start_execution(stateMachineArn=sm, input=big))[0] == (
        "ValidationException"
    )
    assert api_error(lambda: client.start_sync_execution(stateMachineArn=sm))[0] == (
        "StateMachineTypeNotSupported"
    )


def test_execution_names_are_idempotent_only_for_the_same_input(server: LaminaProcess) -> None:
    client = sfn(server)
    sm = create(
        server,
        "slow",
        {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 100000, "End": True}}},
    )
    one = client.start_execution(stateMachineArn=sm, name="same", input='{"a": 1}')
    two = client.start_execution(stateMachineArn=sm, name="same", input='{"a": 1}')
    assert one["executionArn"] == two["executionArn"]
    code, _, _ = api_error(
        lambda: client.start_execution(stateMachineArn=sm, name="same", input='{"a": 2}')
    )
    assert code == "ExecutionAlreadyExists"
    running = client.list_executions(stateMachineArn=sm, statusFilter="RUNNING")["executions"]
    assert [e["name"] for e in running] == ["same"]
    client.stop_execution(executionArn=one["executionArn"], error="Manual", cause="test")
    stopped = client.describe_execution(executionArn=one["executionArn"])
    assert stopped["status"] == "ABORTED"
    assert history(server, one["executionArn"])[-1]["type"] == "ExecutionAborted"
    code, _, _ = api_error(
        lambda: client.start_execution(stateMachineArn=sm, name="same", input='{"a": 1}')
    )
    assert code == "ExecutionAlreadyExists"  # a closed execution's name is taken
    for i in range(3):
        client.start_execution(stateMachineArn=sm, name=f"n{i}")
    page = client.list_executions(stateMachineArn=sm, maxResults=2)
    assert len(page["executions"]) == 2 and "nextToken" in page
    rest = client.list_executions(stateMachineArn=sm, maxResults=2, nextToken=page["nextToken"])
    assert len(page["executions"] + rest["executions"]) == 4


def test_express_sync_execution_returns_the_output(server: LaminaProcess) -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Hello",
        "States": {
            "Hello": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "hello-node", "Payload": {"name": "{% $states.input.n %}"}},
                "Output": "{% $states.result.Payload.message %}",
                "End": True,
            }
        },
    }  # fmt: skip
    sm = create(server, "express", definition, type="EXPRESS")
    out = sfn(server).start_sync_execution(stateMachineArn=sm, input='{"n": "Express"}')
    assert out["status"] == "SUCCEEDED"
    assert json.loads(out["output"]) == "Hello, Express!"
    assert out["executionArn"].split(":")[5] == "express"
    assert out["billingDetails"]["billedMemoryUsedInMB"] == 64


def test_wait_for_task_token_resumes_on_send_task_success(server: LaminaProcess) -> None:
    client = sfn(server)
    definition = {
        "StartAt": "Callback",
        "States": {
            "Callback": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                "Parameters": {"FunctionName": "hello-python",
                               "Payload": {"name.$": "$$.Task.Token"}},
                "HeartbeatSeconds": 3600,
                "End": True,
            }
        },
    }  # fmt: skip
    sm = create(server, "callback", definition)
    ex = client.start_execution(stateMachineArn=sm)
    token = None
    deadline = time.monotonic() + 60
    while token is None and time.monotonic() < deadline:
        for e in history(server, ex["executionArn"]):
            if e["type"] == "TaskScheduled":
                params = json.loads(e["taskScheduledEventDetails"]["parameters"])
                token = params["Payload"]["name"]
        time.sleep(0.05)
    assert token
    # The invoke was answered: TaskSubmitted (with Lambda's answer) while the token is out.
    waiting = [e["type"] for e in history(server, ex["executionArn"])]
    assert waiting[-3:] == ["TaskScheduled", "TaskStarted", "TaskSubmitted"], waiting
    client.send_task_heartbeat(taskToken=token)
    client.send_task_success(taskToken=token, output='{"approved": true}')
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"approved": True}
    events = history(server, ex["executionArn"])
    submitted = next(e for e in events if e["type"] == "TaskSubmitted")
    details = submitted["taskSubmittedEventDetails"]
    assert (details["resourceType"], details["resource"]) == ("lambda", "invoke.waitForTaskToken")
    assert json.loads(details["output"])["StatusCode"] == 200
    assert events[events.index(submitted) + 1]["type"] == "TaskSucceeded"
    assert api_error(lambda: client.send_task_success(taskToken=token, output="{}"))[0] == (
        "TaskDoesNotExist"
    )


def test_tags_list_update_and_delete(server: LaminaProcess) -> None:
    client = sfn(server)
    sm = create(server, "tagged", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                tags=[{"key": "team", "value": "a"}])  # fmt: skip
    client.tag_resource(resourceArn=sm, tags=[{"key": "env", "value": "dev"}])
    client.untag_resource(resourceArn=sm, tagKeys=["team"])
    assert client.list_tags_for_resource(resourceArn=sm)["tags"] == [{"key": "env", "value": "dev"}]
    new = {"StartAt": "Q", "States": {"Q": {"Type": "Succeed"}}}
    client.update_state_machine(stateMachineArn=sm, definition=json.dumps(new))
    assert json.loads(client.describe_state_machine(stateMachineArn=sm)["definition"]) == new
    names = [m["name"] for m in client.list_state_machines()["stateMachines"]]
    assert "tagged" in names
    client.delete_state_machine(stateMachineArn=sm)
    assert api_error(lambda: client.describe_state_machine(stateMachineArn=sm))[0] == (
        "StateMachineDoesNotExist"
    )


def test_the_aws_cli_creates_and_runs_a_state_machine(
    server: LaminaProcess, tmp_path: Path
) -> None:
    def aws(*args: str) -> Any:
        return cli_json(aws_cli(server, tmp_path, "stepfunctions", *args))

    definition = {
        "StartAt": "P",
        "States": {"P": {"Type": "Pass", "Result": {"cli": True}, "End": True}},
    }
    sm = aws("create-state-machine", "--name", "cli", "--definition", json.dumps(definition),
             "--role-arn", ROLE)["stateMachineArn"]  # fmt: skip
    ex = aws("start-execution", "--state-machine-arn", sm, "--input", "{}")["executionArn"]
    assert finish(server, ex)["status"] == "SUCCEEDED"
    out = aws("describe-execution", "--execution-arn", ex)
    assert json.loads(out["output"]) == {"cli": True}


def test_sqs_send_message_and_nested_sync_executions(server: LaminaProcess) -> None:
    sqs = boto3.client(
        "sqs", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA", aws_secret_access_key="lamina-secret",
    )  # fmt: skip
    url = sqs.create_queue(QueueName="wf-orders")["QueueUrl"]
    child = create(server, "child", {"StartAt": "Double", "States": {"Double": {
        "Type": "Pass", "Parameters": {"twice.$": "States.MathAdd($.n, $.n)"}, "End": True}}})  # fmt: skip
    parent = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": url, "MessageBody": {"order.$": "$.n"}},
                "ResultPath": "$.sent",
                "Next": "Child",
            },
            "Child": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution.sync:2",
                "Parameters": {"StateMachineArn": child, "Input": {"n.$": "$.n"}},
                "ResultSelector": {"twice.$": "$.Output.twice", "status.$": "$.Status"},
                "ResultPath": "$.child",
                "Next": "Fire",
            },
            "Fire": {
                "Type": "Task",
                "Resource": "arn:aws:states:::states:startExecution",
                "Parameters": {"StateMachineArn": child, "Input": {"n": 1}, "Name": "fired"},
                "ResultSelector": {"arn.$": "$.ExecutionArn"},
                "ResultPath": "$.fired",
                "End": True,
            },
        },
    }
    sm = create(server, "parent", parent)
    ex = sfn(server).start_execution(stateMachineArn=sm, input='{"n": 21}')
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["child"] == {"twice": 42, "status": "SUCCEEDED"}
    assert "MessageId" in out["sent"]
    assert out["fired"]["arn"].endswith(":execution:child:fired")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert json.loads(got[0]["Body"]) == {"order": 21}
    children = sfn(server).list_executions(stateMachineArn=child)["executions"]
    assert len(children) == 2
    # A .sync task is submitted (the child started) before it succeeds; a plain one is not.
    types = [e["type"] for e in history(server, ex["executionArn"])]
    assert types.count("TaskSubmitted") == 1
    i = types.index("TaskSubmitted")
    assert types[i - 2 : i + 2] == [
        "TaskScheduled",
        "TaskStarted",
        "TaskSubmitted",
        "TaskSucceeded",
    ]
    submitted = history(server, ex["executionArn"])[i]["taskSubmittedEventDetails"]
    assert json.loads(submitted["output"])["ExecutionArn"].split(":execution:child:")[1]


def test_an_activity_worker_takes_the_task_and_answers_it(server: LaminaProcess) -> None:
    client = sfn(server)
    activity = client.create_activity(name="approve")["activityArn"]
    assert activity.endswith(":activity:approve")
    assert client.describe_activity(activityArn=activity)["name"] == "approve"
    definition = {"StartAt": "Ask", "States": {"Ask": {
        "Type": "Task", "Resource": activity, "Parameters": {"order.$": "$.order"},
        "HeartbeatSeconds": 3600, "End": True}}}  # fmt: skip
    sm = create(server, "with-activity", definition)
    ex = client.start_execution(stateMachineArn=sm, input='{"order": 7}')
    task = client.get_activity_task(activityArn=activity, workerName="w1")
    assert json.loads(task["input"]) == {"order": 7}
    client.send_task_success(taskToken=task["taskToken"], output='{"ok": true}')
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED" and json.loads(done["output"]) == {"ok": True}
    types = [e["type"] for e in history(server, ex["executionArn"])]
    assert "ActivityScheduled" in types and "ActivitySucceeded" in types
    started = next(e for e in history(server, ex["executionArn"]) if e["type"] == "ActivityStarted")
    assert started["activityStartedEventDetails"] == {"workerName": "w1"}
    names = [a["name"] for a in client.list_activities()["activities"]]
    assert "approve" in names
    client.delete_activity(activityArn=activity)
    assert api_error(lambda: client.describe_activity(activityArn=activity))[0] == (
        "ActivityDoesNotExist"
    )


def test_test_state_runs_one_state_and_reports_retry_and_catch(server: LaminaProcess) -> None:
    client = sfn(server)
    pass_state = {
        "Type": "Pass",
        "Parameters": {"sum.$": "States.MathAdd($.a, $.b)"},
        "Next": "After",
    }
    out = client.test_state(
        definition=json.dumps(pass_state), roleArn=ROLE, input='{"a": 1, "b": 2}'
    )
    assert (out["status"], out["nextState"], json.loads(out["output"])) == (
        "SUCCEEDED",
        "After",
        {"sum": 3},
    )
    task = {
        "Type": "Task", "Resource": fn_arn("hello-python"), "End": True,
        "Retry": [{"ErrorEquals": ["Timeout"], "MaxAttempts": 2}],
        "Catch": [{"ErrorEquals": ["HelloError"], "ResultPath": "$.error", "Next": "Handle"}],
    }  # fmt: skip
    out = client.test_state(definition=json.dumps(task), roleArn=ROLE, input='{"fail": true}')
    assert (out["status"], out["error"], out["nextState"]) == (
        "CAUGHT_ERROR",
        "HelloError",
        "Handle",
    )
    assert json.loads(out["output"])["error"]["Error"] == "HelloError"
    task["Retry"] = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
    out = client.test_state(definition=json.dumps(task), roleArn=ROLE, input='{"fail": true}')
    assert (out["status"], out["error"]) == ("RETRIABLE", "HelloError")
    out = client.test_state(definition=json.dumps(task), roleArn=ROLE, input='{"name": "T"}')
    assert out["status"] == "SUCCEEDED" and json.loads(out["output"])["message"] == "Hello, T!"
    # DEBUG: the value after each processing step, as the docs' path walk-through orders them.
    paths = {
        "Type": "Task", "Resource": fn_arn("hello-python"), "End": True,
        "InputPath": "$.person", "Parameters": {"name.$": "$.first"},
        "ResultSelector": {"greeting.$": "$.message"}, "ResultPath": "$.out",
    }  # fmt: skip
    out = client.test_state(definition=json.dumps(paths), roleArn=ROLE, inspectionLevel="DEBUG",
                            input='{"person": {"first": "Ada"}, "id": 7}')  # fmt: skip
    seen = {k: json.loads(v) for k, v in out["inspectionData"].items()}
    assert seen["input"] == {"person": {"first": "Ada"}, "id": 7}
    assert seen["afterInputPath"] == {"first": "Ada"}
    assert seen["afterParameters"] == {"name": "Ada"}
    assert seen["result"]["message"] == "Hello, Ada!"
    assert seen["afterResultSelector"] == {"greeting": "Hello, Ada!"}
    expected = {"person": {"first": "Ada"}, "id": 7, "out": {"greeting": "Hello, Ada!"}}
    assert seen["afterResultPath"] == expected == json.loads(out["output"])
    jsonata = {"Type": "Task", "QueryLanguage": "JSONata", "Resource": fn_arn("hello-python"),
               "Arguments": {"name": "{% $states.input.who %}"}, "End": True}  # fmt: skip
    out = client.test_state(definition=json.dumps(jsonata), roleArn=ROLE, inspectionLevel="DEBUG",
                            input='{"who": "Bo"}')  # fmt: skip
    seen = {k: json.loads(v) for k, v in out["inspectionData"].items()}
    assert seen["afterArguments"] == {"name": "Bo"} and seen["result"]["message"] == "Hello, Bo!"
    assert "afterInputPath" not in seen
    choice = {"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
              "Default": "Small"}  # fmt: skip
    out = client.test_state(definition=json.dumps(choice), roleArn=ROLE, input='{"n": 5}')
    assert out["nextState"] == "Big"
    bad = {"Type": "Pass", "Next": 5}
    assert api_error(lambda: client.test_state(definition=json.dumps(bad), roleArn=ROLE))[0] == (
        "InvalidDefinition"
    )


def test_versions_and_aliases_pin_what_an_execution_runs(server: LaminaProcess) -> None:
    client = sfn(server)

    def result(value: str) -> str:
        return json.dumps(
            {"StartAt": "P", "States": {"P": {"Type": "Pass", "Result": value, "End": True}}}
        )

    created = client.create_state_machine(name="versioned", definition=result("v1"), roleArn=ROLE,
                                          publish=True, versionDescription="first")  # fmt: skip
    sm, v1 = created["stateMachineArn"], created["stateMachineVersionArn"]
    assert v1 == sm + ":1"
    again = client.publish_state_machine_version(stateMachineArn=sm)
    assert again["stateMachineVersionArn"] == v1  # same revision: the same version
    updated = client.update_state_machine(stateMachineArn=sm, definition=result("v2"), publish=True)
    v2 = updated["stateMachineVersionArn"]
    assert v2 == sm + ":2"
    code = api_error(
        lambda: client.publish_state_machine_version(stateMachineArn=sm, revisionId="old")
    )[0]
    assert code == "ConflictException"
    assert (
        json.loads(client.describe_state_machine(stateMachineArn=v1)["definition"])["States"]["P"][
            "Result"
        ]
        == "v1"
    )
    versions = client.list_state_machine_versions(stateMachineArn=sm)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [v2, v1]

    def output_of(target: str) -> tuple[str, dict[str, Any]]:
        ex = client.start_execution(stateMachineArn=target)
        done = finish(server, ex["executionArn"])
        return json.loads(done["output"]), done

    assert output_of(v1)[0] == "v1"
    alias = client.create_state_machine_alias(
        name="live", routingConfiguration=[{"stateMachineVersionArn": v1, "weight": 100}]
    )["stateMachineAliasArn"]
    assert alias == sm + ":live"
    value, described = output_of(alias)
    assert value == "v1"
    assert described["stateMachineAliasArn"] == alias and described["stateMachineVersionArn"] == v1
    client.update_state_machine_alias(
        stateMachineAliasArn=alias,
        routingConfiguration=[{"stateMachineVersionArn": v2, "weight": 100}],
    )
    assert output_of(alias)[0] == "v2"

    # ListExecutions of a version or an alias: the executions started through it.
    def listed(**kw: Any) -> list[tuple[str | None, str | None]]:
        found = client.list_executions(**kw)["executions"]
        return [(e.get("stateMachineVersionArn"), e.get("stateMachineAliasArn")) for e in found]

    assert listed(stateMachineArn=v1) == [(v1, alias), (v1, None)]
    assert listed(stateMachineArn=alias) == [(v2, alias), (v1, alias)]
    assert listed(stateMachineArn=v2) == [(v2, alias)]
    assert len(listed(stateMachineArn=sm)) == 3
    assert client.describe_state_machine_alias(stateMachineAliasArn=alias)[
        "routingConfiguration"
    ] == [{"stateMachineVersionArn": v2, "weight": 100}]
    assert api_error(lambda: client.delete_state_machine_version(stateMachineVersionArn=v2))[0] == (
        "ConflictException"
    )
    client.delete_state_machine_version(stateMachineVersionArn=v1)
    assert [
        a["stateMachineAliasArn"]
        for a in client.list_state_machine_aliases(stateMachineArn=sm)["stateMachineAliases"]
    ] == [alias]
    client.delete_state_machine_alias(stateMachineAliasArn=alias)
    assert api_error(lambda: client.start_execution(stateMachineArn=alias))[0] == "ResourceNotFound"


def test_everything_survives_a_restart(tmp_path: Path) -> None:
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "100"}
    first = LaminaProcess(tmp_path, env).start()
    try:
        client = sfn(first)
        definition = {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 1, "End": True}}}
        made = client.create_state_machine(name="kept", definition=json.dumps(definition),
                                           roleArn=ROLE, publish=True,
                                           tags=[{"key": "k", "value": "v"}])  # fmt: skip
        alias = client.create_state_machine_alias(
            name="prod",
            routingConfiguration=[
                {"stateMachineVersionArn": made["stateMachineVersionArn"], "weight": 100}
            ],
        )["stateMachineAliasArn"]
        activity = client.create_activity(name="kept-activity")["activityArn"]
        ex = client.start_execution(stateMachineArn=alias, name="before")["executionArn"]
        assert finish(first, ex)["status"] == "SUCCEEDED"
        before = history(first, ex)
    finally:
        first.stop()
    second = LaminaProcess(tmp_path, env).start()
    try:
        client = sfn(second)
        described = client.describe_execution(executionArn=ex)
        assert described["status"] == "SUCCEEDED" and described["stateMachineAliasArn"] == alias
        assert history(second, ex) == before
        assert client.describe_state_machine_alias(stateMachineAliasArn=alias)["name"] == "prod"
        assert client.list_tags_for_resource(resourceArn=made["stateMachineArn"])["tags"] == [
            {"key": "k", "value": "v"}
        ]
        assert client.describe_activity(activityArn=activity)["name"] == "kept-activity"
        again = client.start_execution(stateMachineArn=alias, name="after")["executionArn"]
        assert finish(second, again)["status"] == "SUCCEEDED"
        published = client.publish_state_machine_version(stateMachineArn=made["stateMachineArn"])
        assert published["stateMachineVersionArn"] == made["stateMachineVersionArn"]
    finally:
        second.stop()


def s3_client(server: LaminaProcess) -> Any:
    return boto3.client(
        "s3", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA", aws_secret_access_key="lamina-secret",
        config=Config(s3={"addressing_style": "path"}),
    )  # fmt: skip


def test_aws_sdk_s3_tasks_put_get_and_list_objects(server: LaminaProcess) -> None:
    s3_client(server).create_bucket(Bucket="wf-data")
    sdk = "arn:aws:states:::aws-sdk:s3:"
    definition = {
        "StartAt": "Put",
        "States": {
            "Put": {"Type": "Task", "Resource": sdk + "putObject", "ResultPath": "$.put",
                    "Parameters": {"Bucket": "wf-data", "Key": "orders/1.json", "Body.$": "$.order"},
                    "Next": "Get"},
            "Get": {"Type": "Task", "Resource": sdk + "getObject", "ResultPath": "$.got",
                    "Parameters": {"Bucket": "wf-data", "Key": "orders/1.json"},
                    "ResultSelector": {"order.$": "States.StringToJson($.Body)"}, "Next": "List"},
            "List": {"Type": "Task", "Resource": sdk + "listObjectsV2", "ResultPath": "$.listed",
                     "Parameters": {"Bucket": "wf-data", "Prefix": "orders/"},
                     "ResultSelector": {"keys.$": "$.Contents[*].Key"}, "Next": "Missing"},
            "Missing": {"Type": "Task", "Resource": sdk + "getObject", "End": True,
                        "Parameters": {"Bucket": "wf-data", "Key": "nope"},
                        "Catch": [{"ErrorEquals": ["S3.NoSuchKeyException"], "ResultPath": "$.missing",
                                   "Next": "Done"}]},
            "Done": {"Type": "Succeed"},
        },
    }  # fmt: skip
    sm = create(server, "s3-tasks", definition)
    ex = sfn(server).start_execution(stateMachineArn=sm, input='{"order": {"id": 1, "total": 9}}')
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert out["got"] == {"order": {"id": 1, "total": 9}}
    assert out["listed"] == {"keys": ["orders/1.json"]}
    assert out["missing"]["Error"] == "S3.NoSuchKeyException"
    assert out["put"]["ETag"]
    body = s3_client(server).get_object(Bucket="wf-data", Key="orders/1.json")["Body"].read()
    assert json.loads(body) == {"id": 1, "total": 9}


def test_distributed_map_reads_s3_batches_items_and_writes_results(server: LaminaProcess) -> None:
    s3 = s3_client(server)
    s3.create_bucket(Bucket="wf-map")
    rows = "\n".join(["id,amount"] + [f"{i},{i * 10}" for i in range(1, 8)])
    s3.put_object(Bucket="wf-map", Key="in/orders.csv", Body=rows.encode())
    definition = {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "ItemReader": {"Resource": "arn:aws:states:::s3:getObject",
                               "ReaderConfig": {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"},
                               "Parameters": {"Bucket": "wf-map", "Key.$": "$.key"}},
                "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"run.$": "$.run"}},
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Sum",
                    "States": {"Sum": {"Type": "Task", "Resource": fn_arn("hello-python"),
                                       "Parameters": {"name.$": "States.Format('{} x{}', $.BatchInput.run, States.ArrayLength($.Items))"},
                                       "OutputPath": "$.message", "End": True}},
                },
                "ResultWriter": {"Resource": "arn:aws:states:::s3:putObject",
                                 "Parameters": {"Bucket": "wf-map", "Prefix": "out"}},
                "End": True,
            }
        },
    }  # fmt: skip
    sm = create(server, "dmap", definition)
    ex = sfn(server).start_execution(
        stateMachineArn=sm, input='{"key": "in/orders.csv", "run": "r1"}'
    )
    done = finish(server, ex["executionArn"])
    assert done["status"] == "SUCCEEDED", done
    out = json.loads(done["output"])
    assert ":mapRun:dmap/Each:" in out["MapRunArn"]
    details = out["ResultWriterDetails"]
    assert details["Bucket"] == "wf-map" and details["Key"].startswith("out/")
    manifest = json.loads(s3.get_object(Bucket="wf-map", Key=details["Key"])["Body"].read())
    succeeded_key = manifest["ResultFiles"]["SUCCEEDED"][0]["Key"]
    results = json.loads(s3.get_object(Bucket="wf-map", Key=succeeded_key)["Body"].read())
    assert [json.loads(r["Output"]) for r in results] == [
        "Hello, r1 x3!",
        "Hello, r1 x3!",
        "Hello, r1 x1!",
    ]
    first_batch = json.loads(results[0]["Input"])
    assert first_batch["Items"][0] == {"id": "1", "amount": "10"}
    events = history(server, ex["executionArn"])
    types = [e["type"] for e in events]
    # As on AWS: a distributed Map's children have their own histories, not the parent's.
    assert not [t for t in types if t.startswith("MapIteration")]
    assert "TaskStateEntered" not in types
    run_arn = next(e for e in events if e["type"] == "MapRunStarted")["mapRunStartedEventDetails"][
        "mapRunArn"
    ]
    children = sfn(server).list_executions(mapRunArn=run_arn)["executions"]
    child_types = [e["type"] for e in history(server, children[0]["executionArn"])]
    assert child_types[0] == "ExecutionStarted" and child_types[-1] == "ExecutionSucceeded"
    assert "TaskStateEntered" in child_types and "LambdaFunctionSucceeded" in child_types


def test_a_result_over_256_kb_fails_with_data_limit_exceeded(server: LaminaProcess) -> None:
    server.create(
        "big-result", python_zip("def handler(event, context):\n    return 'x' * 300000\n")
    )
    definition = {"StartAt": "Big", "States": {"Big": {
        "Type": "Task", "Resource": fn_arn("big-result"), "End": True,
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Never"}]},
        "Never": {"Type": "Succeed"}}}  # fmt: skip
    sm = create(server, "big", definition)
    done = finish(server, sfn(server).start_execution(stateMachineArn=sm)["executionArn"])
    assert (done["status"], done["error"]) == ("FAILED", "States.DataLimitExceeded")


def test_redrive_runs_a_failed_execution_again_from_the_failed_state(server: LaminaProcess) -> None:
    client = sfn(server)
    activity = client.create_activity(name="redrive-step")["activityArn"]
    definition = {"StartAt": "First", "States": {
        "First": {"Type": "Pass", "Result": "one", "ResultPath": "$.first", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": activity, "HeartbeatSeconds": 3600, "End": True}}}  # fmt: skip
    sm = create(server, "redriven", definition)
    ex = client.start_execution(stateMachineArn=sm, input='{"n": 1}')["executionArn"]
    task = client.get_activity_task(activityArn=activity)
    client.send_task_failure(taskToken=task["taskToken"], error="Nope", cause="not yet")
    failed = finish(server, ex)
    assert (failed["status"], failed["redriveStatus"]) == ("FAILED", "REDRIVABLE")
    assert client.redrive_execution(executionArn=ex)["redriveDate"]
    task = client.get_activity_task(activityArn=activity)
    assert json.loads(task["input"]) == {"n": 1, "first": "one"}
    client.send_task_success(taskToken=task["taskToken"], output='{"done": true}')
    done = finish(server, ex)
    assert (done["status"], done["redriveCount"]) == ("SUCCEEDED", 1)
    other = client.start_execution(stateMachineArn=sm, input='{"n": 2}')["executionArn"]
    task = client.get_activity_task(activityArn=activity)
    client.send_task_success(taskToken=task["taskToken"], output="{}")
    finish(server, other)
    redriven = client.list_executions(stateMachineArn=sm, redriveFilter="REDRIVEN")["executions"]
    assert [(e["executionArn"], e["redriveCount"]) for e in redriven] == [(ex, 1)]
    assert redriven[0]["redriveDate"]
    not_redriven = client.list_executions(stateMachineArn=sm, redriveFilter="NOT_REDRIVEN")
    assert [e["executionArn"] for e in not_redriven["executions"]] == [other]
    types = [e["type"] for e in history(server, ex)]
    assert types.count("PassStateEntered") == 1 and types.count("ExecutionRedriven") == 1
    assert types[-1] == "ExecutionSucceeded" and "ExecutionFailed" in types
    assert (
        api_error(lambda: client.redrive_execution(executionArn=ex))[0] == "ExecutionNotRedrivable"
    )


def test_a_schedule_starts_executions_of_its_state_machine_target(server: LaminaProcess) -> None:
    sm = create(
        server, "scheduled", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    )
    events = boto3.client(
        "events", endpoint_url=server.endpoint, region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA", aws_secret_access_key="lamina-secret",
    )  # fmt: skip
    events.put_rule(Name="every-minute-sfn", ScheduleExpression="rate(1 minute)")
    events.put_targets(Rule="every-minute-sfn",
                       Targets=[{"Id": "1", "Arn": sm, "Input": '{"from": "schedule"}'}])  # fmt: skip
    deadline = time.monotonic() + 60
    runs: list[dict[str, Any]] = []
    while not runs and time.monotonic() < deadline:  # 1 minute is 0.6 s at scale 100
        runs = sfn(server).list_executions(stateMachineArn=sm)["executions"]
        time.sleep(0.1)
    events.remove_targets(Rule="every-minute-sfn", Ids=["1"])
    events.delete_rule(Name="every-minute-sfn")
    assert runs, "the schedule started no execution"
    done = finish(server, runs[-1]["executionArn"])
    assert json.loads(done["input"]) == {"from": "schedule"}
    bad = "arn:aws:states:us-east-1:123456789012:activity:nope"
    code = api_error(lambda: events.put_targets(Rule="x", Targets=[{"Id": "1", "Arn": bad}]))[0]
    assert code in ("ValidationException", "ResourceNotFoundException")


def test_parallel_branches_and_map_iterations_chain_their_own_events(server: LaminaProcess) -> None:
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "M", "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]},
        "M": {"Type": "Map", "ItemsPath": "$", "End": True, "ItemProcessor": {
            "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}}}}  # fmt: skip
    sm = create(server, "chains", definition)
    ex = sfn(server).start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    assert finish(server, ex)["status"] == "SUCCEEDED"
    events = history(server, ex)
    by_id = {e["id"]: e for e in events}
    started = next(e for e in events if e["type"] == "ParallelStateStarted")
    entered = {e["stateEnteredEventDetails"]["name"]: e for e in events
               if e["type"] == "PassStateEntered"}  # fmt: skip
    assert entered["A"]["previousEventId"] == started["id"]
    assert entered["B"]["previousEventId"] == started["id"]
    # the execution's first state's Entered event is chained to 0, as on AWS
    assert events[1]["type"] == "ParallelStateEntered" and events[1]["previousEventId"] == 0
    for name in ("A", "B"):
        exited = next(e for e in events if e["type"] == "PassStateExited"
                      and e["stateExitedEventDetails"]["name"] == name)  # fmt: skip
        assert by_id[exited["previousEventId"]]["type"] == "PassStateEntered"
        assert exited["previousEventId"] == entered[name]["id"]
    assert all(0 <= e["previousEventId"] < e["id"] for e in events)


def test_heartbeats_task_timeouts_and_execution_timeouts_on_the_schedule_clock(
    server: LaminaProcess,
) -> None:
    client = sfn(server)
    callback = "arn:aws:states:::lambda:invoke.waitForTaskToken"
    params = {"FunctionName": "hello-python", "Payload": {"name.$": "$$.Task.Token"}}
    # 60 s of heartbeat and 120 s of task time are 0.6 s and 1.2 s at scale 100
    beat = create(server, "no-heartbeat", {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": callback, "Parameters": params, "HeartbeatSeconds": 60,
        "End": True}}})  # fmt: skip
    slow = create(server, "task-timeout", {"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": callback, "Parameters": params, "TimeoutSeconds": 120,
        "End": True}}})  # fmt: skip
    whole = create(server, "execution-timeout", {"TimeoutSeconds": 60, "StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 3600, "End": True}}})  # fmt: skip
    runs = [
        client.start_execution(stateMachineArn=sm)["executionArn"] for sm in (beat, slow, whole)
    ]
    ends = [finish(server, arn) for arn in runs]
    assert [(e["status"], e.get("error")) for e in ends] == [
        ("FAILED", "States.HeartbeatTimeout"),
        ("FAILED", "States.Timeout"),
        ("TIMED_OUT", "States.Timeout"),
    ]
    assert history(server, runs[0])[-2]["type"] == "TaskTimedOut"
    assert history(server, runs[2])[-1]["type"] == "ExecutionTimedOut"
    quiet = history(server, runs[0], includeExecutionData=False)
    assert "input" not in quiet[0]["executionStartedEventDetails"]


def test_express_start_execution_runs_in_memory_and_is_not_listed(server: LaminaProcess) -> None:
    client = sfn(server)
    sm = create(server, "express-async", {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}},
                type="EXPRESS")  # fmt: skip
    arn = client.start_execution(stateMachineArn=sm, input='{"a": 1}')["executionArn"]
    assert ":express:express-async:" in arn
    assert api_error(lambda: client.list_executions(stateMachineArn=sm))[0] == (
        "StateMachineTypeNotSupported"
    )
    assert (
        api_error(lambda: client.describe_execution(executionArn=arn))[0] == "ExecutionDoesNotExist"
    )


def test_requests_are_verified_with_sigv4_for_the_states_service(tmp_path: Path) -> None:
    proc = LaminaProcess(tmp_path, {"LAMINA_ACCESS_KEYS": "AKIDWORKFLOWS:right-secret"}).start()
    try:

        def client(secret: str) -> Any:
            return boto3.client(
                "stepfunctions", endpoint_url=proc.endpoint, region_name="us-east-1",
                aws_access_key_id="AKIDWORKFLOWS", aws_secret_access_key=secret,
                config=Config(retries={"max_attempts": 0}),
            )  # fmt: skip

        assert client("right-secret").list_state_machines()["stateMachines"] == []
        code, status, _ = api_error(lambda: client("wrong-secret").list_state_machines())
        assert status == 403 and code
    finally:
        proc.stop()


def test_a_workflow_time_scale_speeds_up_waits_alone(tmp_path: Path) -> None:
    proc = LaminaProcess(tmp_path, {"LAMINA_WORKFLOW_TIME_SCALE": "120"}).start()
    try:
        sm = create(
            proc,
            "fast-wait",
            {"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": True}}},
        )
        started = time.monotonic()
        done = finish(
            proc, sfn(proc).start_execution(stateMachineArn=sm)["executionArn"], timeout=30
        )
        assert done["status"] == "SUCCEEDED"
        assert time.monotonic() - started < 30  # a guard: 60 s of workflow time is 0.5 s here
        assert (done["stopDate"] - done["startDate"]).total_seconds() >= 59  # workflow-clock dates
    finally:
        proc.stop()


def test_an_endless_loop_ends_at_the_history_limit_and_the_server_stays_responsive(
    server: LaminaProcess,
) -> None:
    loop = {"StartAt": "Spin", "States": {
        "Spin": {"Type": "Pass", "Next": "Again"},
        "Again": {"Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True,
                                                  "Next": "Done"}], "Default": "Spin"},
        "Done": {"Type": "Succeed"}}}  # fmt: skip
    client = sfn(server)
    sm = create(server, "endless", loop)
    ex = client.start_execution(stateMachineArn=sm)["executionArn"]
    assert client.list_state_machines()["stateMachines"]  # answered while it spins
    done = finish(server, ex)
    assert (done["status"], done["error"]) == ("FAILED", "States.Runtime")
    assert "25000" in done["cause"]
    assert (
        len(
            client.get_execution_history(executionArn=ex, maxResults=1000, reverseOrder=True)[
                "events"
            ]
        )
        == 1000
    )


# The aborted-state events below follow histories recorded against AWS in LocalStack's
# repository (tests/aws/services/stepfunctions/v2/…/*.snapshot.json; see docs/workflows.md).


def test_a_task_failing_a_parallel_branch_is_recorded_as_aborted(server: LaminaProcess) -> None:
    # as AWS records test_callback.py::test_sqs_failure_in_wait_for_task_tok_no_error_field
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Next": "Done", "ResultPath": "$.err",
              "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.err", "Next": "Done"}],
              "Branches": [{"StartAt": "Call", "States": {"Call": {
                  "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                  "Parameters": {"FunctionName": "hello-python", "Payload": {"fail": True}},
                  "End": True}}}]},
        "Done": {"Type": "Pass", "End": True}}}  # fmt: skip
    sm = create(server, "parallel-abort", definition)
    ex = sfn(server).start_execution(stateMachineArn=sm, input="{}")["executionArn"]
    assert finish(server, ex)["status"] == "SUCCEEDED"
    events = history(server, ex)
    assert [e["type"] for e in events] == [
        "ExecutionStarted", "ParallelStateEntered", "ParallelStateStarted", "TaskStateEntered",
        "TaskScheduled", "TaskStarted", "TaskFailed", "TaskStateAborted", "ParallelStateFailed",
        "ParallelStateExited", "PassStateEntered", "PassStateExited", "ExecutionSucceeded",
    ]  # fmt: skip
    failed, aborted, parallel_failed = events[6:9]
    assert aborted["previousEventId"] == failed["id"]
    assert parallel_failed["previousEventId"] == failed["id"]
    assert "stateExitedEventDetails" not in aborted and set(aborted) == {
        "timestamp", "type", "id", "previousEventId"
    }  # fmt: skip


def map_waiting_for_tokens(**task: object) -> dict[str, object]:
    """A Map whose iterations each wait for a task token (``task``: more of the Task's fields)."""
    call = {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "Parameters": {"FunctionName": "hello-python", "Payload": {"name.$": "$$.Task.Token"}},
        **task, "End": True,
    }  # fmt: skip
    return {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$", "End": True,
        "ItemProcessor": {"StartAt": "Call", "States": {"Call": call}}}}}  # fmt: skip


def test_a_failed_map_iteration_aborts_the_others_and_their_task_states(
    server: LaminaProcess,
) -> None:
    # as AWS records test_timeouts.py::test_service_lambda_map_timeout: iteration 0's task
    # times out (1 s of schedule time); the others wait for a token that never comes
    sm = create(server, "map-abort", map_waiting_for_tokens(TimeoutSecondsPath="$.t"))
    items = [{"t": 1}, {"t": 3600}, {"t": 3600}, {"t": 3600}]
    ex = sfn(server).start_execution(stateMachineArn=sm, input=json.dumps(items))["executionArn"]
    done = finish(server, ex)
    assert (done["status"], done["error"]) == ("FAILED", "States.Timeout")
    events = history(server, ex)
    timed_out = next(e for e in events if e["type"] == "TaskTimedOut")
    tail = events[events.index(timed_out) + 1 :]
    assert [(e["type"], _iteration(e)) for e in tail] == [
        ("MapIterationFailed", 0), ("TaskStateAborted", None),
        ("MapIterationAborted", 1), ("TaskStateAborted", None),
        ("MapIterationAborted", 2), ("TaskStateAborted", None),
        ("MapIterationAborted", 3), ("TaskStateAborted", None),
        ("MapStateFailed", None), ("ExecutionFailed", None),
    ]  # fmt: skip
    # every event of the failure points at the event that failed the Map, as on AWS
    assert {e["previousEventId"] for e in tail[:-1]} == {timed_out["id"]}
    assert tail[-1]["previousEventId"] == tail[-2]["id"]
    assert [e["type"] for e in events].count("TaskTimedOut") == 1


def _iteration(event: dict[str, Any]) -> int | None:
    for key in ("mapIterationFailedEventDetails", "mapIterationAbortedEventDetails"):
        if key in event:
            index: int = event[key]["index"]
            return index
    return None


def test_stop_execution_in_a_wait_state_records_only_execution_aborted(
    server: LaminaProcess,
) -> None:
    # as AWS records test_sfn_api.py::test_stop_execution: no WaitStateAborted
    sm = create(server, "stop-wait", {"StartAt": "W", "States": {
        "W": {"Type": "Wait", "Seconds": 360000, "End": True}}})  # fmt: skip
    client = sfn(server)
    ex = client.start_execution(stateMachineArn=sm)["executionArn"]
    deadline = time.monotonic() + 60
    while "WaitStateEntered" not in [e["type"] for e in history(server, ex)]:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.stop_execution(executionArn=ex)
    assert finish(server, ex)["status"] == "ABORTED"
    events = history(server, ex)
    assert [e["type"] for e in events] == ["ExecutionStarted", "WaitStateEntered",
                                           "ExecutionAborted"]  # fmt: skip
    assert events[2]["executionAbortedEventDetails"] == {}
    # as on AWS, both the first state's entry and the abort are chained to 0
    assert [e["previousEventId"] for e in events] == [0, 0, 0]


def test_a_jsonata_evaluation_error_is_recorded_as_evaluation_failed(server: LaminaProcess) -> None:
    # as AWS records test_math_operations_jsonata.py::test_math_random_seeded (a call of a
    # non-function) and test_base_scenarios.py::test_map_state_items_eval_jsonata_fail
    client = sfn(server)
    expected = {
        "eval-pass": ({"Type": "Pass", "Output": "{% $nothing() %}", "End": True},
                      ["PassStateEntered", "EvaluationFailed"], "Output"),
        "eval-map": ({"Type": "Map", "Items": "{% 1 %}", "End": True, "ItemProcessor": {
                          "StartAt": "I", "States": {"I": {"Type": "Pass", "End": True}}}},
                     ["MapStateEntered", "EvaluationFailed", "MapStateFailed"], "Items"),
    }  # fmt: skip
    # the causes AWS recorded for the same expressions
    at = "An error occurred while executing the state 'S' (entered at the event id #2). "
    causes = {
        "eval-pass": at + "The JSONata expression '$nothing()' specified for the field "
        "'Output' threw an error during evaluation. T1006: Attempted to invoke a non-function",
        "eval-map": at + "The JSONata expression '1' specified for the field 'Items' returned "
        "an unexpected result type. Expected 'array', but was 'number' for value: 1",
    }
    for name, (state, types, location) in expected.items():
        sm = create(server, name, {"QueryLanguage": "JSONata", "StartAt": "S",
                                   "States": {"S": state}})  # fmt: skip
        ex = client.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
        done = finish(server, ex)
        assert (done["status"], done["error"]) == ("FAILED", "States.QueryEvaluationError")
        assert done["cause"] == causes[name]
        events = history(server, ex)
        assert [e["type"] for e in events] == ["ExecutionStarted", *types, "ExecutionFailed"]
        details = events[2]["evaluationFailedEventDetails"]
        assert details == {"error": "States.QueryEvaluationError", "cause": done["cause"],
                           "location": location, "state": "S"}  # fmt: skip
        assert events[-1]["executionFailedEventDetails"] == {
            "error": "States.QueryEvaluationError", "cause": done["cause"]
        }  # fmt: skip
        # as on AWS: EvaluationFailed has its state's Entered event's previousEventId
        assert events[1]["previousEventId"] == events[2]["previousEventId"] == 0
        assert [e["previousEventId"] for e in events[3:]] == [e["id"] for e in events[2:-1]]


def test_a_jsonata_expression_that_returns_nothing_fails_as_on_aws(server: LaminaProcess) -> None:
    # the histories AWS recorded for test_assign_reference_variables.py::
    # test_undefined_reference (LocalStack's snapshots): same events, chains and details
    client = sfn(server)
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "undef-output": ({"Output": "{% $doesNotExist %}"}, "Output"),
        "undef-field": ({"Output": {"result": "{% $doesNotExist %}"}}, "Output/result"),
        "undef-assign": ({"Assign": {"result": "{% $doesNotExist %}"}}, "Assign/result"),
    }
    for name, (fields, location) in cases.items():
        sm = create(server, name, {"QueryLanguage": "JSONata", "StartAt": "State0", "States": {
            "State0": {"Type": "Pass", **fields, "End": True}}})  # fmt: skip
        ex = client.start_execution(stateMachineArn=sm, input="{}")["executionArn"]
        done = finish(server, ex)
        cause = ("An error occurred while executing the state 'State0' (entered at the event "
                 f"id #2). The JSONata expression '$doesNotExist' specified for the field "
                 f"'{location}' returned nothing (undefined).")  # fmt: skip
        assert (done["status"], done["error"], done["cause"]) == (
            "FAILED",
            "States.QueryEvaluationError",
            cause,
        )
        events = history(server, ex)
        assert [(e["type"], e["previousEventId"]) for e in events] == [
            ("ExecutionStarted", 0), ("PassStateEntered", 0), ("EvaluationFailed", 0),
            ("ExecutionFailed", 3)]  # fmt: skip
        assert events[2]["evaluationFailedEventDetails"] == {
            "error": "States.QueryEvaluationError", "cause": cause, "location": location,
            "state": "State0"}  # fmt: skip
    # null is a value, not nothing: the same fields holding null succeed
    sm = create(server, "null-ok", {"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Assign": {"v": "{% null %}"}, "Next": "B"},
        "B": {"Type": "Pass", "Output": {"v": "{% $v %}", "x": "{% $states.input.x %}"},
              "End": True}}})  # fmt: skip
    ex = client.start_execution(stateMachineArn=sm, input='{"x": null}')["executionArn"]
    done = finish(server, ex)
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == {"v": None, "x": None}


def test_stop_execution_in_a_map_aborts_its_iterations_and_their_tasks(
    server: LaminaProcess,
) -> None:
    # the rule of test_a_failed_map_iteration_aborts_the_others_...: iterations cut short
    # end with MapIterationAborted, each followed by its unfinished Task's TaskStateAborted
    sm = create(server, "map-stop", map_waiting_for_tokens())
    client = sfn(server)
    ex = client.start_execution(stateMachineArn=sm, input="[1, 2]")["executionArn"]
    deadline = time.monotonic() + 60
    while [e["type"] for e in history(server, ex)].count("TaskSubmitted") < 2:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client.stop_execution(executionArn=ex)
    assert finish(server, ex)["status"] == "ABORTED"
    events = history(server, ex)
    submitted = max(i for i, e in enumerate(events) if e["type"] == "TaskSubmitted")
    assert [(e["type"], _iteration(e)) for e in events[submitted + 1 :]] == [
        ("MapIterationAborted", 0), ("TaskStateAborted", None),
        ("MapIterationAborted", 1), ("TaskStateAborted", None),
        ("ExecutionAborted", None),
    ]  # fmt: skip
