"""Tasks that run a node's invokes one after another, kept for the next one; each invoke's
first step runs at once, in the callback that starts it.

A worker used to make one asyncio task per invoke. On Python 3.11 a task costs more than
its coroutine: its context is copied, it is registered in asyncio's weak set of all tasks
(a Python-level ``WeakSet.add``), and when it ends it is finalised and unregistered (a
weak-reference callback, in Python again) — all of it on the path from an ``invoke``
frame to the event written to the runtime. A :class:`Runners` pool instead hands each
invoke to a task that waits idle for one, and makes a new task only when every runner is
busy.

**Eager start** (what Python 3.12's ``eager_task_factory`` does for a task): handing a
job to a waiting task costs a turn of the loop before the job's first line runs (the
future's callback is scheduled, then the task's step) — ~10 µs between an ``invoke``
frame read and its event written, measured on a worker. So :meth:`Runners.start` runs the
job's first step itself, up to its first real wait, as the runner that will own it
(``asyncio.current_task()`` is that runner, in that runner's context: timeouts and
context variables behave as inside the task); only what is left after that wait is
handed to the runner. A warm invoke's first step writes its event to the runtime, so the
hand-over happens while the runtime works.

Runners keep one asyncio context across the invokes they run: what an invoke sets in a
context variable must be reset by it (Lamina's, ``lamina.tracing.INCOMING`` and
``lamina.triggers.TRIGGER``, are set and reset around their use).
"""

from __future__ import annotations

import asyncio
import contextvars
import types
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import Any, Generic, TypeVar

Job = TypeVar("Job")

# At most this many runners wait idle; one past it ends after its invoke (a burst's).
IDLE_RUNNERS = 64

# What a runner is handed: the rest of a job whose first step ran in Runners.start.
_Rest = Awaitable[None]


class _Runner:
    """One kept task, its context, and the future it waits on for its next job's rest."""

    __slots__ = ("context", "job", "n", "task", "waiting")

    def __init__(self, n: int, waiting: asyncio.Future[_Rest]) -> None:
        self.n = n
        self.waiting = waiting
        self.context = contextvars.copy_context()
        self.task: asyncio.Task[None] | None = None
        # A job handed to it whose rest it has not taken up yet.
        self.job: Coroutine[Any, Any, None] | None = None


class Runners(Generic[Job]):
    """Runs ``run(job)`` for each :meth:`start`\\ ed job in a kept task.

    ``run`` is expected to handle its own errors (a worker answers them on the
    connection); one that escapes ends its runner, as it would have ended a task of its
    own, and is reported by asyncio as any task's unretrieved exception."""

    def __init__(
        self,
        run: Callable[[Job], Coroutine[Any, Any, None]],
        idle_max: int = IDLE_RUNNERS,
    ) -> None:
        self._run = run
        self.idle_max = idle_max
        self._idle: list[_Runner] = []
        # Held here (the loop keeps only weak references to tasks), by number.
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._runners: dict[int, _Runner] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # tasks made so far (a runner reused makes none)
        self.closed = False

    @property
    def idle(self) -> int:
        """Runners waiting for a job."""
        return sum(1 for runner in self._idle if not runner.waiting.done())

    @property
    def tasks(self) -> int:
        """Runners alive (busy or idle)."""
        return len(self._tasks)

    def start(self, job: Job) -> None:
        """Run ``job``'s first step now, as an idle runner (or a new one if none waits),
        and hand what is left of it to that runner."""
        loop = self._loop
        if loop is None:
            # Kept: asking for the running loop costs a getpid() system call on 3.11.
            loop = self._loop = asyncio.get_running_loop()
        runner = self._take_idle(loop)
        task = runner.task
        assert task is not None
        coro = self._run(job)
        # The runner is asyncio's current task for the step (as when it runs the job
        # itself); a task calling start() steps aside meanwhile.
        caller = asyncio.current_task(loop)
        if caller is not None:
            _leave_task(loop, caller)
        _enter_task(loop, task)
        try:
            yielded = runner.context.run(coro.send, None)
        except StopIteration:
            self._idle.append(runner)  # done in one step: the runner still waits
            return
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # a bug: it ends the runner, which asyncio reports
            runner.waiting.set_exception(exc)
            return
        finally:
            _leave_task(loop, task)
            if caller is not None:
                _enter_task(loop, caller)
        runner.job = coro
        runner.waiting.set_result(_rest(coro, yielded))

    def _take_idle(self, loop: asyncio.AbstractEventLoop) -> _Runner:
        idle = self._idle
        while idle:
            runner = idle.pop()
            if not runner.waiting.done():  # (a cancelled runner's future is passed over)
                return runner
        n = self.started = self.started + 1
        runner = _Runner(n, loop.create_future())
        runner.task = self._tasks[n] = loop.create_task(
            self._runner(runner, loop), context=runner.context
        )
        self._runners[n] = runner
        return runner

    async def _runner(self, runner: _Runner, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                rest = await runner.waiting
                runner.job = None
                await rest
                if self.closed or len(self._idle) >= self.idle_max:
                    return
                runner.waiting = loop.create_future()
                self._idle.append(runner)
        finally:
            # Dropped in its own last step: a done callback would cost the loop one
            # more callback.
            self._tasks.pop(runner.n, None)
            self._runners.pop(runner.n, None)

    def close(self) -> None:
        """Cancel every runner, busy or idle (the worker is closing)."""
        self.closed = True
        for runner in self._idle:
            runner.waiting.cancel()
        self._idle.clear()
        for runner in self._runners.values():
            if runner.job is not None:
                # Handed over, not taken up yet (its runner is cancelled before it
                # would): the job's own cleanup runs now, not whenever the collector
                # finds it.
                runner.job.close()
                runner.job = None
        for task in self._tasks.values():
            task.cancel()
        # (A task cancelled before its first step never runs its own clean-up.)
        self._tasks.clear()
        self._runners.clear()


@types.coroutine
def _rest(coro: Coroutine[Any, Any, None], yielded: object) -> Generator[Any, None, None]:
    """Await what is left of ``coro``, which has run up to yielding ``yielded`` (a future
    it waits for, or None: a bare yield) outside any task: the awaiting task waits for
    that first, then drives ``coro`` on, as if it had run its first step itself."""
    try:
        yield yielded
    except GeneratorExit:
        coro.close()
        raise
    except BaseException as exc:  # cancelled while waiting: the job sees it there
        try:
            yielded = coro.throw(exc)
        except StopIteration:
            return
        yield from _rest(coro, yielded)
        return
    yield from coro
