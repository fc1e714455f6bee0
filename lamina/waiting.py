"""Waiting for an :class:`asyncio.Event` with a timeout, without swallowing cancellation.

On Python 3.11, ``asyncio.wait_for(event.wait(), timeout)`` returns normally when the
event is set in the same loop iteration as the task is cancelled: the cancellation is
lost, and a background loop that was being stopped (``task.cancel(); await task``) goes
back to waiting, so its ``close()`` never returns. ``asyncio.timeout`` only turns its
own expiry into :class:`TimeoutError` and lets an outside cancellation through.
"""

from __future__ import annotations

import asyncio


async def wait_event(event: asyncio.Event, limit_s: float | None) -> bool:
    """Wait until ``event`` is set or ``limit_s`` seconds pass; True if it was set."""
    if limit_s is None:
        await event.wait()
        return True
    try:
        async with asyncio.timeout(max(0.0, limit_s)):
            await event.wait()
    except TimeoutError:
        return event.is_set()
    return True
