"""Task states' integrations: what ``Resource`` means and how its work is done.

* ``arn:aws:states:::lambda:invoke`` (``Parameters``: ``FunctionName``, ``Payload``,
  ``Qualifier``) and plain function ARNs call the in-process invoke path — the same
  scheduler as every other invoke (cold/warm, throttles, the bill), no HTTP.
* ``.waitForTaskToken`` invokes, then waits for ``SendTaskSuccess``/``SendTaskFailure``
  (``SendTaskHeartbeat`` keeps it alive within ``HeartbeatSeconds``).
* SQS ``sendMessage`` and nested ``states:startExecution`` (``.sync``, ``.sync:2``) are
  registered by the wiring (:mod:`.integrations`); ``aws-sdk:*`` on Lamina's own
  services runs through ``sdk`` (:mod:`.sdk_tasks`).
* ``TimeoutSeconds`` and ``HeartbeatSeconds`` run on the schedule clock.

Function errors become the task's error the way Step Functions reports them: the
function's ``errorType`` as ``Error`` and its error document as ``Cause``; Lambda's own
failures are ``Lambda.TooManyRequestsException`` / ``Lambda.ResourceNotFoundException``
/ ``Lambda.ServiceException``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.arns import split_function_arn
from lamina.errors import ApiError, ResourceNotFound, TooManyRequests
from lamina.models.invocation import InvokeResult
from lamina.services.stepfunctions.activities import ActivityTask, ActivityTasks
from lamina.services.stepfunctions.s3_tasks import S3Objects, S3TaskError
from lamina.workflows.distributed import LIST_OBJECTS, parse_items
from lamina.workflows.errors import StatesError
from lamina.workflows.runner import task_submitted
from lamina.workflows.steps import Err, Ok, Outcome, ReadItems, RunTask, WriteResults

log = logging.getLogger("lamina.stepfunctions.tasks")

LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
MAX_PAYLOAD = 256 * 1024


def _too_large(value: Any) -> bool:
    # Most results are small: measure only those that could be over the limit.
    if isinstance(value, str):
        return len(value) > MAX_PAYLOAD // 4 and len(value.encode()) > MAX_PAYLOAD
    return len(json.dumps(value, separators=(",", ":")).encode()) > MAX_PAYLOAD


@dataclass
class _Callback:
    future: asyncio.Future[Outcome]
    heartbeat: asyncio.Event = field(default_factory=asyncio.Event)


class CallbackTokens:
    """Task tokens waiting for SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat."""

    def __init__(self) -> None:
        self._waiting: dict[str, _Callback] = {}

    def open(self, token: str) -> _Callback:
        cb = _Callback(asyncio.get_running_loop().create_future())
        self._waiting[token] = cb
        return cb

    def close(self, token: str) -> None:
        self._waiting.pop(token, None)

    def settle(self, token: str, outcome: Outcome) -> bool:
        cb = self._waiting.pop(token, None)
        if cb is None or cb.future.done():
            return False
        cb.future.set_result(outcome)
        return True

    def heartbeat(self, token: str) -> bool:
        cb = self._waiting.get(token)
        if cb is None:
            return False
        cb.heartbeat.set()
        return True


# invoke(function name, qualifier, payload, request id) -> the function's answer: the
# composition root's in-process invoke through the scheduler (as event sources get it).
Invoke = Callable[[str, str | None, bytes, str], Awaitable[InvokeResult]]
# A service integration: (Parameters, mode: "" | "sync" | "sync:2" | "waitForTaskToken")
Integration = Callable[[Any, str], Awaitable[Outcome]]
# The generic aws-sdk integration: (resource without suffix, Parameters, mode).
SdkRun = Callable[[str, Any, str], Awaitable[Outcome]]
_SDK_PREFIX = "arn:aws:states:::aws-sdk:"
_RESOURCE = re.compile(r"^(.*?)(?:\.(waitForTaskToken|sync(?::2)?))?$")


class TaskRunner:
    """Runs a ``RunTask`` step; ``scale`` is the schedule clock's speed-up.

    Lambda is built in; other services register in ``integrations`` by their resource
    without the suffix (``arn:aws:states:::sqs:sendMessage``).
    """

    def __init__(self, invoke: Invoke, tokens: CallbackTokens, scale: float = 1.0) -> None:
        self.invoke = invoke
        self.tokens = tokens
        self.scale = scale
        self.integrations: dict[str, Integration] = {}
        self.activities = ActivityTasks()
        self.s3: S3Objects | None = None  # the embedded S3, for the distributed Map
        self.activity_exists: Callable[[str], bool] = lambda arn: False
        self.sdk: SdkRun | None = None  # aws-sdk:* on Lamina's services (.sdk_tasks)

    # -- the distributed Map's S3 side (MapIO) ------------------------------------------
    async def read_items(self, step: ReadItems) -> Outcome:
        params = step.parameters if isinstance(step.parameters, dict) else {}
        bucket = params.get("Bucket")
        if self.s3 is None or not isinstance(bucket, str):
            return Err("States.ItemReaderFailed", "ItemReader needs Parameters with a Bucket")
        try:
            if step.reader.resource == LIST_OBJECTS:
                listing = await self.s3.list(bucket, str(params.get("Prefix") or ""))
                return Ok(parse_items(step.reader, None, listing))
            body, _ = await self.s3.get(bucket, str(params.get("Key") or ""))
            return Ok(parse_items(step.reader, body, None))
        except S3TaskError as exc:
            return Err("States.ItemReaderFailed", f"{exc.code}: {exc.message}")
        except StatesError as exc:
            return Err(exc.error, exc.cause)

    async def write_results(self, step: WriteResults) -> Outcome:
        bucket = step.parameters["Bucket"]
        if self.s3 is None:
            return Err("States.ResultWriterFailed", "no S3 to write results to")
        try:
            for key, document in step.files.items():
                if isinstance(document, dict) and "DestinationBucket" in document:
                    document = {**document, "DestinationBucket": bucket}
                await self.s3.put(bucket, key, json.dumps(document).encode(), "application/json")
        except S3TaskError as exc:
            return Err("States.ResultWriterFailed", f"{exc.code}: {exc.message}")
        return Ok(step.result)

    async def _activity(self, arn: str, rt: RunTask) -> Outcome:
        if not self.activity_exists(arn):
            return Err("States.Runtime", f"Activity does not exist: {arn}")
        assert rt.token is not None
        callback = self.tokens.open(rt.token)
        self.activities.offer(arn, ActivityTask(rt.token, json.dumps(rt.payload)))
        try:
            return await self._await_callback(callback, rt.heartbeat_s)
        finally:
            self.activities.withdraw(arn, rt.token)
            self.tokens.close(rt.token)

    async def run(self, rt: RunTask) -> Outcome:
        work = self._work(rt)
        if rt.timeout_s is None:
            outcome = await work
        else:
            try:
                outcome = await asyncio.wait_for(work, rt.timeout_s / self.scale)
            except TimeoutError:
                return Err(
                    "States.Timeout", f"The task did not finish within {rt.timeout_s:g} seconds"
                )
        if isinstance(outcome, Ok) and _too_large(outcome.value):
            return Err(
                "States.DataLimitExceeded",
                f"The task's result is larger than {MAX_PAYLOAD} bytes, the limit of a state's "
                "input and output",
            )
        return outcome

    async def _work(self, rt: RunTask) -> Outcome:
        m = _RESOURCE.match(rt.resource)
        base, mode = (m.group(1), m.group(2) or "") if m else (rt.resource, "")
        call: Awaitable[Outcome]
        if base == LAMBDA_INVOKE and mode in ("", "waitForTaskToken"):
            call = self._lambda_invoke(rt.payload)
        elif base.startswith("arn:aws:lambda:") and not mode:
            call = self._plain_lambda(base, rt.payload)
        elif ":activity:" in base and not mode:
            return await self._activity(base, rt)
        elif base in self.integrations:
            call = self.integrations[base](rt.payload, mode)
        elif base.startswith(_SDK_PREFIX) and self.sdk is not None:
            call = self.sdk(base, rt.payload, mode)
        else:
            return Err(
                "States.Runtime",
                f"Lamina does not support the Task resource {rt.resource!r} yet",
            )
        if mode != "waitForTaskToken":
            return await call
        assert rt.token is not None
        callback = self.tokens.open(rt.token)
        try:
            started = await call
            if isinstance(started, Err):
                return started
            task_submitted(started.value)
            return await self._await_callback(callback, rt.heartbeat_s)
        finally:
            self.tokens.close(rt.token)

    async def _await_callback(self, cb: _Callback, heartbeat_s: float | None) -> Outcome:
        if heartbeat_s is None:
            return await cb.future
        while True:
            cb.heartbeat.clear()
            beat: asyncio.Future[Any] = asyncio.ensure_future(cb.heartbeat.wait())
            waiting: set[asyncio.Future[Any]] = {cb.future, beat}
            done, _ = await asyncio.wait(
                waiting, timeout=heartbeat_s / self.scale, return_when=asyncio.FIRST_COMPLETED
            )
            beat.cancel()
            if cb.future in done:
                return cb.future.result()
            if not done:
                return Err("States.HeartbeatTimeout", "No heartbeat within HeartbeatSeconds")

    async def _call(
        self, function: str, qualifier: str | None, payload: Any
    ) -> tuple[Outcome, str, str]:
        name, inline = split_function_arn(function)
        body = json.dumps(payload, separators=(",", ":")).encode()
        rid = str(uuid.uuid4())
        try:
            result = await self.invoke(name, qualifier or inline, body, rid)
        except TooManyRequests as exc:
            return Err("Lambda.TooManyRequestsException", exc.message), rid, ""
        except ResourceNotFound as exc:
            return Err("Lambda.ResourceNotFoundException", exc.message), rid, ""
        except ApiError as exc:
            return Err("Lambda.ServiceException", exc.message), rid, ""
        text = result.payload.decode("utf-8", "replace")
        if result.function_error:
            try:
                doc = json.loads(text)
                error = (
                    str(doc.get("errorType") or "Lambda.Unknown")
                    if isinstance(doc, dict)
                    else "Lambda.Unknown"
                )
            except ValueError:
                error = "Lambda.Unknown"
            return Err(error, text), rid, result.executed_version
        try:
            value = json.loads(text) if text.strip() else None
        except ValueError:
            value = text
        return Ok(value), rid, result.executed_version

    async def _lambda_invoke(self, params: Any) -> Outcome:
        if not isinstance(params, dict) or not isinstance(params.get("FunctionName"), str):
            return Err("States.Runtime", "lambda:invoke needs Parameters with a FunctionName")
        qualifier = params.get("Qualifier")
        outcome, rid, version = await self._call(
            params["FunctionName"], qualifier if isinstance(qualifier, str) else None,
            params.get("Payload", {}),
        )  # fmt: skip
        if isinstance(outcome, Err):
            return outcome
        return Ok(
            {
                "ExecutedVersion": version,
                "Payload": outcome.value,
                "SdkHttpMetadata": {
                    "HttpHeaders": {"X-Amz-Executed-Version": version, "x-amzn-RequestId": rid},
                    "HttpStatusCode": 200,
                },
                "SdkResponseMetadata": {"RequestId": rid},
                "StatusCode": 200,
            }
        )

    async def _plain_lambda(self, arn: str, payload: Any) -> Outcome:
        outcome, _, _ = await self._call(arn, None, payload)
        return outcome
