"""Ended executions: their histories leave memory past a bound and come back from the
store when asked for; executions past the retention are deleted (memory and disk)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.models.invocation import InvokeResult
from lamina.services.stepfunctions.handler import StepFunctions
from lamina.services.stepfunctions.records import ExecutionRecord
from lamina.services.stepfunctions.retention import DAY_S, KeptHistories, expired
from lamina.workflows.parse import parse_definition

REGION, ACCOUNT = "us-east-1", "123456789012"
PASSES = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Result": {"a": 1}, "Next": "B"},
        "B": {"Type": "Pass", "Next": "C"},
        "C": {"Type": "Succeed"},
    },
}
# Fails after one committed transition: redrivable from the state it reached.
FAILS = {
    "StartAt": "A",
    "States": {
        "A": {"Type": "Pass", "Next": "Stop"},
        "Stop": {"Type": "Fail", "Error": "Nope", "Cause": "on purpose"},
    },
}


# -- the decisions --------------------------------------------------------------------------
def test_kept_histories_page_out_the_least_recently_used_past_the_limit() -> None:
    kept = KeptHistories(limit=10)
    assert kept.hold("a", 4) == [] and kept.hold("b", 4) == []
    assert kept.hold("a", 4) == []  # used again: "b" is now the oldest
    assert kept.hold("c", 4) == ["b"]  # 12 > 10
    assert kept.events == 8 and "b" not in kept and "a" in kept
    kept.drop("a")
    assert kept.events == 4 and "a" not in kept
    kept.drop("a")  # dropping twice changes nothing
    assert kept.events == 4


def test_kept_histories_never_page_out_the_history_just_used() -> None:
    kept = KeptHistories(limit=10)
    kept.hold("small", 2)
    assert kept.hold("huge", 50) == ["small"]  # alone above the limit, but it stays
    assert kept.events == 50 and "huge" in kept


def _ended(stopped: float | None, status: str = "SUCCEEDED") -> ExecutionRecord:
    machine = parse_definition(json.dumps(PASSES))
    return ExecutionRecord("arn", "sm", "n", "{}", 0.0, "{}", "role", machine, status=status,
                           stopped=stopped)  # fmt: skip


def test_expired_after_the_retention_once_ended() -> None:
    keep = 90 * DAY_S
    assert expired(_ended(0.0), keep + 1, keep)
    assert not expired(_ended(0.0), keep, keep)  # exactly the retention: still kept
    assert not expired(_ended(None, "RUNNING"), 10 * keep, keep)
    assert not expired(_ended(0.0), 10 * keep, 0.0)  # 0: kept for ever


# -- the service, in process, on its own store ----------------------------------------------
async def _no_invoke(name: str, qualifier: str | None, payload: bytes, rid: str) -> InvokeResult:
    raise AssertionError("these workflows invoke no function")


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


async def _open(data: Path, clock: Clock, days: float = 1.0) -> StepFunctions:
    sfn = StepFunctions.open(data, _no_invoke, clock, region=REGION, account=ACCOUNT,
                             fsync=False, history_days=days)  # fmt: skip
    await sfn.start()
    return sfn


async def _call(sfn: StepFunctions, op: str, body: dict[str, Any]) -> dict[str, Any]:
    table = sfn._table  # the operations by name, as the handler dispatches them
    return await table[op](body)


async def _machine(sfn: StepFunctions, name: str, definition: dict[str, Any]) -> str:
    out = await _call(sfn, "CreateStateMachine", {
        "name": name, "definition": json.dumps(definition),
        "roleArn": f"arn:aws:iam::{ACCOUNT}:role/r",
    })  # fmt: skip
    return str(out["stateMachineArn"])


async def _run(sfn: StepFunctions, machine: str, name: str) -> str:
    out = await _call(sfn, "StartExecution", {"stateMachineArn": machine, "name": name})
    arn = str(out["executionArn"])
    await sfn.operations.runs[arn].done.wait()
    return arn


async def _history(sfn: StepFunctions, arn: str) -> list[dict[str, Any]]:
    out = await _call(sfn, "GetExecutionHistory", {"executionArn": arn, "maxResults": 1000})
    return list(out["events"])


def _rows(data: Path, arn: str) -> tuple[int, int]:
    with sqlite3.connect(data / "stepfunctions.db") as c:
        ex = c.execute("SELECT COUNT(*) FROM executions WHERE arn = ?", (arn,)).fetchone()[0]
        pr = c.execute("SELECT COUNT(*) FROM progress WHERE execution = ?", (arn,)).fetchone()[0]
    return int(ex), int(pr)


def test_histories_leave_memory_past_the_bound_and_come_back_whole(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        sfn = await _open(tmp_path, clock)
        sfn.operations.histories.kept.limit = 10  # two 8-event histories do not fit
        machine = await _machine(sfn, "passes", PASSES)
        first = await _run(sfn, machine, "first")
        before = await _history(sfn, first)
        assert [e["type"] for e in before][-1] == "ExecutionSucceeded" and len(before) == 8
        second = await _run(sfn, machine, "second")
        runs = sfn.operations.runs
        # The older ended history left memory; the newer stayed.
        assert runs[first].paged_out and runs[first].history == []
        assert not runs[second].paged_out and len(runs[second].history) == 8
        # Asked for, it comes back whole from the store (and the other one leaves).
        assert await _history(sfn, first) == before
        assert not runs[first].paged_out and runs[second].paged_out
        described = await _call(sfn, "DescribeExecution", {"executionArn": second})
        assert described["status"] == "SUCCEEDED"  # describing needs no history
        await sfn.close()

        # After a restart every ended execution starts paged out, and reads back the same.
        again = await _open(tmp_path, clock)
        assert again.operations.runs[first].paged_out
        # ... and executions of one definition share one parsed machine.
        assert again.operations.runs[first].machine is again.operations.runs[second].machine
        assert await _history(again, first) == before
        await again.close()

    asyncio.run(scenario())


def test_a_paged_out_failed_execution_is_redriven_from_its_stored_cursor(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        sfn = await _open(tmp_path, clock)
        machine = await _machine(sfn, "fails", FAILS)
        arn = await _run(sfn, machine, "once")
        before = await _history(sfn, arn)
        await sfn.close()

        again = await _open(tmp_path, clock)
        ex = again.operations.runs[arn]
        assert ex.paged_out and ex.last_cursor is None and ex.cursor_stored
        described = await _call(again, "DescribeExecution", {"executionArn": arn})
        assert described["redriveStatus"] == "REDRIVABLE"
        await _call(again, "RedriveExecution", {"executionArn": arn})
        await ex.done.wait()
        after = await _history(again, arn)
        assert after[: len(before)] == before  # the earlier events kept, not rewritten
        types = [e["type"] for e in after[len(before) :]]
        assert types[0] == "ExecutionRedriven" and types[-1] == "ExecutionFailed"
        assert "PassStateEntered" not in types  # the state before the cursor did not run again
        await again.close()

    asyncio.run(scenario())


def test_executions_past_the_retention_are_deleted_from_memory_and_disk(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        sfn = await _open(tmp_path, clock, days=1.0)
        machine = await _machine(sfn, "passes", PASSES)
        old = await _run(sfn, machine, "old")
        clock.t += 0.5 * DAY_S
        young = await _run(sfn, machine, "young")
        assert _rows(tmp_path, old)[0] == 1 and _rows(tmp_path, old)[1] > 0
        clock.t += 0.6 * DAY_S  # "old" ended 1.1 days ago, "young" 0.6
        assert await sfn.operations.histories.sweep(clock()) == 1
        with pytest.raises(AwsServiceError) as err:
            await _call(sfn, "DescribeExecution", {"executionArn": old})
        assert err.value.code == "ExecutionDoesNotExist"
        listed = await _call(sfn, "ListExecutions", {"stateMachineArn": machine})
        assert [e["executionArn"] for e in listed["executions"]] == [young]
        assert _rows(tmp_path, old) == (0, 0)
        assert _rows(tmp_path, young)[0] == 1
        await sfn.close()

        # A restart a day later deletes the other at start-up.
        clock.t += 0.5 * DAY_S
        again = await _open(tmp_path, clock, days=1.0)
        assert young not in again.operations.runs and _rows(tmp_path, young) == (0, 0)
        assert again.operations.by_machine.get(machine) is None
        await again.close()

    asyncio.run(scenario())


def test_retention_zero_keeps_ended_executions_for_ever(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = Clock()
        sfn = await _open(tmp_path, clock, days=0.0)
        machine = await _machine(sfn, "passes", PASSES)
        arn = await _run(sfn, machine, "kept")
        clock.t += 10_000 * DAY_S
        assert await sfn.operations.histories.sweep(clock()) == 0
        assert len(await _history(sfn, arn)) == 8
        await sfn.close()

    asyncio.run(scenario())
