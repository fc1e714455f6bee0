"""Step Functions on Lamina's port: the one place that wires the service together.

``StepFunctions.open`` builds the store, the task runner (invoking through the
composition root's in-process ``invoke``), the executions and the operations;
``accepts`` picks its requests (``X-Amz-ExecutionTarget: AWSStepFunctions.*``, signed for the
``states`` service) and ``handle`` answers them in JSON 1.0. The server mounts it with
``api.mount_service(sfn.mount())``.

StartSyncExecution: boto3 and the AWS CLI put ``sync-`` in front of the endpoint's host
for it; with a local endpoint set ``AWS_DISABLE_HOST_PREFIX_INJECTION=true`` (or
``Config(inject_host_prefix=False)``).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.protocol.awsjson import error_response, json_response
from lamina.services.protocol.errors import Protocol, Wire
from lamina.services.protocol.reach import TARGETED
from lamina.services.protocol.routing import Mount
from lamina.services.stepfunctions.executions import Executions
from lamina.services.stepfunctions.integrations import (
    SQS_SEND,
    START_EXECUTION,
    SendMessage,
    sqs_send_message,
    start_execution,
)
from lamina.services.stepfunctions.mocks import MockConfig
from lamina.services.stepfunctions.operations import StepFunctionsOperations
from lamina.services.stepfunctions.restore import restore
from lamina.services.stepfunctions.retention import DAY_S
from lamina.services.stepfunctions.s3_tasks import PREFIX as S3_PREFIX
from lamina.services.stepfunctions.s3_tasks import (
    S3_ACTIONS,
    S3Handler,
    S3Objects,
    s3_integration,
)
from lamina.services.stepfunctions.sdk_tasks import (
    EVENTS_PUT,
    SNS_PUBLISH,
    Dispatch,
    SdkTasks,
    events_put_events,
    sns_publish,
)
from lamina.services.stepfunctions.store import WorkflowStore
from lamina.services.stepfunctions.tasks import CallbackTokens, Invoke, TaskRunner
from lamina.services.stepfunctions.versions import VersionOperations
from lamina.services.stepfunctions.workers import WorkerOperations
from lamina.tracing import continued
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response
from lamina.workflows.runner import Clock

log = logging.getLogger("lamina.stepfunctions")

TARGET_PREFIX = "AWSStepFunctions"
CONTENT_TYPE = "application/x-amz-json-1.0"
SIGV4_SERVICE = "states"
PROTOCOL = Protocol(Wire.JSON, CONTENT_TYPE)


@dataclass
class StepFunctions:
    store: WorkflowStore
    executions: Executions
    operations: StepFunctionsOperations
    workers: WorkerOperations

    @classmethod
    def open(
        cls, data_dir: Path, invoke: Invoke, now: Callable[[], float], *, region: str,
        account: str,
        time_scale: float = 1.0, fsync: bool = True, send_message: SendMessage | None = None,
        mocks: MockConfig | None = None, s3_handler: S3Handler | None = None,
        dispatch: Dispatch | None = None, history_days: float = 90.0,
    ) -> StepFunctions:  # fmt: skip
        """``now``: the workflows' clock (the schedule clock, ``time_scale`` times faster
        than real time); ``send_message(SendMessage request body)``: the embedded SQS;
        ``dispatch``: the API's trusted in-process path, for ``aws-sdk:*`` Tasks;
        ``history_days``: how long ended executions are kept (.retention)."""
        store = WorkflowStore(data_dir / "stepfunctions.db", fsync=fsync)
        tokens = CallbackTokens()
        clock = Clock(now, time_scale)
        tasks = TaskRunner(invoke, tokens, time_scale)
        executions = Executions(store, tasks, clock, mocks)
        ops = StepFunctionsOperations(store, executions, tokens, region, account, history_days)
        executions.on_ended = ops.histories.ended
        workers = WorkerOperations(store, tasks, tokens, region, account)
        workers.started = executions.activity_started
        tasks.integrations[START_EXECUTION] = start_execution(ops)
        if send_message is not None:
            tasks.integrations[SQS_SEND] = sqs_send_message(send_message)
        if s3_handler is not None:
            objects = S3Objects(s3_handler)
            tasks.s3 = objects
            for action in S3_ACTIONS:
                tasks.integrations[S3_PREFIX + action] = s3_integration(objects)(action)
        if dispatch is not None:
            sdk = SdkTasks(dispatch, region, account)
            tasks.sdk = sdk.run
            tasks.integrations[EVENTS_PUT] = events_put_events(sdk)
            tasks.integrations[SNS_PUBLISH] = sns_publish(sdk)
        return cls(store, executions, ops, workers)

    def __post_init__(self) -> None:
        self._sweeper: asyncio.Task[None] | None = None  # deletes expired executions
        self._table = {
            **self.operations.table(),
            **self.workers.table(),
            **VersionOperations(self.operations).table(),
        }

    def mount(self) -> Mount:
        """Step Functions' face on the shared port: verified as ``states``, errors (also
        the authoriser's) answered in the JSON 1.0 protocol."""
        return Mount(self.accepts, self.handle, SIGV4_SERVICE, PROTOCOL, TARGETED)

    @staticmethod
    def accepts(req: Request) -> bool:
        return req.headers.get("x-amz-target", "").startswith(TARGET_PREFIX + ".")

    async def start(self) -> None:
        """Load state machines and executions; resume the ones that were running."""
        self.workers.load()
        self.executions.map_runs.load(self.store.load_map_runs())
        for ex, cursor in restore(self.operations):
            log.info("resuming execution %s at state %s", ex.arn, cursor.get("state"))
            self.executions.resume(ex, cursor)
        histories = self.operations.histories
        clock = self.executions.clock.now
        gone = await histories.sweep(clock())
        if gone:
            log.info("deleted %d executions that ended more than %g days ago", gone,
                     histories.keep_s / DAY_S)  # fmt: skip
        self._sweeper = asyncio.get_running_loop().create_task(histories.sweeping(clock))

    async def start_from_event(self, state_machine_arn: str, input_text: str) -> dict[str, Any]:
        """StartExecution for an event source (a schedule's target, an API route); returns
        its answer once the execution is accepted (committed, for Standard)."""
        return await self.operations.start_execution(
            {"stateMachineArn": state_machine_arn, "input": input_text}
        )

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await self.executions.close(self.operations.running())
        self.store.close()

    async def handle(self, req: Request, conn: HttpConnection | None = None) -> Response:
        target = req.headers.get("x-amz-target", "")
        op = self._table.get(target[len(TARGET_PREFIX) + 1 :])
        try:
            if op is None:
                raise AwsServiceError("UnknownOperationException", f"Unknown operation {target!r}")
            try:
                body = json.loads(req.body or b"{}")
            except ValueError as exc:
                raise AwsServiceError("SerializationException", f"Malformed JSON: {exc}") from None
            if not isinstance(body, dict):
                raise AwsServiceError(
                    "SerializationException", "The request body must be an object"
                )
            # StartExecution's X-Ray header is the trace its Lambda tasks continue.
            with continued(req.headers.get("x-amzn-trace-id")):
                return json_response(200, await op(body), CONTENT_TYPE)
        except AwsServiceError as exc:
            return error_response(exc, CONTENT_TYPE)
