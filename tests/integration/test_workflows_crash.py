"""SIGKILL a real ``lamina serve`` again and again while Standard executions run.

Many executions of a workflow with Lambda tasks (Python, in Lamina's sandbox) and Wait
states are started through boto3; the server is killed with SIGKILL at random moments and
restarted on the same data directory. Every execution must finish SUCCEEDED with the
output it would have had without crashes, and its history must be exactly the crash-free
one: a transition is committed with the history written since the previous one, so a
state in flight at the kill leaves no trace and runs again (at-least-once for its Task).
"""

from __future__ import annotations

import json
import random
import time
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
