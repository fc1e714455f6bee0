"""A top-level Parallel state with a branch log: ended branches are not run again (pure
driver, the executor's durable log replaced by a dict)."""

from __future__ import annotations

import asyncio
import json
import random
import time

from lamina.workflows.engine import Engine, ExecutionInfo, iso
from lamina.workflows.parse import parse_definition
from lamina.workflows.runner import Clock, Runner
from lamina.workflows.steps import Event, Ok, Outcome, RunBranches, RunTask, Succeed
from tests.workflows.helpers import SM

DEFINITION = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {
                    "StartAt": f"T{i}",
                    "States": {
                        f"T{i}": {
                            "Type": "Task",
                            "Resource": f"arn:aws:lambda:us-east-1:123456789012:function:f{i}",
                            "End": True,
                        }
                    },
                }
                for i in range(3)
            ],
            "End": True,
        }
    },
}


class Log:
    def __init__(self, known: dict[int, Outcome]) -> None:
        self._known = known
        self.done_now: dict[int, Outcome] = {}

    def known(self) -> dict[int, Outcome]:
        return dict(self._known)

    def branch(self, index: int) -> None:
        return None  # branches' progress not kept: the ones that had not ended run whole

    def child(self, index: int, run: object) -> None:
        return None

    def done(self, index: int, outcome: Outcome) -> None:
        self.done_now[index] = outcome


def test_known_branches_keep_their_outcome_and_the_others_run() -> None:
    machine = parse_definition(json.dumps(DEFINITION))
    info = ExecutionInfo(f"{SM}:x", "x", {}, iso(time.time()), "r", SM, "test")
    engine = Engine(info, lambda: "token", random.Random(1))
    ran: list[str] = []
    log = Log({1: Ok({"kept": True})})
    logs: list[RunBranches] = []

    async def task(rt: RunTask) -> Outcome:
        ran.append(rt.resource.rsplit(":", 1)[-1])
        return Ok({"ran": rt.resource.rsplit(":", 1)[-1]})

    def branch_log(step: RunBranches) -> Log:
        logs.append(step)
        return log

    def record(events: tuple[Event, ...], previous: int | None) -> int:
        return 0

    async def main() -> object:
        runner = Runner(engine, task, Clock(time.time, 1000.0), record, branch_log=branch_log)
        return await runner.run(machine, engine.start(machine, {}, time.time()))

    end = asyncio.run(main())
    assert isinstance(end, Succeed)
    assert end.output == [{"ran": "f0"}, {"kept": True}, {"ran": "f2"}]
    assert sorted(ran) == ["f0", "f2"]
    assert sorted(log.done_now) == [0, 2] and len(logs) == 1
