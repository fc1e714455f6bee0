"""The event an environment is serving, from its delivery to its end."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from lamina.runtime_api.channel import Delivery, RuntimeAnswer, RuntimeChannel
from lamina.scheduler.outcome import DeadlinePassed, Ending, PlatformEnd, ProcessExited

# Wakes the invoke waiting on a delivery that the platform ended; the ending itself is
# :attr:`Inflight.platform_end` (never read from this value).
_WAKE = RuntimeAnswer(False, b"")


@dataclass(slots=True)
class Inflight:
    """One delivered event. The invoke waits on one future, ``delivery.answer``, which the
    runtime's answer resolves — or the platform, when the process exits or the deadline
    passes first (:meth:`end`); no task per invoke."""

    delivery: Delivery
    platform_end: PlatformEnd | None = None

    def end(self, ending: PlatformEnd, channel: RuntimeChannel) -> None:
        """The platform ends the event (unless the runtime already answered it)."""
        if self.delivery.answer.done():
            return
        self.platform_end = ending
        if isinstance(ending, ProcessExited):
            channel.fail_current(_WAKE)  # the channel drops the event too
        if not self.delivery.answer.done():
            self.delivery.answer.set_result(_WAKE)

    def expire(self, channel: RuntimeChannel) -> None:
        """The deadline timer fired."""
        self.end(DeadlinePassed(time.perf_counter()), channel)

    async def ending(self) -> Ending:
        answer = await self.delivery.answer
        return self.platform_end if self.platform_end is not None else answer


def exit_status(fut: asyncio.Future[int]) -> int:
    """A finished process-wait's status (-1 when the wait was cancelled)."""
    return fut.result() if not fut.cancelled() else -1
