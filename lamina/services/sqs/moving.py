"""SQS's message move task operations and the driver that moves the messages.

``StartMessageMoveTask`` checks the source is some queue's dead-letter queue, records the
task (:meth:`SqsStore.start_move_task`) and starts its driver: an asyncio task that moves
at most ``MaxNumberOfMessagesPerSecond`` messages per step, one SQLite transaction a step,
and sleeps out the rest of the second (no busy-waiting). The task's state lives in
``sqs.db``: after a restart :meth:`MoveTasks.resume` goes on with every task still RUNNING,
from where its last committed step left it, so none is left RUNNING with nothing moving.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any, Protocol

from lamina.services.sqs.attributes import is_fifo, parse_redrive
from lamina.services.sqs.errors import invalid_parameter, sqs_error
from lamina.services.sqs.messaging import Operation
from lamina.services.sqs.movetasks import (
    RUNNING,
    batch_size,
    entry,
    parse_handle,
    parse_list,
    parse_start,
)
from lamina.services.sqs.requests import Caller, Members
from lamina.services.sqs.store import SqsStore

log = logging.getLogger(__name__)

STEP_S = 1.0  # a task's rate is per second: one step of up to that many messages each


class Queues(Protocol):
    """What the move tasks need of :class:`lamina.services.sqs.service.SqsService`."""

    @property
    def store(self) -> SqsStore: ...

    def now(self) -> float: ...

    def arn(self, name: str) -> str: ...

    def name_from_arn(self, arn: str) -> str | None: ...

    def wake(self, queue: str) -> None: ...


def _not_found(name: str) -> Exception:
    return sqs_error(
        "ResourceNotFoundException",
        f"The resource that you specified for the {name} parameter doesn't exist.",
    )


class MoveTasks:
    def __init__(self, queues: Queues) -> None:
        self.queues = queues
        self._drivers: dict[str, asyncio.Task[None]] = {}

    def table(self) -> dict[str, Operation]:
        return {
            "StartMessageMoveTask": self.start_message_move_task,
            "ListMessageMoveTasks": self.list_message_move_tasks,
            "CancelMessageMoveTask": self.cancel_message_move_task,
        }

    async def _queue_of(self, arn: str, parameter: str) -> tuple[str, dict[str, str]]:
        name = self.queues.name_from_arn(arn)
        row = None if name is None else await self.queues.store.get_queue(name)
        if name is None or row is None:
            raise _not_found(parameter)
        return name, row.attributes

    async def _dead_letter_sources(self, source_arn: str) -> list[dict[str, str]]:
        """The attributes of every queue whose redrive policy names ``source_arn``."""
        out = []
        for _, attributes in await self.queues.store.attributes_of_all():
            raw = attributes.get("RedrivePolicy")
            if raw and parse_redrive(raw).dead_letter_arn == source_arn:
                out.append(attributes)
        return out

    async def start_message_move_task(self, members: Members, caller: Caller) -> dict[str, Any]:
        req = parse_start(members)
        source, attributes = await self._queue_of(req.source_arn, "SourceArn")
        if not await self._dead_letter_sources(req.source_arn):
            raise invalid_parameter(
                "SourceArn",
                req.source_arn,
                "Source queue must be configured as a Dead Letter Queue.",
            )
        if req.destination_arn is not None:
            _, target = await self._queue_of(req.destination_arn, "DestinationArn")
            if is_fifo(target) != is_fifo(attributes):
                raise invalid_parameter(
                    "DestinationArn",
                    req.destination_arn,
                    "The destination queue must be of the same type as the source queue.",
                )
        task_id = str(uuid.uuid4())
        started = await self.queues.store.start_move_task(
            task_id, source, req.source_arn, req.destination_arn, req.rate, self.queues.now()
        )
        if not started:
            raise sqs_error(
                "UnsupportedOperation",
                "There is already a task running. Only one active task is allowed for a"
                " source queue arn at a given time.",
            )
        self._drive(task_id, req.rate)
        tasks = await self.queues.store.move_tasks(source)
        return {"TaskHandle": entry(tasks[0][0])["TaskHandle"]}

    async def list_message_move_tasks(self, members: Members, caller: Caller) -> dict[str, Any]:
        source_arn, limit = parse_list(members)
        source, _ = await self._queue_of(source_arn, "SourceArn")
        tasks = await self.queues.store.move_tasks(source)
        return {"Results": [entry(t) for t, _ in tasks[:limit]]}

    async def cancel_message_move_task(self, members: Members, caller: Caller) -> dict[str, Any]:
        handle = members.get("TaskHandle")
        if not isinstance(handle, str) or not handle:
            raise sqs_error(
                "MissingParameter", "The request must contain the parameter TaskHandle."
            )
        parsed = parse_handle(handle)
        found = None if parsed is None else await self.queues.store.cancel_move_task(parsed[0])
        if found is None:
            raise _not_found("TaskHandle")
        task, cancelled = found
        if not cancelled:
            raise sqs_error(
                "UnsupportedOperation",
                f"Only tasks in RUNNING status can be cancelled; this one is {task.status}.",
            )
        return {"ApproximateNumberOfMessagesMoved": task.moved}

    # -- the driver -----------------------------------------------------------------------
    async def resume(self) -> None:
        """Go on with every task a restart left RUNNING (call once the loop runs)."""
        for task, _ in await self.queues.store.move_tasks():
            if task.status == RUNNING:
                log.info("resuming SQS message move task %s", task.task_id)
                self._drive(task.task_id, task.rate)

    async def close(self) -> None:
        drivers = list(self._drivers.values())
        for d in drivers:
            d.cancel()
        await asyncio.gather(*drivers, return_exceptions=True)

    def _drive(self, task_id: str, rate: int | None) -> None:
        if task_id not in self._drivers:
            driver = asyncio.create_task(self._run(task_id, batch_size(rate)))
            self._drivers[task_id] = driver
            driver.add_done_callback(lambda _: self._drivers.pop(task_id, None))

    async def _run(self, task_id: str, per_step: int) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            task = await self.queues.store.move_step(
                task_id, per_step, self.queues.name_from_arn, self.queues.now()
            )
            if task is None:
                return
            if task.moved:
                for name, _ in await self.queues.store.attributes_of_all():
                    self.queues.wake(name)  # long polls on the destinations
            if task.status != RUNNING:
                return
            await asyncio.sleep(max(0.0, STEP_S - (loop.time() - began)))
