"""The ``...Path`` forms of a state's numbers: TimeoutSecondsPath, HeartbeatSecondsPath,
MaxConcurrencyPath, ToleratedFailureCountPath and ToleratedFailurePercentage(Path) read
their value from the state's input, as the fixed forms give it."""

from __future__ import annotations

import asyncio
from typing import Any

from lamina.workflows.steps import Err, Fail, Ok, Outcome, RunTask, Succeed
from tests.workflows.helpers import run

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def test_timeout_and_heartbeat_paths_reach_the_task() -> None:
    seen: list[tuple[float | None, float | None]] = []

    async def task(rt: RunTask) -> Outcome:
        seen.append((rt.timeout_s, rt.heartbeat_s))
        return Ok("done")

    definition = {
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": FN, "TimeoutSecondsPath": "$.limits.total",
                  "HeartbeatSecondsPath": "$.limits.beat", "Next": "U"},
            "U": {"Type": "Task", "Resource": FN, "TimeoutSeconds": 9, "HeartbeatSeconds": 3,
                  "End": True},
        },
    }  # fmt: skip
    end, _ = run(definition, {"limits": {"total": 120, "beat": 30}}, task)
    assert isinstance(end, Succeed)
    assert seen == [(120, 30), (9, 3)]


def test_a_timeout_path_that_is_not_a_positive_integer_fails_the_state() -> None:
    definition = {
        "StartAt": "T",
        "States": {"T": {"Type": "Task", "Resource": FN, "TimeoutSecondsPath": "$.t",
                         "End": True}},
    }  # fmt: skip

    async def task(rt: RunTask) -> Outcome:
        return Ok("never")

    end, _ = run(definition, {"t": "soon"}, task)
    assert isinstance(end, Fail) and end.error == "States.Runtime", end


def _map(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "StartAt": "T", "States": {"T": {"Type": "Task", "Resource": FN, "End": True}},
                },
                "End": True,
                **extra,
            }
        },
    }  # fmt: skip


def test_max_concurrency_path_bounds_the_iterations_running_at_once() -> None:
    running = peak = 0

    async def task(rt: RunTask) -> Outcome:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1
        return Ok(rt.payload)

    end, _ = run(_map({"MaxConcurrencyPath": "$.width"}), {"items": list(range(6)), "width": 2},
                 task)  # fmt: skip
    assert isinstance(end, Succeed) and end.output == list(range(6))
    assert peak == 2


async def _odd_fails(rt: RunTask) -> Outcome:
    return Err("Odd", "odd item") if rt.payload % 2 else Ok(rt.payload)


def test_tolerated_failure_percentage_and_the_paths_decide_the_map() -> None:
    items = {"items": [1, 2, 3, 4], "count": 2, "pct": 50, "low": 25}
    # Two of four items fail: 50 % is tolerated, 25 % is not; a count of 2 is, of 1 is not.
    for extra, passes in (
        ({"ToleratedFailurePercentage": 50}, True),
        ({"ToleratedFailurePercentage": 25}, False),
        ({"ToleratedFailurePercentagePath": "$.pct"}, True),
        ({"ToleratedFailurePercentagePath": "$.low"}, False),
        ({"ToleratedFailureCountPath": "$.count"}, True),
        ({"ToleratedFailureCount": 1}, False),
    ):
        end, _ = run(_map(extra), items, _odd_fails)
        if passes:
            assert isinstance(end, Succeed), (extra, end)
            assert end.output[1::2] == [2, 4]
            assert end.output[0] == {"Error": "Odd", "Cause": "odd item"}
        else:
            assert isinstance(end, Fail), (extra, end)
            assert end.error == "States.ExceedToleratedFailureThreshold", (extra, end)
