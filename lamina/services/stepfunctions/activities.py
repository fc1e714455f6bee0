"""Activities: tasks handed to workers that poll ``GetActivityTask``.

A Task state whose ``Resource`` is an activity ARN offers its input here with a task
token; a worker's long poll takes it (first come, first served) and answers with
SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat on the token, exactly like a
``.waitForTaskToken`` callback.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field


@dataclass
class ActivityRecord:
    arn: str
    name: str
    created: float
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ActivityTask:
    token: str
    input: str


class ActivityTasks:
    """Offered tasks per activity ARN, and the workers waiting for one."""

    def __init__(self) -> None:
        self._offered: dict[str, deque[ActivityTask]] = {}
        self._waiting: dict[str, deque[asyncio.Future[ActivityTask]]] = {}

    def offer(self, arn: str, task: ActivityTask) -> None:
        waiters = self._waiting.get(arn)
        while waiters:
            fut = waiters.popleft()
            if not fut.done():
                fut.set_result(task)
                return
        self._offered.setdefault(arn, deque()).append(task)

    def withdraw(self, arn: str, token: str) -> None:
        offered = self._offered.get(arn)
        if offered:
            self._offered[arn] = deque(t for t in offered if t.token != token)

    async def take(self, arn: str, wait_s: float) -> ActivityTask | None:
        offered = self._offered.get(arn)
        if offered:
            return offered.popleft()
        fut: asyncio.Future[ActivityTask] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(arn, deque()).append(fut)
        try:
            return await asyncio.wait_for(asyncio.shield(fut), wait_s)
        except TimeoutError:
            if fut.done():  # offered just as the poll ended: do not lose it
                return fut.result()
            fut.cancel()
            return None
