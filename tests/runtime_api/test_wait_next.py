"""Before SHUTDOWN, an idle runtime gets a moment to ask for its next event, so the last
invoke's runtimeDone carries its runtimeOverhead span (a real channel, no sockets)."""

from __future__ import annotations

import asyncio

from lamina.runtime_api.channel import RuntimeChannel


def test_it_returns_when_the_runtime_asks_and_the_hook_gets_the_time() -> None:
    async def scenario() -> tuple[list[float | None], float]:
        channel = RuntimeChannel()
        seen: list[float | None] = []
        channel.on_next = seen.append
        loop = asyncio.get_running_loop()
        started = loop.time()
        waiting = asyncio.ensure_future(channel.wait_next(30.0))
        await asyncio.sleep(0)
        hook = channel.on_next
        assert hook is not None
        channel.on_next = None
        hook(1234.5)  # what the channel does on the runtime's /next
        await waiting
        return seen, loop.time() - started

    seen, waited = asyncio.run(scenario())
    assert seen == [1234.5]
    assert waited < 30.0


def test_a_runtime_that_never_asks_leaves_the_hook_to_settle_next() -> None:
    async def scenario() -> list[float | None]:
        channel = RuntimeChannel()
        seen: list[float | None] = []
        channel.on_next = seen.append
        await channel.wait_next(0.01)
        assert seen == []  # still waiting for the runtime
        channel.settle_next()
        return seen

    assert asyncio.run(scenario()) == [None]


def test_nothing_waiting_returns_at_once() -> None:
    async def scenario() -> None:
        channel = RuntimeChannel()
        await asyncio.wait_for(channel.wait_next(30.0), 1.0)

    asyncio.run(scenario())
