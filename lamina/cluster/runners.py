"""Tasks that run a node's invokes one after another, kept for the next one.

A worker used to make one asyncio task per invoke. On Python 3.11 a task costs more than
its coroutine: its context is copied, it is registered in asyncio's weak set of all tasks
(a Python-level ``WeakSet.add``), and when it ends it is finalised and unregistered (a
weak-reference callback, in Python again) — all of it on the path from an ``invoke``
frame to the event written to the runtime. A :class:`Runners` pool instead hands each
invoke to a task that waits idle for one (a future resolved: the task's wake-up is all
the loop does), and makes a new task only when every runner is busy.

Runners keep one asyncio context across the invokes they run: what an invoke sets in a
context variable must be reset by it (Lamina's, ``lamina.tracing.INCOMING`` and
``lamina.triggers.TRIGGER``, are set and reset around their use).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

Job = TypeVar("Job")

# At most this many runners wait idle; one past it ends after its invoke (a burst's).
IDLE_RUNNERS = 64


class Runners(Generic[Job]):
    """Runs ``run(job)`` for each :meth:`start`\\ ed job in a kept task.

    ``run`` is expected to handle its own errors (a worker answers them on the
    connection); one that escapes ends its runner, as it would have ended a task of its
    own, and is reported by asyncio as any task's unretrieved exception."""

    def __init__(self, run: Callable[[Job], Awaitable[None]], idle_max: int = IDLE_RUNNERS) -> None:
        self._run = run
        self.idle_max = idle_max
        self._idle: list[asyncio.Future[Job]] = []
        # Held here (the loop keeps only weak references to tasks), by number.
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # tasks made so far (a runner reused makes none)
        self.closed = False

    @property
    def idle(self) -> int:
        """Runners waiting for a job."""
        return sum(1 for waiting in self._idle if not waiting.done())

    @property
    def tasks(self) -> int:
        """Runners alive (busy or idle)."""
        return len(self._tasks)

    def start(self, job: Job) -> None:
        """Run ``job`` in an idle runner, or in a new one if none waits."""
        idle = self._idle
        while idle:
            waiting = idle.pop()
            if not waiting.done():  # (a cancelled runner's future is passed over)
                waiting.set_result(job)
                return
        if self._loop is None:
            # Kept: asking for the running loop costs a getpid() system call on 3.11.
            self._loop = asyncio.get_running_loop()
        n = self.started = self.started + 1
        self._tasks[n] = self._loop.create_task(self._runner(n, job, self._loop))

    async def _runner(self, n: int, job: Job, loop: asyncio.AbstractEventLoop) -> None:
        try:
            while True:
                await self._run(job)
                if self.closed or len(self._idle) >= self.idle_max:
                    return
                waiting: asyncio.Future[Job] = loop.create_future()
                self._idle.append(waiting)
                job = await waiting
        finally:
            # Dropped in its own last step: a done callback would cost the loop one
            # more callback.
            del self._tasks[n]

    def close(self) -> None:
        """Cancel every runner, busy or idle (the worker is closing)."""
        self.closed = True
        for waiting in self._idle:
            waiting.cancel()
        self._idle.clear()
        for task in list(self._tasks.values()):
            task.cancel()
