"""Background loops stop when cancelled, even if their event fires in the same instant."""

from __future__ import annotations

import asyncio

import pytest

from lamina.waiting import wait_event


async def _loop_until_cancelled(event: asyncio.Event, rounds: list[int]) -> None:
    while True:
        event.clear()
        await wait_event(event, 5.0)
        rounds.append(1)


def test_a_cancel_that_races_the_event_is_not_swallowed() -> None:
    # asyncio.wait_for(event.wait(), t) on Python 3.11 returns normally here and the loop
    # waits again, so `task.cancel(); await task` hangs (it did in the async queue's close).
    async def main() -> None:
        event = asyncio.Event()
        rounds: list[int] = []
        task = asyncio.create_task(_loop_until_cancelled(event, rounds))
        await asyncio.sleep(0.01)
        event.set()
        await asyncio.sleep(0)  # the inner wait completes...
        task.cancel()  # ...in the same iteration as the cancel arrives
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(main())


def test_wait_event_reports_whether_the_event_was_set() -> None:
    async def main() -> tuple[bool, bool, bool]:
        event = asyncio.Event()
        timed_out = await wait_event(event, 0.01)
        asyncio.get_running_loop().call_later(0.01, event.set)
        woken = await wait_event(event, 5.0)
        unbounded = await wait_event(event, None)
        return timed_out, woken, unbounded

    assert asyncio.run(main()) == (False, True, True)
