"""SIGKILL a real ``lamina serve`` in the middle of a Standard execution's Map state: after
the restart, only the iterations that had not ended run again.

Each iteration waits (on the schedule clock) and then passes its item on; MaxConcurrency 1
makes them run one after another. The server is killed once three iterations have ended;
the resumed execution's history shows the states of the remaining three iterations only
(the in-flight one runs again from its start), and the output is every item in order.
The same with a distributed Map: every child execution has a history after the restart,
and those that had ended are not run again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client, kill, start_server, wait_until
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SFN_ROLE = "arn:aws:iam::123456789012:role/sfn"
ITEMS = [{"n": i} for i in range(6)]
DEFINITION = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "INLINE"},
                "StartAt": "Nap",
                "States": {
                    "Nap": {"Type": "Wait", "Seconds": 20, "Next": "Keep"},
                    "Keep": {"Type": "Pass", "Parameters": {"done.$": "$.n"}, "End": True},
                },
            },
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def sfn(server: LaminaProcess) -> Any:
    return client(server.endpoint, "stepfunctions", connect_timeout=2, read_timeout=30)


def types(server: LaminaProcess, arn: str) -> list[str]:
    events = sfn(server).get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return [e["type"] for e in events]


def test_a_resumed_map_runs_only_the_iterations_that_had_not_ended(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "40"}  # each Wait is half a second of real time
    server = start_server(data, env)
    servers = [server]
    try:
        sm = sfn(server).create_state_machine(
            name="mapper", definition=json.dumps(DEFINITION), roleArn=SFN_ROLE
        )["stateMachineArn"]
        arn = sfn(server).start_execution(stateMachineArn=sm, input=json.dumps({"items": ITEMS}))[
            "executionArn"
        ]

        def three_ended() -> bool:
            return types(server, arn).count("MapIterationSucceeded") >= 3

        wait_until(three_ended, 60, "three iterations to end")
        before = types(server, arn).count("MapIterationSucceeded")
        time.sleep(0.1)  # their outcomes' group commit (milliseconds), well inside a Wait
        kill(server)
        server = start_server(data, env)
        servers.append(server)

        def finished() -> bool:
            return bool(sfn(server).describe_execution(executionArn=arn)["status"] != "RUNNING")

        wait_until(finished, 60, "the execution to finish")
        described = sfn(server).describe_execution(executionArn=arn)
        history = types(server, arn)
    finally:
        for s in servers:
            s.stop()
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"done": i} for i in range(6)]
    assert history.count("MapIterationStarted") == history.count("MapIterationSucceeded") == 6
    # Only the iterations that had not ended ran their states again.
    assert before in (3, 4)  # the fourth may have ended between the poll and the kill
    assert history.count("WaitStateEntered") == 6 - before
    assert history.count("MapStateEntered") == 1
    assert history[-1] == "ExecutionSucceeded"


def _distributed() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(json.dumps(DEFINITION))
    definition["States"]["Each"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD",
    }  # fmt: skip
    return definition


def test_a_resumed_distributed_map_shows_every_child_with_a_history(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "40"}
    server = start_server(data, env)
    servers = [server]
    try:
        sm = sfn(server).create_state_machine(
            name="dmapper", definition=json.dumps(_distributed()), roleArn=SFN_ROLE
        )["stateMachineArn"]
        arn = sfn(server).start_execution(stateMachineArn=sm, input=json.dumps({"items": ITEMS}))[
            "executionArn"
        ]

        def counts() -> dict[str, int]:
            runs = sfn(server).list_map_runs(executionArn=arn)["mapRuns"]
            if not runs:
                return {"succeeded": 0}
            got: dict[str, int] = sfn(server).describe_map_run(mapRunArn=runs[0]["mapRunArn"])[
                "itemCounts"
            ]
            return got

        wait_until(lambda: counts()["succeeded"] >= 2, 60, "two children to end")
        time.sleep(0.1)  # their outcomes' group commit
        kill(server)
        server = start_server(data, env)
        servers.append(server)
        wait_until(
            lambda: sfn(server).describe_execution(executionArn=arn)["status"] != "RUNNING",
            60,
            "the execution to finish",
        )
        described = sfn(server).describe_execution(executionArn=arn)
        (latest,) = sfn(server).list_map_runs(executionArn=arn)["mapRuns"]
        children = sfn(server).list_executions(mapRunArn=latest["mapRunArn"])["executions"]
        histories = [
            [e["type"] for e in sfn(server).get_execution_history(
                executionArn=c["executionArn"])["events"]]
            for c in children
        ]  # fmt: skip
    finally:
        for s in servers:
            s.stop()
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"done": i} for i in range(6)]
    assert len(children) == 6
    for events in histories:
        assert events[0] == "ExecutionStarted" and events[-1] == "ExecutionSucceeded", events
    # The children that had ended before the kill were not run again: no states of theirs.
    assert sum("WaitStateEntered" not in events for events in histories) >= 2
