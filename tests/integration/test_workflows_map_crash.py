"""SIGKILL a real ``lamina serve`` in the middle of a Standard execution's Map state: after
the restart, the iterations that had ended are not run again, the one in flight goes on
from its last committed transition, and the finished history is the one a run without the
crash writes (every state's events once, the ended iterations' with their first
timestamps).

Each iteration waits (on the schedule clock) and then passes its item on; MaxConcurrency 1
makes them run one after another. The server is killed once three iterations have ended.
The same with the Map nested in a Parallel branch (any depth is kept), and with a
distributed Map: every child execution has a history after the restart, and those that
had ended are not run again.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client, kill, start_server, wait_until
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SFN_ROLE = "arn:aws:iam::123456789012:role/sfn"
ITEMS = [{"n": i} for i in range(6)]
DEFINITION: dict[str, Any] = {
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
# The same Map as one branch of a Parallel, beside a branch that waits and passes.
NESTED = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": "Each",
                    "States": {**DEFINITION["States"], "Done": {"Type": "Pass", "End": True}},
                },
                {
                    "StartAt": "Doze",
                    "States": {
                        "Doze": {"Type": "Wait", "Seconds": 30, "Next": "Side"},
                        "Side": {"Type": "Pass", "Result": "side", "End": True},
                    },
                },
            ],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def sfn(server: LaminaProcess) -> Any:
    return client(server.endpoint, "stepfunctions", connect_timeout=2, read_timeout=30)


def events_of(server: LaminaProcess, arn: str) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = sfn(server).get_execution_history(
        executionArn=arn, maxResults=1000
    )["events"]
    return got


def types(server: LaminaProcess, arn: str) -> list[str]:
    return [e["type"] for e in events_of(server, arn)]


def _finished(server: LaminaProcess, arn: str) -> None:
    wait_until(
        lambda: sfn(server).describe_execution(executionArn=arn)["status"] != "RUNNING",
        60,
        "the execution to finish",
    )


def _shape(events: list[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """Each event's type and the state or iteration it names: what a history holds,
    without its ids, timestamps and the order of concurrent branches."""
    shape: Counter[tuple[str, str]] = Counter()
    for e in events:
        details: dict[str, Any] = next((v for k, v in e.items() if k.endswith("EventDetails")), {})
        shape[(e["type"], f"{details.get('name', '')}#{details.get('index', '')}")] += 1
    return shape


def _crash_during_map(
    tmp_path: Path, definition: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]], int, list[dict[str, Any]]]:
    """Run ``definition`` twice on one data directory: once killed after three Map
    iterations ended (then restarted to finish), once without a crash. Returns the crashed
    run's description and history, the reference history, how many iterations had ended
    at the kill, and the history as it was just before the kill."""
    data = tmp_path / "data"
    env = {"LAMINA_SCHEDULE_TIME_SCALE": "40"}  # each Wait is half a second of real time
    server = start_server(data, env)
    servers = [server]
    try:
        sm = sfn(server).create_state_machine(
            name="mapper", definition=json.dumps(definition), roleArn=SFN_ROLE
        )["stateMachineArn"]
        arn = sfn(server).start_execution(stateMachineArn=sm, input=json.dumps({"items": ITEMS}))[
            "executionArn"
        ]

        def three_ended() -> bool:
            return types(server, arn).count("MapIterationSucceeded") >= 3

        wait_until(three_ended, 60, "three iterations to end")
        seen = events_of(server, arn)
        before = [e["type"] for e in seen].count("MapIterationSucceeded")
        # What was seen is committed well before the kill (a group commit takes milliseconds;
        # each Wait lasts half a second).
        time.sleep(0.1)
        kill(server)
        server = start_server(data, env)
        servers.append(server)
        _finished(server, arn)
        described = sfn(server).describe_execution(executionArn=arn)
        history = events_of(server, arn)
        reference = sfn(server).start_execution(
            stateMachineArn=sm, input=json.dumps({"items": ITEMS})
        )["executionArn"]
        _finished(server, reference)
        expected = events_of(server, reference)
    finally:
        for s in servers:
            s.stop()
    return described, history, expected, before, seen


def _check_resumed(
    history: list[dict[str, Any]],
    expected: list[dict[str, Any]],
    before: int,
    seen: list[dict[str, Any]],
) -> None:
    # The history reads as without the crash: the same events, once each.
    assert _shape(history) == _shape(expected)
    assert [e["id"] for e in history] == list(range(1, len(history) + 1))
    assert history[1]["previousEventId"] == 0  # the first state's Entered event, as on AWS
    for e in history[2:]:
        assert 0 < e["previousEventId"] < e["id"], e
    assert history[-1]["type"] == "ExecutionSucceeded"
    # What the branches had done before the kill was not done again: each of their events
    # seen then is in the final history with its first timestamp (a re-run would write it
    # with a new one, and once more). That includes the Wait in flight, which went on
    # from where it was rather than beginning again.
    assert before in (3, 4)  # the fourth may have ended between the poll and the kill
    inner = ("MapIteration", "WaitState", "PassState")
    earlier = Counter((e["type"], e["timestamp"]) for e in seen if e["type"].startswith(inner))
    final = Counter((e["type"], e["timestamp"]) for e in history)
    assert earlier and not earlier - final, earlier - final
    assert sum(t == "MapIterationSucceeded" for t, _ in earlier) == before


def test_a_resumed_map_runs_only_the_iterations_that_had_not_ended(tmp_path: Path) -> None:
    described, history, expected, before, seen = _crash_during_map(tmp_path, DEFINITION)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"done": i} for i in range(6)]
    assert [e["type"] for e in history].count("MapStateEntered") == 1
    _check_resumed(history, expected, before, seen)


def test_a_map_nested_in_a_parallel_branch_resumes_the_same_way(tmp_path: Path) -> None:
    described, history, expected, before, seen = _crash_during_map(tmp_path, NESTED)
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [[{"done": i} for i in range(6)], "side"]
    _check_resumed(history, expected, before, seen)
    # The other branch's Wait had begun before the kill and was not begun again (its event
    # is written again, with its first timestamp; ids follow the order of writing).
    (doze,) = [e for e in history if e.get("stateEnteredEventDetails", {}).get("name") == "Doze"]
    assert (doze["type"], doze["timestamp"]) in {(e["type"], e["timestamp"]) for e in seen}


def _distributed() -> dict[str, Any]:
    definition: dict[str, Any] = json.loads(json.dumps(DEFINITION))
    definition["States"]["Each"]["ItemProcessor"]["ProcessorConfig"] = {
        "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD",
    }  # fmt: skip
    return definition


def _children(server: LaminaProcess, arn: str) -> dict[str, list[dict[str, Any]]]:
    """The histories of the children of ``arn``'s latest Map Run, by their input."""
    runs = sfn(server).list_map_runs(executionArn=arn)["mapRuns"]
    if not runs:
        return {}
    children = sfn(server).list_executions(mapRunArn=runs[0]["mapRunArn"])["executions"]
    out = {}
    for c in children:
        events = events_of(server, c["executionArn"])
        if events:
            out[events[0]["executionStartedEventDetails"]["input"]] = events
    return out


def test_a_resumed_distributed_map_resumes_every_child_with_its_history(tmp_path: Path) -> None:
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

        def ended() -> int:
            return sum(
                h[-1]["type"] == "ExecutionSucceeded" for h in _children(server, arn).values()
            )

        wait_until(lambda: ended() >= 2, 60, "two children to end")
        seen = _children(server, arn)
        time.sleep(0.1)  # what was seen is committed (milliseconds; each Wait is 0.5 s)
        kill(server)
        server = start_server(data, env)
        servers.append(server)
        wait_until(
            lambda: sfn(server).describe_execution(executionArn=arn)["status"] != "RUNNING",
            60,
            "the execution to finish",
        )
        described = sfn(server).describe_execution(executionArn=arn)
        final = _children(server, arn)
    finally:
        for s in servers:
            s.stop()
    assert described["status"] == "SUCCEEDED", described
    assert json.loads(described["output"]) == [{"done": i} for i in range(6)]
    assert len(final) == 6
    # Every child's history is whole: each state's events once, as without the crash.
    for events in final.values():
        assert [e["type"] for e in events] == [
            "ExecutionStarted", "WaitStateEntered", "WaitStateExited", "PassStateEntered",
            "PassStateExited", "ExecutionSucceeded"], events  # fmt: skip
        assert [e["id"] for e in events] == list(range(1, len(events) + 1))
        # chained as without the crash: the first state's Entered event to 0, as on AWS
        assert [e["previousEventId"] for e in events] == [0, 0, 2, 3, 4, 5], events
    # What the children had done before the kill was not done again: each event seen then
    # is in the same child's final history with its first timestamp (the one in its Wait
    # went on from where it was).
    assert sum(h[-1]["type"] == "ExecutionSucceeded" for h in seen.values()) >= 2
    for child_input, events in seen.items():
        earlier = Counter((e["type"], e["timestamp"]) for e in events)
        later = Counter((e["type"], e["timestamp"]) for e in final[child_input])
        assert not earlier - later, (child_input, earlier - later)
