"""TestState: run one state on an input, without a state machine or an execution.

The state is wrapped in a one-state machine (the states it can go to become empty
``Succeed`` states, so its transitions validate) and entered once through the engine. A
Task calls its resource for real, once: an error a retrier would retry is ``RETRIABLE``,
one a catcher catches is ``CAUGHT_ERROR`` (with the catcher's next state and output),
otherwise ``FAILED``. A Wait does not wait. ``inspectionLevel`` DEBUG adds the value after
each processing step (:meth:`~lamina.workflows.engine.Engine.inspect`).
"""

from __future__ import annotations

import json
import random
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.stepfunctions.tasks import TaskRunner
from lamina.services.stepfunctions.tokens import task_token
from lamina.workflows.engine import Engine, ExecutionInfo, iso
from lamina.workflows.errors import InvalidDefinition
from lamina.workflows.parse import parse_definition
from lamina.workflows.runner import Clock, Runner
from lamina.workflows.steps import (
    Err,
    Fail,
    Frame,
    Move,
    Outcome,
    ReadItems,
    RetryLater,
    RunBranches,
    RunTask,
    Sleep,
    Step,
    Succeed,
    WriteResults,
)

NAME = "TestState"


def _targets(state: dict[str, Any]) -> set[str]:
    out = {state["Next"]} if isinstance(state.get("Next"), str) else set()
    for key in ("Catch", "Choices"):
        for item in state.get(key) or []:
            if isinstance(item, dict) and isinstance(item.get("Next"), str):
                out.add(item["Next"])
    if isinstance(state.get("Default"), str):
        out.add(state["Default"])
    return out


async def test_state(body: dict[str, Any], tasks: TaskRunner, clock: Clock, region: str,
                     account: str) -> dict[str, Any]:  # fmt: skip
    raw = body.get("definition")
    if not isinstance(raw, str):
        raise AwsServiceError("ValidationException", "definition is required")
    try:
        state = json.loads(raw)
        input_value = json.loads(body.get("input") or "{}")
        variables = json.loads(body.get("variables") or "{}")
    except ValueError as exc:
        raise AwsServiceError("InvalidDefinition", f"Invalid JSON: {exc}") from None
    if not isinstance(state, dict) or not isinstance(variables, dict):
        raise AwsServiceError("InvalidDefinition", "The definition must be one state (an object)")
    states: dict[str, Any] = {t: {"Type": "Succeed"} for t in _targets(state)}
    states[NAME] = state
    wrapper = {"StartAt": NAME, "States": states}
    if isinstance(state.get("QueryLanguage"), str):
        wrapper["QueryLanguage"] = state["QueryLanguage"]
    try:
        machine = parse_definition(json.dumps(wrapper))
    except InvalidDefinition as exc:
        raise AwsServiceError("InvalidDefinition", str(exc)) from None
    now = clock.now()
    sm_arn = f"arn:aws:states:{region}:{account}:stateMachine:TestState"
    info = ExecutionInfo(sm_arn.replace(":stateMachine:", ":execution:") + ":test", "test",
                         input_value, iso(now), str(body.get("roleArn") or ""), sm_arn,
                         "TestState")  # fmt: skip
    engine = Engine(info, lambda: task_token(48), random.Random())
    runner = Runner(engine, tasks.run, clock, lambda events, previous: 0, map_io=tasks)
    first = Frame(NAME, input_value, variables)
    step: Step = engine.enter(machine, first, now)
    failure: Err | None = None
    result: Outcome | None = None
    while True:
        if isinstance(step, Sleep):
            step = step.then
        elif isinstance(step, RunTask):
            result = outcome = await tasks.run(step)
            failure = outcome if isinstance(outcome, Err) else None
            step = engine.task_done(machine, step.frame, outcome)
        elif isinstance(step, RunBranches):
            outcomes = await runner.run_branches(step)
            failure = next((o for o in outcomes if isinstance(o, Err)), None)
            inputs = [b.input for b in step.branches]
            step = engine.branches_done(machine, step.frame, outcomes, inputs)
        elif isinstance(step, ReadItems):
            step = engine.items_read(machine, step.frame, await tasks.read_items(step))
        elif isinstance(step, WriteResults):
            written = await tasks.write_results(step)
            step = engine.results_written(machine, step.frame, step, written)
        else:
            break
    out: dict[str, Any] = {}
    if body.get("inspectionLevel") in ("DEBUG", "TRACE"):
        steps = engine.inspect(machine, first, result)
        out["inspectionData"] = {
            "input": json.dumps(input_value),
            "variables": json.dumps(variables),
            **{key: json.dumps(value) for key, value in steps.items()},
        }
    if isinstance(step, RetryLater):
        assert failure is not None
        out.update(status="RETRIABLE", error=failure.error, cause=failure.cause)
    elif isinstance(step, Fail):
        out.update(status="FAILED", error=step.error, cause=step.cause)
    elif isinstance(step, Move):
        out["output"] = json.dumps(step.frame.input)
        out["nextState"] = step.frame.state
        if failure is not None:
            out.update(status="CAUGHT_ERROR", error=failure.error, cause=failure.cause)
        else:
            out["status"] = "SUCCEEDED"
    elif isinstance(step, Succeed):
        out.update(status="SUCCEEDED", output=json.dumps(step.output))
    return out
