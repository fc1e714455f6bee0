"""The async driver of the pure engine: does what each step says, reports back.

Tasks are run by a callable the owner supplies (Lambda through the scheduler, callbacks
waiting for a task token, ...); sleeping goes through the owner's clock (the schedule
clock, so ``LAMINA_SCHEDULE_TIME_SCALE`` speeds waits and retry intervals up). History
events go to ``record`` in the order they happen; ``moved`` sees every transition and
``sleeping`` every Wait of the top level (the durable executor commits at both), and
``settled`` is awaited before anything with an outside effect (a task, branches, an S3
read), so the executor can let transitions run ahead of their commits until then. Inside
a Parallel branch or Map iteration a :class:`BranchScope` plays the same three parts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol

from lamina.workflows.definition import Machine, TaskState
from lamina.workflows.engine import Engine
from lamina.workflows.jsonpath import Json
from lamina.workflows.steps import (
    Branch,
    Err,
    Event,
    Fail,
    Frame,
    JsonDoc,
    Move,
    Ok,
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

RunTaskFn = Callable[[RunTask], Awaitable[Outcome]]

# Set while a task runs: what a task that submits work and then waits (``.waitForTaskToken``,
# ``.sync``) calls with the submitting call's answer, for ``TaskSubmitted`` in the history.
_submitted: ContextVar[Callable[[Json], None] | None] = ContextVar("task_submitted", default=None)


def task_submitted(answer: Json) -> None:
    """The running task's work was submitted (the service answered ``answer``); it now
    waits for a callback or for the work to end."""
    report = _submitted.get()
    if report is not None:
        report(answer)


# record(events, previous id or None for the history's latest) -> the last id it gave
Record = Callable[[tuple[Event, ...], int | None], int]


def after_latest(count: int) -> int:
    """The ``previousEventId`` of an event a :data:`Record` writes with ``previous`` None
    into a history of ``count`` events: the latest one — except after the history's first
    event, ``ExecutionStarted``, where AWS writes 0 (the first state's Entered event in
    every AWS-recorded history of LocalStack's tests, see docs/workflows.md)."""
    return 0 if count == 1 else count


class BranchScope(Protocol):
    """What a durable executor keeps of one Parallel branch or Map iteration as it runs:
    the events written under it and where it stands (its cursor), committed at each of
    its transitions as the top level's are, so a resumed branch goes on from its last
    committed transition with its earlier events written again, not run again."""

    def start(self, parent: int | None) -> tuple[int | None, Move | Sleep | None]:
        """Write again the events it had committed before a restart, chained from
        ``parent``; the id of the last one, and where to go on (None: from the start)."""
        ...

    def record(self, events: tuple[Event, ...], previous: int | None) -> int: ...

    async def moved(self, frame: Frame) -> None: ...

    async def sleeping(self, step: Sleep) -> None: ...

    async def settled(self) -> None: ...

    def nested(self, step: RunBranches) -> BranchLog:
        """The log of a Parallel or Map state inside this branch."""
        ...


class BranchLog(Protocol):
    """What a durable executor keeps of one Parallel or Map state's branches (at any depth):
    the outcomes of those that ended, so a resumed execution runs only the others, and
    each branch's progress (``branch``; None: not kept)."""

    def known(self) -> dict[int, Outcome]: ...

    def branch(self, index: int) -> BranchScope | None: ...

    def child(self, index: int, run: MapRunHook) -> BranchScope | None:
        """A distributed Map's child execution ``index`` (its events go to its own history)."""
        ...

    def done(self, index: int, outcome: Outcome) -> None: ...


# The branch log of a top-level RunBranches (called once per RunBranches step).
BranchLogFor = Callable[[RunBranches], BranchLog]


class MapRunHook(Protocol):
    """Where a distributed Map's child executions are shown (its Map Run in the API).

    Each child has its own history (``record(index)``, not the parent's), can be stopped
    on its own (``attach`` hands over the task running it), and the run's concurrency
    may change while it runs (``limit``, with ``watch`` told whom to wake)."""

    def started(self, index: int) -> None: ...

    def ended(self, index: int, outcome: Outcome) -> None: ...

    def finished(self, ok: bool) -> None: ...

    def record(self, index: int) -> Record: ...

    def history(self, index: int) -> list[Any] | None:
        """The list ``record(index)`` appends to, as its owner keeps it (None: not kept)."""
        ...

    def attach(self, index: int, task: asyncio.Future[Succeed | Fail]) -> None: ...

    def limit(self) -> int: ...

    def tolerance(self) -> tuple[float, float]: ...

    def watch(self, wake: Callable[[], None]) -> None: ...


# The Map Run of a distributed Map's RunBranches (called once per such step).
MapRunFor = Callable[[RunBranches], MapRunHook]


class MapIO(Protocol):
    """Where a distributed Map reads its items and writes its results (S3)."""

    async def read_items(self, step: ReadItems) -> Outcome: ...

    async def write_results(self, step: WriteResults) -> Outcome: ...


class _Gate:
    """A semaphore whose limit may change while it is held (UpdateMapRun's
    MaxConcurrency); a limit of 0 or less is no limit."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self.limit = limit
        self.held = 0
        self.changed = asyncio.Condition()
        self._waking: set[asyncio.Task[None]] = set()

    def _free(self) -> bool:
        n = self.limit()
        return n <= 0 or self.held < n

    async def __aenter__(self) -> None:
        async with self.changed:
            await self.changed.wait_for(self._free)
            self.held += 1

    async def __aexit__(self, *exc: object) -> None:
        async with self.changed:
            self.held -= 1
            self.changed.notify_all()

    def wake(self) -> None:
        """The limit changed: waiters look again (called from outside the loop's tasks)."""

        async def notify() -> None:
            async with self.changed:
                self.changed.notify_all()

        task = asyncio.get_running_loop().create_task(notify())
        self._waking.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._waking.discard)


@dataclass
class Clock:
    """Schedule-clock time and sleeping on it (``scale`` times faster than real time)."""

    now: Callable[[], float]
    scale: float = 1.0

    async def sleep_until(self, until: float) -> None:
        delay = (until - self.now()) / self.scale
        if delay > 0:
            await asyncio.sleep(delay)

    async def sleep(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds / self.scale)


class Runner:
    """Runs one execution (and its branches) to its end."""

    def __init__(
        self,
        engine: Engine,
        run_task: RunTaskFn,
        clock: Clock,
        record: Record,
        moved: Callable[[Frame], Awaitable[None]] | None = None,
        sleeping: Callable[[Sleep], Awaitable[None]] | None = None,
        map_io: MapIO | None = None,
        settled: Callable[[], Awaitable[None]] | None = None,
        branch_log: BranchLogFor | None = None,
        map_runs: MapRunFor | None = None,
    ) -> None:
        self.branch_log = branch_log
        self.map_runs = map_runs
        self.map_io = map_io
        self.settled = settled
        self.engine = engine
        self.run_task = run_task
        self.clock = clock
        self.record = record
        self.moved = moved
        self.sleeping = sleeping

    async def run(
        self,
        machine: Machine,
        step: Step,
        *,
        top: bool = True,
        chain: list[int | None] | None = None,
        scope: BranchScope | None = None,
        at: list[str | None] | None = None,
    ) -> Succeed | Fail:
        """Run ``machine`` from ``step``. ``chain[0]`` is the id of this run's latest event
        (None: the history's latest), what its next event's ``previousEventId`` is: each
        Parallel branch and Map iteration chains its own events, as on AWS. ``scope``: a
        branch whose progress is kept (its transitions commit as the top level's do).
        ``at[0]`` is set to the name of the state being run (to tell what a cut-short branch
        was doing)."""
        engine, clock = self.engine, self.clock
        chain = chain if chain is not None else [None]
        record = scope.record if scope is not None else self.record
        entered = [0]  # the id of the running state's Entered event (0: not known)
        while True:
            if step.events:
                chain[0], step = _record_step(record, step, chain[0], entered)
            if isinstance(step, Move):
                if at is not None:
                    at[0] = step.frame.state
                if top and self.moved is not None:
                    await self.moved(step.frame)
                elif scope is not None:
                    await scope.moved(step.frame)
                step = engine.enter(machine, step.frame, clock.now())
            elif isinstance(step, (Succeed, Fail)):
                return step
            elif isinstance(step, RunTask):
                await self._settle(top, scope)
                outcome = await self._task(step, record, chain)
                step = engine.task_done(machine, step.frame, outcome)
            elif isinstance(step, Sleep):
                if top and self.sleeping is not None:
                    await self.sleeping(step)
                elif scope is not None:
                    await scope.sleeping(step)
                await clock.sleep_until(step.until)
                if step.after:
                    chain[0] = record(step.after, chain[0])
                step = step.then
            elif isinstance(step, RetryLater):
                await clock.sleep(step.delay_s)
                step = engine.attempt(machine, step.frame)
            elif isinstance(step, RunBranches):
                await self._settle(top, scope)
                log: BranchLog | None = None
                if top and self.branch_log is not None:
                    log = self.branch_log(step)
                elif scope is not None:
                    log = scope.nested(step)
                run = (
                    self.map_runs(step)
                    if step.map_run_arn is not None and self.map_runs is not None
                    else None
                )
                failed_at: list[int | None] = [None]
                outcomes = await self._branches(step, chain[0], log, run, failed_at)
                # After the join: the history's latest event, or (as AWS records it) the
                # event that failed a branch when one did.
                chain[0] = failed_at[0]
                inputs = [b.input for b in step.branches]
                tolerance = run.tolerance() if run is not None else None
                step = engine.branches_done(
                    machine, step.frame, outcomes, inputs, step.map_run_arn, tolerance
                )
                if run is not None:
                    run.finished(any(e.type == "MapRunSucceeded" for e in step.events))
            elif isinstance(step, ReadItems):
                await self._settle(top, scope)
                outcome = await self._map_io(step)
                step = engine.items_read(machine, step.frame, outcome)
            elif isinstance(step, WriteResults):
                outcome = await self._map_io(step)
                step = engine.results_written(machine, step.frame, step, outcome)

    async def _task(self, step: RunTask, record: Record, chain: list[int | None]) -> Outcome:
        def submitted(answer: Json) -> None:
            chain[0] = record((self.engine.task_submitted(step, answer),), chain[0])

        reset = _submitted.set(submitted)
        try:
            return await self.run_task(step)
        finally:
            _submitted.reset(reset)

    async def _settle(self, top: bool, scope: BranchScope | None) -> None:
        """Before an effect outside (a task, branches, an S3 read): every transition so far
        is committed."""
        if top and self.settled is not None:
            await self.settled()
        elif scope is not None:
            await scope.settled()

    async def _map_io(self, step: ReadItems | WriteResults) -> Outcome:
        if self.map_io is None:
            return Err("States.Runtime", "This Map needs S3 (ItemReader/ResultWriter)")
        if isinstance(step, ReadItems):
            return await self.map_io.read_items(step)
        return await self.map_io.write_results(step)

    async def run_branches(self, step: RunBranches) -> list[Outcome]:
        """Run a Parallel state's branches or a Map state's items (one outcome each)."""
        return await self._branches(step, None)

    async def _branches(
        self,
        step: RunBranches,
        parent: int | None,
        log: BranchLog | None = None,
        run: MapRunHook | None = None,
        failed_at: list[int | None] | None = None,
    ) -> list[Outcome]:
        """``failed_at[0]`` is set to the id of the last event of a branch whose failure
        stopped the others (None if none did or its events are not known)."""
        failing: list[int | None] = failed_at if failed_at is not None else [None]
        static = step.max_concurrency or len(step.branches) or 1
        gate = _Gate(run.limit if run is not None else lambda: static)
        if run is not None:
            run.watch(gate.wake)
        tolerant = step.kind == "Map" and (step.tolerated_count or step.tolerated_percentage)
        known = log.known() if log is not None else {}

        def ended(index: int, outcome: Outcome) -> Outcome:
            if log is not None:
                log.done(index, outcome)
            if run is not None:
                run.ended(index, outcome)
            return outcome

        async def one(index: int, branch: Branch) -> Outcome:
            scope = log.branch(index) if log is not None and run is None else None
            if index in known:
                # Ended before a restart: its outcome is kept, its states are not run again;
                # the events it had written are written again.
                outcome = known[index]
                if run is not None:
                    run.started(index)
                    kept = log.child(index, run) if log is not None else None
                    if kept is None or kept.start(None)[0] is None:
                        _child_ended_before(run.record(index), branch, outcome)
                    run.ended(index, outcome)
                    return outcome
                written: int | None = None
                if scope is not None:
                    written, _ = scope.start(parent)
                if step.kind == "Map" and written is None:  # kept without its events
                    ok = isinstance(outcome, Ok)
                    kind = "MapIterationSucceeded" if ok else "MapIterationFailed"
                    started = Event(
                        "MapIterationStarted", {"name": step.frame.state, "index": index}
                    )
                    last = self.record((started,), parent)
                    self.record((Event(kind, {"name": step.frame.state, "index": index}),), last)
                return outcome
            if run is not None:  # a distributed Map's child execution
                async with gate:
                    run.started(index)
                    kept = log.child(index, run) if log is not None else None
                    end = await self._child(run, index, branch, kept)
                if isinstance(end, Succeed):
                    return ended(index, Ok(end.output))
                if not any(run.tolerance()):  # as UpdateMapRun left it
                    run.ended(index, Err(end.error, end.cause))
                    raise _BranchFailed(Err(end.error, end.cause), None)
                return ended(index, Err(end.error, end.cause))
            async with gate:
                record = scope.record if scope is not None else self.record
                chain: list[int | None] = [parent]
                resumed: Move | Sleep | None = None
                if scope is not None:
                    written, resumed = scope.start(parent)
                    if written is not None:
                        chain[0] = written
                if resumed is None and step.kind == "Map":
                    started = Event(
                        "MapIterationStarted", {"name": step.frame.state, "index": index}
                    )
                    chain[0] = record((started,), chain[0])
                start = resumed or Move(
                    Frame(branch.machine.start_at, branch.input, branch.variables)
                )
                at: list[str | None] = [None]
                try:
                    end = await self.run(branch.machine, start, top=False, chain=chain,
                                         scope=scope, at=at)  # fmt: skip
                except asyncio.CancelledError:
                    # Another iteration failed the Map (AWS chains what it aborts to the
                    # failing event), or the execution was stopped.
                    after = failing[0] if failing[0] is not None else chain[0]
                    if step.kind == "Map":
                        aborted = Event(
                            "MapIterationAborted", {"name": step.frame.state, "index": index}
                        )
                        record((aborted,), after)
                    _record_task_aborted(record, branch, at[0], after)
                    raise
                ok = isinstance(end, Succeed)
                if step.kind == "Map":
                    kind = "MapIterationSucceeded" if ok else "MapIterationFailed"
                    done = Event(kind, {"name": step.frame.state, "index": index})
                    record((done,), chain[0])
                if not ok:
                    _record_task_aborted(record, branch, at[0], chain[0])
                if isinstance(end, Succeed):
                    return ended(index, Ok(end.output))
                if not tolerant:
                    raise _BranchFailed(Err(end.error, end.cause), chain[0])
                return ended(index, Err(end.error, end.cause))

        tasks = [asyncio.ensure_future(one(i, b)) for i, b in enumerate(step.branches)]
        try:
            return list(await asyncio.gather(*tasks))
        except _BranchFailed as failed:
            failing[0] = failed.last
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return [failed.err]
        except BaseException:  # the history's limit, an engine bug: no branch runs on
            for task in tasks:
                task.cancel()
            raise

    async def _child(
        self, run: MapRunHook, index: int, branch: Branch, scope: BranchScope | None
    ) -> Succeed | Fail:
        """Run one child execution of a distributed Map with its own history; a
        StopExecution of the child (its task cancelled, not ours) aborts only it. With a
        ``scope`` its progress is kept: after a restart it goes on from its last committed
        transition, its earlier events written again."""
        record = scope.record if scope is not None else run.record(index)
        resumed: Move | Sleep | None = None
        if scope is not None:
            _, resumed = scope.start(None)
        if resumed is None:
            started = {"input": JsonDoc(branch.input), "inputDetails": {"truncated": False}}
            record((Event("ExecutionStarted", started),), None)
        child = Runner(self.engine, self.run_task, self.clock, record, map_io=self.map_io)
        start = resumed or Move(Frame(branch.machine.start_at, branch.input, branch.variables))
        inner = asyncio.ensure_future(child.run(branch.machine, start, top=False, scope=scope))
        run.attach(index, inner)
        try:
            end = await inner
        except asyncio.CancelledError:
            me = asyncio.current_task()
            if not inner.cancelled() or (me is not None and me.cancelling()):
                raise
            end = Fail("States.Aborted", "The child execution was stopped")
            record((Event("ExecutionAborted", {}),), None)
            return end
        if isinstance(end, Succeed):
            done = {"output": JsonDoc(end.output), "outputDetails": {"truncated": False}}
            record((Event("ExecutionSucceeded", done),), None)
        else:
            record((Event("ExecutionFailed", {"error": end.error, "cause": end.cause}),), None)
        return end


def _record_step(
    record: Record, step: Step, previous: int | None, entered: list[int]
) -> tuple[int, Step]:
    """Record a step's events, each chained to the one before — except that AWS chains an
    ``EvaluationFailed`` that follows its state's Entered event to what that event is
    chained to — and word an ``EvaluationFailed``'s cause, and its ``Fail``'s (the
    execution's), as AWS does: "An error occurred while executing the state 'S' (entered
    at the event id #N). ..." (LocalStack's AWS-recorded histories, see docs/workflows.md).
    ``entered[0]`` is kept the id of the latest Entered event; the step is returned with
    its cause so worded."""
    events = step.events
    at = next((i for i, e in enumerate(events) if e.type == "EvaluationFailed"), None)
    if at is None:
        return _record_noting(record, events, previous, entered), step
    chained: int | None
    if at > 0 and events[at - 1].type.endswith("StateEntered"):
        before = _record_noting(record, events[: at - 1], previous, entered) if at > 1 else previous
        entered[0] = record(events[at - 1 : at], before)
        # None is "after the latest event", then the Entered event's id less one
        chained = after_latest(entered[0] - 1) if before is None else before
    else:
        chained = _record_noting(record, events[:at], previous, entered) if at > 0 else previous
    failed = events[at]
    cause = failed.details.get("cause")
    if entered[0] > 0 and isinstance(cause, str):  # (an Express history has no ids)
        worded = (
            f"An error occurred while executing the state '{failed.details.get('state')}' "
            f"(entered at the event id #{entered[0]}). {cause}"
        )
        failed = Event(failed.type, {**failed.details, "cause": worded})
        if isinstance(step, Fail) and step.cause == cause:
            step = replace(step, cause=worded)
    last = record((failed,), chained)
    if at + 1 < len(events):
        last = _record_noting(record, events[at + 1 :], last, entered)
    return last, step


def _record_noting(
    record: Record, events: tuple[Event, ...], previous: int | None, entered: list[int]
) -> int:
    """Record ``events`` (at least one), noting the id of the last Entered event among
    them in ``entered[0]``."""
    k = next(
        (i for i in reversed(range(len(events))) if events[i].type.endswith("StateEntered")), None
    )
    if k is None:
        return record(events, previous)
    entered[0] = record(events[: k + 1], previous)
    return record(events[k + 1 :], entered[0]) if k + 1 < len(events) else entered[0]


def _record_task_aborted(
    record: Record, branch: Branch, state: str | None, after: int | None
) -> None:
    """A branch that ends while its Task state has not exited (the Task failed it, or
    another branch's failure cut it short) shows ``TaskStateAborted``, as AWS records it:
    after ``TaskFailed`` in a Parallel branch, after ``MapIterationFailed`` /
    ``MapIterationAborted`` in a Map iteration, with the same ``previousEventId`` as that
    event."""
    if state is not None and isinstance(branch.machine.states.get(state), TaskState):
        record((Event("TaskStateAborted", {}),), after)


def _child_ended_before(record: Record, branch: Branch, outcome: Outcome) -> None:
    """A child that ended before a restart (its outcome kept, its states not): its history
    shows its start and its end."""
    started = {"input": JsonDoc(branch.input), "inputDetails": {"truncated": False}}
    if isinstance(outcome, Ok):
        end = Event("ExecutionSucceeded", {"output": JsonDoc(outcome.value),
                                           "outputDetails": {"truncated": False}})  # fmt: skip
    else:
        end = Event("ExecutionFailed", {"error": outcome.error, "cause": outcome.cause})
    record((Event("ExecutionStarted", started), end), None)


class _BranchFailed(Exception):
    """A branch failed: the others are stopped (Parallel, or Map without tolerance)."""

    def __init__(self, err: Err, last: int | None) -> None:
        super().__init__(err.error)
        self.err = err
        self.last = last  # the id of the failed branch's last event, if known
