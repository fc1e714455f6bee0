"""Asynchronous (``Event``) invokes on a simple in-process queue.

Accepted events are held in memory and run by a fixed set of workers; a throttled event
is retried with backoff until ``max_age_s``. This queue is not durable: a crash of the
server loses queued events. The durable queue with Lambda's retry and destination rules
replaces it with the event-sources work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from lamina.errors import TooManyRequests

log = logging.getLogger("lamina.events")


@dataclass(frozen=True, slots=True)
class QueuedEvent:
    function: str
    qualifier: str | None
    payload: bytes
    request_id: str
    accepted_at: float


Runner = Callable[[QueuedEvent], Awaitable[None]]


class InProcessQueue:
    """A bounded in-memory queue with a pool of workers."""

    def __init__(
        self,
        run: Runner,
        workers: int = 16,
        max_age_s: float = 21_600.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._run = run
        self._queue: asyncio.Queue[QueuedEvent] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._n = workers
        self._max_age_s = max_age_s
        self._max_backoff_s = max_backoff_s
        self.delivered = 0
        self.dropped = 0

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._workers = [loop.create_task(self._work()) for _ in range(self._n)]

    def put(self, event: QueuedEvent) -> None:
        self._queue.put_nowait(event)

    def depth(self) -> int:
        return self._queue.qsize()

    async def close(self) -> None:
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _work(self) -> None:
        while True:
            event = await self._queue.get()
            backoff = 0.05
            while True:
                try:
                    await self._run(event)
                    self.delivered += 1
                    break
                except TooManyRequests:
                    if time.time() - event.accepted_at > self._max_age_s:
                        self.dropped += 1
                        log.warning(
                            "async event %s dropped: older than the maximum age", event.request_id
                        )
                        break
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self._max_backoff_s)
                except Exception:
                    self.dropped += 1
                    log.exception("async event %s failed", event.request_id)
                    break
