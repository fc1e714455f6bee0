"""Task integrations with Lamina's own services: SQS ``sendMessage`` and nested
executions (``states:startExecution``, ``.sync``, ``.sync:2``, ``.waitForTaskToken``).

Both call the services in process. Errors take the names Step Functions gives an
integration's failures (``SQS.<code>``, ``StepFunctions.<code>``); a nested ``.sync``
execution that does not succeed fails the task with ``States.TaskFailed`` and the child's
description as the cause.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.stepfunctions.operations import StepFunctionsOperations
from lamina.workflows.runner import task_submitted
from lamina.workflows.steps import Err, Ok, Outcome

SendMessage = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
SQS_SEND = "arn:aws:states:::sqs:sendMessage"
START_EXECUTION = "arn:aws:states:::states:startExecution"


def sqs_send_message(send: SendMessage) -> Callable[[Any, str], Awaitable[Outcome]]:
    async def run(params: Any, mode: str) -> Outcome:
        if mode not in ("", "waitForTaskToken"):
            return Err("States.Runtime", f"sqs:sendMessage does not support .{mode}")
        if not isinstance(params, dict) or not isinstance(params.get("QueueUrl"), str):
            return Err("States.Runtime", "sqs:sendMessage needs Parameters with a QueueUrl")
        body = params.get("MessageBody")
        request = {k: v for k, v in params.items() if k != "MessageBody"}
        request["MessageBody"] = body if isinstance(body, str) else json.dumps(body)
        try:
            answer = await send(request)
        except AwsServiceError as exc:
            return Err(f"SQS.{exc.code.split('.')[-1]}", exc.message)
        return Ok({**answer, "SdkHttpMetadata": {"HttpStatusCode": 200},
                   "SdkResponseMetadata": {}})  # fmt: skip

    return run


def start_execution(ops: StepFunctionsOperations) -> Callable[[Any, str], Awaitable[Outcome]]:
    async def run(params: Any, mode: str) -> Outcome:
        if not isinstance(params, dict) or not isinstance(params.get("StateMachineArn"), str):
            return Err("States.Runtime", "states:startExecution needs a StateMachineArn")
        child_input = params.get("Input", {})
        body: dict[str, Any] = {
            "stateMachineArn": params["StateMachineArn"],
            "input": child_input if isinstance(child_input, str) else json.dumps(child_input),
        }
        if isinstance(params.get("Name"), str):
            body["name"] = params["Name"]
        try:
            started = await ops.start_execution(body)
        except AwsServiceError as exc:
            return Err(f"StepFunctions.{exc.code}Exception", exc.message)
        if mode not in ("sync", "sync:2"):
            return Ok({"ExecutionArn": started["executionArn"],
                       "StartDate": int(started["startDate"] * 1000)})  # fmt: skip
        ex = ops.runs.get(started["executionArn"])
        if ex is None:  # an Express child: not kept, so nothing to wait for
            return Err("States.Runtime", ".sync needs a STANDARD child state machine")
        task_submitted({"ExecutionArn": ex.arn, "StartDate": int(ex.started * 1000)})
        await ex.done.wait()
        parse = mode == "sync:2"
        described: dict[str, Any] = {
            "ExecutionArn": ex.arn,
            "StateMachineArn": ex.machine_arn,
            "Name": ex.name,
            "Status": ex.status,
            "StartDate": int(ex.started * 1000),
            "StopDate": int((ex.stopped or ex.started) * 1000),
            "Input": json.loads(ex.input) if parse else ex.input,
            "InputDetails": {"Included": True},
        }
        if ex.output is not None:
            described["Output"] = json.loads(ex.output) if parse else ex.output
            described["OutputDetails"] = {"Included": True}
        if ex.status != "SUCCEEDED":
            described.update({"Error": ex.error, "Cause": ex.cause})
            return Err("States.TaskFailed", json.dumps(described))
        return Ok(described)

    return run
