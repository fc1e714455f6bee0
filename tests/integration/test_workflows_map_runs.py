"""A distributed Map's Map Run and child executions through boto3 (real server):
MapRunStarted/MapRunSucceeded in the parent's history, DescribeMapRun, ListMapRuns,
UpdateMapRun, ListExecutions by mapRunArn and DescribeExecution of a child, with a
tolerated failure and both child execution types; a child's own history, StopExecution of
a child, UpdateMapRun applied to a running Map, Map Runs kept across a restart."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, aws_client

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

ROLE = "arn:aws:iam::123456789012:role/sfn"


def definition(child_type: str) -> dict[str, Any]:
    return {
        "StartAt": "Each",
        "States": {
            "Each": {
                "Type": "Map",
                "Label": "Orders",
                "ItemsPath": "$.orders",
                "MaxConcurrency": 2,
                "ToleratedFailureCount": 1,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": child_type},
                    "StartAt": "Check",
                    "States": {
                        "Check": {
                            "Type": "Choice",
                            "Choices": [{"Variable": "$.bad", "IsPresent": True, "Next": "No"}],
                            "Default": "Yes",
                        },
                        "Yes": {"Type": "Pass", "Parameters": {"ok.$": "$.id"}, "End": True},
                        "No": {"Type": "Fail", "Error": "BadOrder", "Cause": "bad"},
                    },
                },
                "End": True,
            }
        },
    }


ORDERS = [{"id": 1}, {"id": 2, "bad": True}, {"id": 3}, {"id": 4}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("map-runs")).start()
    yield proc
    proc.stop()


def sfn(server: LaminaProcess) -> Any:
    return aws_client(server, "stepfunctions", "test", "test", inject_host_prefix=False)


def run(server: LaminaProcess, name: str, child_type: str) -> tuple[str, dict[str, Any]]:
    client = sfn(server)
    sm = client.create_state_machine(
        name=name, definition=json.dumps(definition(child_type)), roleArn=ROLE
    )["stateMachineArn"]
    arn = client.start_execution(stateMachineArn=sm, input=json.dumps({"orders": ORDERS}))[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while (done := client.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return arn, done


def test_a_distributed_map_has_a_map_run_with_child_executions(server: LaminaProcess) -> None:
    client = sfn(server)
    arn, done = run(server, "orders", "STANDARD")
    assert done["status"] == "SUCCEEDED", done
    assert json.loads(done["output"]) == [
        {"ok": 1}, {"Error": "BadOrder", "Cause": "bad"}, {"ok": 3}, {"ok": 4},
    ]  # fmt: skip

    events = client.get_execution_history(executionArn=arn)["events"]
    types = [e["type"] for e in events]
    started = next(e for e in events if e["type"] == "MapRunStarted")
    map_run = started["mapRunStartedEventDetails"]["mapRunArn"]
    assert map_run.startswith("arn:aws:states:us-east-1:") and ":mapRun:orders/Orders:" in map_run
    assert types.index("MapRunStarted") < types.index("MapRunSucceeded")
    assert types.index("MapRunSucceeded") < types.index("MapStateSucceeded")

    (listed,) = client.list_map_runs(executionArn=arn)["mapRuns"]
    assert (listed["mapRunArn"], listed["executionArn"]) == (map_run, arn)
    described = client.describe_map_run(mapRunArn=map_run)
    assert (described["status"], described["maxConcurrency"]) == ("SUCCEEDED", 2)
    assert described["toleratedFailureCount"] == 1
    counts = described["itemCounts"]
    assert (counts["succeeded"], counts["failed"], counts["total"]) == (3, 1, 4)
    assert described["executionCounts"]["total"] == 4

    children = client.list_executions(mapRunArn=map_run)["executions"]
    assert len(children) == 4
    assert all(":execution:orders/Orders:" in c["executionArn"] for c in children)
    assert all(c["mapRunArn"] == map_run for c in children)
    (failed,) = client.list_executions(mapRunArn=map_run, statusFilter="FAILED")["executions"]
    child = client.describe_execution(executionArn=failed["executionArn"])
    assert (child["status"], child["error"], json.loads(child["input"])) == (
        "FAILED", "BadOrder", {"id": 2, "bad": True},
    )  # fmt: skip
    # Each child has its own history; the parent has none of the children's events.
    assert not [t for t in types if t.startswith("MapIteration") or t.startswith("Choice")]
    child_events = client.get_execution_history(executionArn=failed["executionArn"])["events"]
    assert [e["type"] for e in child_events] == [
        "ExecutionStarted", "ChoiceStateEntered", "ChoiceStateExited", "FailStateEntered",
        "ExecutionFailed",
    ]  # fmt: skip
    assert json.loads(child_events[0]["executionStartedEventDetails"]["input"]) == {
        "id": 2, "bad": True,
    }  # fmt: skip
    assert child_events[-1]["executionFailedEventDetails"]["error"] == "BadOrder"
    ok = next(c for c in children if c["status"] == "SUCCEEDED")
    assert "ok" in json.loads(client.describe_execution(executionArn=ok["executionArn"])["output"])

    client.update_map_run(mapRunArn=map_run, maxConcurrency=5, toleratedFailurePercentage=10)
    updated = client.describe_map_run(mapRunArn=map_run)
    assert (updated["maxConcurrency"], updated["toleratedFailurePercentage"]) == (5, 10.0)
    with pytest.raises(ClientError) as missing:
        client.describe_map_run(mapRunArn=map_run + "x")
    assert missing.value.response["Error"]["Code"] == "ResourceNotFound"


def test_express_children_have_express_arns(server: LaminaProcess) -> None:
    client = sfn(server)
    arn, done = run(server, "quick-orders", "EXPRESS")
    assert done["status"] == "SUCCEEDED"
    (listed,) = client.list_map_runs(executionArn=arn)["mapRuns"]
    children = client.list_executions(mapRunArn=listed["mapRunArn"])["executions"]
    assert len(children) == 4
    assert all(":express:quick-orders/Orders:" in c["executionArn"] for c in children)


NAPPING = {
    "StartAt": "Each",
    "States": {
        "Each": {
            "Type": "Map",
            "ItemsPath": "$.items",
            "MaxConcurrency": 1,
            "ItemProcessor": {
                "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                "StartAt": "Nap",
                "States": {"Nap": {"Type": "Wait", "Seconds": 6, "End": True}},
            },
            "End": True,
        }
    },
}


def test_update_map_run_applies_to_a_running_map_and_a_child_can_be_stopped(
    server: LaminaProcess,
) -> None:
    client = sfn(server)
    sm = client.create_state_machine(name="napping", definition=json.dumps(NAPPING), roleArn=ROLE)[
        "stateMachineArn"
    ]
    arn = client.start_execution(stateMachineArn=sm, input=json.dumps({"items": [1, 2, 3, 4]}))[
        "executionArn"
    ]

    def counts() -> dict[str, int]:
        runs = client.list_map_runs(executionArn=arn)["mapRuns"]
        if not runs:
            return {"running": 0, "succeeded": 0}
        got: dict[str, int] = client.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
        return got

    deadline = time.monotonic() + 60
    while counts()["running"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    map_run = client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
    assert counts()["running"] == 1  # MaxConcurrency 1
    client.update_map_run(mapRunArn=map_run, maxConcurrency=4, toleratedFailureCount=1)
    while (now := counts())["running"] < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # All four run at once, before the first one's six-second nap is over.
    assert now["succeeded"] == 0

    victim = client.list_executions(mapRunArn=map_run, statusFilter="RUNNING")["executions"][0]
    client.stop_execution(executionArn=victim["executionArn"], error="Enough", cause="stopped")
    while (done := client.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    # The aborted child is the one failure UpdateMapRun made tolerable.
    assert done["status"] == "SUCCEEDED", done
    stopped = client.describe_execution(executionArn=victim["executionArn"])
    assert (stopped["status"], stopped.get("error")) == ("ABORTED", "Enough")
    events = client.get_execution_history(executionArn=victim["executionArn"])["events"]
    assert [e["type"] for e in events][-1] == "ExecutionAborted"
    final = client.describe_map_run(mapRunArn=map_run)["itemCounts"]
    assert (final["succeeded"], final["aborted"], final["total"]) == (3, 1, 4)


def test_map_runs_and_child_histories_survive_a_restart(tmp_path: Path) -> None:
    first = LaminaProcess(tmp_path).start()
    try:
        arn, done = run(first, "kept-orders", "STANDARD")
        assert done["status"] == "SUCCEEDED"
        client = sfn(first)
        map_run = client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"]
        before = client.describe_map_run(mapRunArn=map_run)
        children = client.list_executions(mapRunArn=map_run)["executions"]
        histories = {
            c["executionArn"]: client.get_execution_history(executionArn=c["executionArn"])[
                "events"
            ]
            for c in children
        }
    finally:
        first.stop()
    second = LaminaProcess(tmp_path).start()
    try:
        client = sfn(second)
        assert client.list_map_runs(executionArn=arn)["mapRuns"][0]["mapRunArn"] == map_run
        after = client.describe_map_run(mapRunArn=map_run)
        assert (after["status"], after["itemCounts"]) == (before["status"], before["itemCounts"])
        again = client.list_executions(mapRunArn=map_run)["executions"]
        assert sorted(c["executionArn"] for c in again) == sorted(histories)
        for child_arn, events in histories.items():
            assert client.get_execution_history(executionArn=child_arn)["events"] == events
        failed = next(c for c in again if c["status"] == "FAILED")
        described = client.describe_execution(executionArn=failed["executionArn"])
        assert (described["error"], json.loads(described["input"])) == (
            "BadOrder", {"id": 2, "bad": True},
        )  # fmt: skip
    finally:
        second.stop()
