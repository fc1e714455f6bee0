"""Run a definition through the engine and its driver, with tasks as plain coroutines."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.workflows.engine import Engine, ExecutionInfo, iso
from lamina.workflows.parse import parse_definition
from lamina.workflows.runner import Clock, Runner
from lamina.workflows.steps import Err, Event, Fail, Ok, Outcome, RunTask, Succeed

Task = Callable[[RunTask], Awaitable[Outcome]]
SM = "arn:aws:states:us-east-1:123456789012:stateMachine:test"


def run(
    definition: dict[str, Any],
    input: Any = None,
    task: Task | None = None,
    scale: float = 1000.0,
) -> tuple[Succeed | Fail, list[Event]]:
    machine = parse_definition(json.dumps(definition))
    info = ExecutionInfo(
        SM.replace(":stateMachine:", ":execution:") + ":run-1",
        "run-1",
        input if input is not None else {},
        iso(time.time()),
        "arn:aws:iam::123456789012:role/r",
        SM,
        "test",
    )
    tokens = iter(range(1, 10**6))
    engine = Engine(info, lambda: f"token-{next(tokens)}", random.Random(7))
    events: list[Event] = []

    async def no_task(rt: RunTask) -> Outcome:
        return Err("States.TaskFailed", f"no task runner for {rt.resource}")

    async def main() -> Succeed | Fail:
        def record(new: tuple[Event, ...], previous: int | None) -> int:
            events.extend(new)
            return len(events)

        runner = Runner(engine, task or no_task, Clock(time.time, scale), record)
        return await runner.run(machine, engine.start(machine, info.input, time.time()))

    return asyncio.run(main()), events


def ok(value: Any) -> Task:
    async def task(rt: RunTask) -> Outcome:
        return Ok(value)

    return task


def echo() -> Task:
    async def task(rt: RunTask) -> Outcome:
        return Ok(rt.payload)

    return task
