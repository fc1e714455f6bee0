"""SIGKILL a real ``lamina serve`` again and again while Standard executions run.

Many executions of a workflow with Lambda tasks (Python, in Lamina's sandbox) and Wait
states are started through boto3; the server is killed with SIGKILL at random moments and
restarted on the same data directory. Every execution must finish SUCCEEDED with the
output it would have had without crashes, and its history must be exactly the crash-free
one: a transition is committed with the history written since the previous one, so a
state in flight at the kill leaves no trace and runs again (at-least-once for its Task).

The same for a workflow whose Lambda tasks and Waits are inside a Map nested in a Parallel
branch: each branch and iteration commits as it goes, so after every restart it goes on
from its last committed transition and the finished history is a crash-free run's.
"""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import ROLE, client, function_arn, kill, start_server, wait_until, zip_source
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

N_EXECUTIONS = 40
KILL_AFTER_S = (0.8, 0.7, 1.0, 0.6)
SFN_ROLE = "arn:aws:iam::123456789012:role/sfn"

ADDER = """\
def handler(event, context):
    return {"n": event["n"] + 1}
"""

DEFINITION = {
    "StartAt": "Begin",
    "States": {
        "Begin": {"Type": "Pass", "Parameters": {"n.$": "$.start"}, "Next": "Add1"},
        "Add1": {"Type": "Task", "Resource": function_arn("adder"), "Next": "Nap1"},
        "Nap1": {"Type": "Wait", "Seconds": 30, "Next": "Add2"},
        "Add2": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "adder", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Next": "Nap2",
        },
        "Nap2": {"Type": "Wait", "Seconds": 30, "Next": "Add3"},
        "Add3": {"Type": "Task", "Resource": function_arn("adder"), "Next": "Done"},
        "Done": {"Type": "Succeed"},
    },
}
EXPECTED_TYPES = [
    "ExecutionStarted",
    "PassStateEntered", "PassStateExited",
    "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
    "LambdaFunctionSucceeded", "TaskStateExited",
    "WaitStateEntered", "WaitStateExited",
    "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
    "WaitStateEntered", "WaitStateExited",
    "TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted",
    "LambdaFunctionSucceeded", "TaskStateExited",
    "SucceedStateEntered", "SucceedStateExited",
    "ExecutionSucceeded",
]  # fmt: skip


def sfn(server: LaminaProcess) -> Any:
    return client(server.endpoint, "stepfunctions", connect_timeout=2, read_timeout=30)


def test_sigkill_during_standard_executions_loses_and_repeats_no_transition(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "20"}  # each Wait lasts 1.5 s of real time
    server = start_server(data, env)
    servers = [server]
    client(server.endpoint, "lambda").create_function(
        FunctionName="adder", Runtime="python3.11", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_source(ADDER)}, Timeout=30,
    )  # fmt: skip
    sm = sfn(server).create_state_machine(
        name="crashy", definition=json.dumps(DEFINITION), roleArn=SFN_ROLE
    )["stateMachineArn"]
    arns = []
    for i in range(N_EXECUTIONS):
        out = sfn(server).start_execution(
            stateMachineArn=sm, name=f"run-{i:03d}", input=json.dumps({"start": i})
        )
        arns.append(out["executionArn"])
    rng = random.Random(14)
    running_at_kill = []
    try:
        for after in KILL_AFTER_S:
            time.sleep(after + rng.uniform(0.0, 0.3))
            running = sfn(server).list_executions(stateMachineArn=sm, statusFilter="RUNNING")
            running_at_kill.append(len(running["executions"]))
            kill(server)
            server = start_server(data, env)
            servers.append(server)

        def all_done() -> bool:
            page = sfn(server).list_executions(stateMachineArn=sm, maxResults=1000)
            return all(e["status"] != "RUNNING" for e in page["executions"])

        wait_until(all_done, 120, "every execution to finish")
        results = {}
        for arn in arns:
            described = sfn(server).describe_execution(executionArn=arn)
            events = sfn(server).get_execution_history(executionArn=arn, maxResults=1000)["events"]
            results[arn] = (described, events)
    finally:
        for s in servers:
            s.stop()

    print(f"\nworkflow crash test: {N_EXECUTIONS} executions, {len(KILL_AFTER_S)} SIGKILLs, "
          f"running at each kill: {running_at_kill}")  # fmt: skip
    assert sum(n > 0 for n in running_at_kill) >= 2  # the kills hit running executions
    for i, arn in enumerate(arns):
        described, events = results[arn]
        assert described["status"] == "SUCCEEDED", (arn, described)
        assert json.loads(described["output"]) == {"n": i + 3}
        assert [e["type"] for e in events] == EXPECTED_TYPES, arn
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))


# Iterations wait 0, 1 and 3 s of real time (at scale 20), the other branch 0.5 s: at each
# kill some branches have ended, one or more are in flight.
NESTED = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {
                        "Each": {
                            "Type": "Map",
                            "ItemsPath": "$.items",
                            "ItemProcessor": {
                                "StartAt": "Nap",
                                "States": {
                                    "Nap": {"Type": "Wait", "SecondsPath": "$.wait", "Next": "Add1"},
                                    "Add1": {"Type": "Task", "Resource": function_arn("adder"),
                                             "Next": "Add2"},
                                    "Add2": {"Type": "Task", "Resource": function_arn("adder"),
                                             "End": True},
                                },
                            },
                            "End": True,
                        }
                    },
                },
                {
                    "StartAt": "Doze",
                    "States": {
                        "Doze": {"Type": "Wait", "Seconds": 10, "Next": "Add"},
                        "Add": {"Type": "Task", "Resource": function_arn("adder"), "End": True},
                    },
                },
            ],
            "End": True,
        }
    },
}  # fmt: skip


def _nested_input(i: int) -> str:
    items = [{"n": i, "wait": 0}, {"n": i + 10, "wait": 20}, {"n": i + 20, "wait": 60}]
    return json.dumps({"n": i, "items": items})


def test_sigkill_during_nested_branches_resumes_them_with_complete_histories(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "20"}
    server = start_server(data, env)
    servers = [server]
    client(server.endpoint, "lambda").create_function(
        FunctionName="adder", Runtime="python3.11", Handler="app.handler", Role=ROLE,
        Code={"ZipFile": zip_source(ADDER)}, Timeout=30,
    )  # fmt: skip
    sm = sfn(server).create_state_machine(
        name="nested", definition=json.dumps(NESTED), roleArn=SFN_ROLE
    )["stateMachineArn"]
    n = 16
    arns = [
        sfn(server).start_execution(stateMachineArn=sm, name=f"run-{i:03d}",
                                    input=_nested_input(i))["executionArn"]
        for i in range(n)
    ]  # fmt: skip
    rng = random.Random(41)
    running_at_kill = []
    try:
        for after in (1.5, 1.5, 1.5):
            time.sleep(after + rng.uniform(0.0, 0.3))
            running = sfn(server).list_executions(stateMachineArn=sm, statusFilter="RUNNING")
            running_at_kill.append(len(running["executions"]))
            kill(server)
            server = start_server(data, env)
            servers.append(server)

        def all_done() -> bool:
            page = sfn(server).list_executions(stateMachineArn=sm, maxResults=1000)
            return all(e["status"] != "RUNNING" for e in page["executions"])

        wait_until(all_done, 180, "every execution to finish")
        reference = sfn(server).start_execution(stateMachineArn=sm, input=_nested_input(0))
        wait_until(
            lambda: sfn(server).describe_execution(executionArn=reference["executionArn"])[
                "status"] != "RUNNING",
            60, "the crash-free execution to finish",
        )  # fmt: skip
        expected = sfn(server).get_execution_history(
            executionArn=reference["executionArn"], maxResults=1000
        )["events"]
        results = {}
        for arn in arns:
            described = sfn(server).describe_execution(executionArn=arn)
            events = sfn(server).get_execution_history(executionArn=arn, maxResults=1000)["events"]
            results[arn] = (described, events)
    finally:
        for s in servers:
            s.stop()

    print(f"\nnested crash test: {n} executions, 3 SIGKILLs, running at each kill: "
          f"{running_at_kill}")  # fmt: skip
    assert sum(k > 0 for k in running_at_kill) >= 2  # the kills hit running executions
    shape = Counter(e["type"] for e in expected)
    assert shape["MapIterationSucceeded"] == 3 and shape["LambdaFunctionSucceeded"] == 7
    for i, arn in enumerate(arns):
        described, events = results[arn]
        assert described["status"] == "SUCCEEDED", (arn, described)
        assert json.loads(described["output"]) == [
            [{"n": i + 2}, {"n": i + 12}, {"n": i + 22}],
            {"n": i + 1},
        ]
        # Every state's events once, none lost or repeated, ids and chains well formed.
        assert Counter(e["type"] for e in events) == shape, arn
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        # the first state's Entered event chained to 0 (as on AWS), every other one back
        assert events[1]["previousEventId"] == 0, arn
        assert all(0 < e["previousEventId"] < e["id"] for e in events[2:]), arn
        assert events[-1]["type"] == "ExecutionSucceeded"
