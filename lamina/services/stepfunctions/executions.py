"""Running executions: start, record history, commit progress, stop, resume after a crash.

Standard executions are durable (see :mod:`.store`): each top-level transition awaits
the commit of its history and cursor before the next state runs, so a crash loses at
most the state in flight, which runs again on resume. Express executions live only in
memory and are forgotten once they end (as on AWS, they are not listed or described).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.services.stepfunctions.cursors import cursor, from_cursor, sleep_cursor
from lamina.services.stepfunctions.map_runs import MapRuns, run_doc
from lamina.services.stepfunctions.mocks import MockConfig
from lamina.services.stepfunctions.records import ExecutionRecord, HistoryEntry
from lamina.services.stepfunctions.store import WorkflowStore
from lamina.services.stepfunctions.tasks import TaskRunner
from lamina.services.stepfunctions.tokens import task_token
from lamina.workflows.engine import Engine, ExecutionInfo, iso
from lamina.workflows.runner import Clock, Record, Runner, after_latest
from lamina.workflows.steps import (
    Event,
    Fail,
    Frame,
    Move,
    Outcome,
    RunTask,
    Sleep,
    Succeed,
    doc,
)

log = logging.getLogger("lamina.stepfunctions")
_MAX_IN_FLIGHT = 8  # transitions one execution may run ahead of its commits
MAX_HISTORY_EVENTS = 25_000  # a Standard execution's history, as on AWS
EXPRESS_MAX_S = 300.0


class _HistoryFull(Exception):
    """Raised inside a Standard execution whose history reached MAX_HISTORY_EVENTS."""


def _text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class Executions:
    """Owns every running execution's task."""

    def __init__(
        self, store: WorkflowStore, tasks: TaskRunner, clock: Clock, mocks: MockConfig | None = None
    ) -> None:
        self.store = store
        self.tasks = tasks
        self.clock = clock
        self.mocks = mocks or MockConfig()
        # Which execution made each task token (for ActivityStarted); dropped at the end.
        self._token_owner: dict[str, ExecutionRecord] = {}
        self.rng = random.Random()
        self.map_runs = MapRuns(
            lambda run: store.queue_map_run(run.arn, run.execution_arn, run.started, run_doc(run))
        )
        self.closing = False
        # Told when a Standard execution has ended and committed its history (.retention).
        self.on_ended: Callable[[ExecutionRecord], None] | None = None

    # -- history --------------------------------------------------------------------------
    def _record(self, ex: ExecutionRecord) -> Record:
        if ex.express:
            # Express histories are not kept (AWS sends them to CloudWatch Logs, which
            # Lamina does not): memory stays flat however long the execution loops.
            return lambda events, previous: 0
        history = ex.history
        now = self.clock.now

        def record(events: tuple[Event, ...], previous: int | None) -> int:
            ts = now()
            last = after_latest(len(history)) if previous is None else previous
            for event in events:
                n = len(history) + 1
                history.append(HistoryEntry(n, event.type, ts, last, event.details))
                last = n
            return last

        return record

    def _engine(self, ex: ExecutionRecord) -> Engine:
        info = ExecutionInfo(
            ex.arn,
            ex.name,
            json.loads(ex.input),
            iso(ex.started),
            ex.role_arn,
            ex.machine_arn,
            ex.machine_arn.rsplit(":", 1)[-1],
            ex.redrive_count,
        )

        def new_token() -> str:
            token = task_token()
            self._token_owner[token] = ex
            return token

        return Engine(info, new_token, self.rng)

    def activity_started(self, token: str, worker: str) -> None:
        """A worker took the activity task of ``token``: ``ActivityStarted`` in its history."""
        ex = self._token_owner.get(token)
        if ex is not None and ex.running:
            self._record(ex)((Event("ActivityStarted", {"workerName": worker}),), None)

    # -- start / resume -------------------------------------------------------------------
    async def start(self, ex: ExecutionRecord) -> None:
        """Record ``ExecutionStarted`` (committed for Standard) and run in the background."""
        self._record(ex)(
            (
                Event(
                    "ExecutionStarted",
                    {
                        "input": ex.input,
                        "inputDetails": {"truncated": False},
                        "roleArn": ex.role_arn,
                    },
                ),
            ),
            None,
        )
        first = Frame(ex.machine.start_at, json.loads(ex.input), {})
        ex.last_cursor = cursor(first)
        if not ex.express:
            await self.store.insert_execution(ex, ex.last_cursor)
        ex.task = asyncio.ensure_future(self._run(ex, Move(first)))

    def resume(self, ex: ExecutionRecord, saved: dict[str, Any]) -> None:
        ex.task = asyncio.ensure_future(self._run(ex, from_cursor(saved)))

    async def _run(self, ex: ExecutionRecord, first: Move | Sleep) -> None:
        engine = self._engine(ex)
        # Commits of this execution's transitions still in flight. A transition does not
        # wait for its own commit (the next states are computed meanwhile, and a crash
        # simply loses the uncommitted ones: they are recomputed from the last committed
        # cursor); anything with an effect outside — a task, a wait, the end — waits for
        # all of them first (``settled``).
        in_flight: list[asyncio.Future[None]] = []

        transitions = 0

        def check() -> None:
            if len(ex.history) >= MAX_HISTORY_EVENTS:
                raise _HistoryFull

        async def moved(frame: Frame) -> None:
            nonlocal transitions
            transitions += 1
            if ex.express:
                if transitions % 64 == 0:
                    await asyncio.sleep(0)  # a looping Express workflow never holds the loop
                return
            check()
            committed = self.store.queue_progress(ex, cursor(frame, doc(frame.input)))
            if committed is not None and (not in_flight or in_flight[-1] is not committed):
                in_flight.append(committed)
            if len(in_flight) > _MAX_IN_FLIGHT:
                await asyncio.shield(in_flight.pop(0))
            else:
                await asyncio.sleep(0)  # let the loop run others between transitions

        async def settled() -> None:
            if in_flight:
                last = in_flight[-1]
                in_flight.clear()
                await asyncio.shield(last)  # commits are in order: the last one is enough

        async def sleeping(step: Sleep) -> None:
            if not ex.express:
                await self.store.commit_progress(ex, sleep_cursor(step))

        run_task: Callable[[RunTask], Awaitable[Outcome]] = self.tasks.run
        if ex.test_case:
            machine_name = ex.machine_arn.rsplit(":", 1)[-1]
            run_task = self.mocks.runner(machine_name, ex.test_case, run_task)
        record = self._record(ex)
        runner = Runner(
            engine, run_task, self.clock, record, moved, sleeping, map_io=self.tasks,
            settled=settled,
            branch_log=None if ex.express else lambda step: self.store.branch_log(ex, record, check),
            map_runs=lambda step: self.map_runs.tracker(ex.arn, ex.machine_arn, step),
        )  # fmt: skip
        timeout: float | None = ex.machine.timeout_s
        if ex.express:  # Express executions run for 5 minutes at most
            timeout = min(timeout or EXPRESS_MAX_S, EXPRESS_MAX_S)
        try:
            if timeout is None:
                end = await runner.run(ex.machine, first)
            else:
                remaining = ex.started + timeout - self.clock.now()
                end = await asyncio.wait_for(
                    runner.run(ex.machine, first), max(remaining, 0) / self.clock.scale
                )
        except TimeoutError:
            await self._finish(ex, "TIMED_OUT", None, "States.Timeout",
                               "The execution ran longer than its TimeoutSeconds",
                               "ExecutionTimedOut")  # fmt: skip
            return
        except _HistoryFull:
            await self._finish(ex, "FAILED", None, "States.Runtime",
                               f"The execution reached the maximum number of history events "
                               f"({MAX_HISTORY_EVENTS})", "ExecutionFailed")  # fmt: skip
            return
        except asyncio.CancelledError:
            if self.closing:
                raise  # the server is stopping: the execution resumes at the next start
            return  # StopExecution finished it
        except Exception as exc:  # an engine bug must end the execution, not hang it
            log.exception("execution %s failed inside Lamina", ex.arn)
            await self._finish(ex, "FAILED", None, "States.Runtime", f"Internal error: {exc!r}",
                               "ExecutionFailed")  # fmt: skip
            return
        if isinstance(end, Succeed):
            await self._finish(ex, "SUCCEEDED", _text(end.output), None, None, "ExecutionSucceeded")
        else:
            assert isinstance(end, Fail)
            await self._finish(ex, "FAILED", None, end.error, end.cause, "ExecutionFailed")

    async def _finish(
        self, ex: ExecutionRecord, status: str, output: str | None, error: str | None,
        cause: str | None, event_type: str, previous: int | None = None,
    ) -> None:  # fmt: skip
        if not ex.running:
            return
        details: dict[str, Any]
        if output is not None:
            details = {"output": output, "outputDetails": {"truncated": False}}
        else:
            details = {k: v for k, v in (("error", error), ("cause", cause)) if v is not None}
        self._record(ex)((Event(event_type, details),), previous)
        ex.status, ex.output, ex.error, ex.cause = status, output, error, cause
        ex.stopped = self.clock.now()
        for token in [t for t, owner in self._token_owner.items() if owner is ex]:
            del self._token_owner[token]
        if not ex.express:
            await self.store.finish_execution(ex)
            if self.on_ended is not None:
                self.on_ended(ex)
        else:
            self.store.queue_express_usage(ex)
        ex.done.set()

    async def redrive(self, ex: ExecutionRecord) -> None:
        """Run a FAILED / ABORTED / TIMED_OUT execution again from the transition it had
        reached (its last committed cursor); the states before it are not run again."""
        assert ex.last_cursor is not None
        ex.redrive_count += 1
        ex.redrive_date = self.clock.now()
        ex.status, ex.output, ex.error, ex.cause, ex.stopped = "RUNNING", None, None, None, None
        ex.done = asyncio.Event()
        self._record(ex)((Event("ExecutionRedriven", {"redriveCount": ex.redrive_count}),), None)
        await self.store.redrive_execution(ex, ex.last_cursor)
        ex.task = asyncio.ensure_future(self._run(ex, from_cursor(ex.last_cursor)))

    async def stop(self, ex: ExecutionRecord, error: str | None, cause: str | None) -> None:
        task = ex.task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        # AWS records a StopExecution's ExecutionAborted with previousEventId 0, not chained
        # to the state it interrupted (test_sfn_api.py::test_stop_execution's snapshot)
        await self._finish(ex, "ABORTED", None, error, cause, "ExecutionAborted", 0)

    async def close(self, running: list[ExecutionRecord]) -> None:
        """Stop running executions without finishing them: they resume at the next start."""
        self.closing = True
        tasks = [ex.task for ex in running if ex.task is not None and not ex.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def wall_clock() -> float:
    return time.time()
