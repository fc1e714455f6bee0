"""An event in flight ends by the runtime's answer, the process's exit or the deadline,
whichever comes first, on one future (a real channel, no sockets needed)."""

from __future__ import annotations

import asyncio

from lamina.runtime_api.channel import Delivery, RuntimeAnswer, RuntimeChannel
from lamina.scheduler.inflight import Inflight
from lamina.scheduler.outcome import DeadlinePassed, Ending, ProcessExited


def delivered() -> tuple[RuntimeChannel, Inflight]:
    channel = RuntimeChannel()
    delivery = Delivery("rid", b"{}", 0, "arn:aws:lambda:us-east-1:0:function:f", "Root=1")
    channel.deliver(delivery)  # no /next parked: the channel keeps it until one comes
    return channel, Inflight(delivery)


def test_an_exit_ends_the_event_and_the_channel_drops_it() -> None:
    async def scenario() -> Ending:
        channel, inflight = delivered()
        inflight.end(ProcessExited(137, 1.0), channel)
        channel.deliver(Delivery("next", b"{}", 0, "arn", "Root=2"))  # the slot is free again
        return await inflight.ending()

    assert asyncio.run(scenario()) == ProcessExited(137, 1.0)


def test_the_deadline_ends_the_event_as_a_timeout() -> None:
    async def scenario() -> Ending:
        channel, inflight = delivered()
        asyncio.get_running_loop().call_soon(inflight.expire, channel)
        return await inflight.ending()

    assert isinstance(asyncio.run(scenario()), DeadlinePassed)


def test_a_runtime_answer_that_came_first_wins_over_a_later_exit() -> None:
    async def scenario() -> Ending:
        channel, inflight = delivered()
        answer = RuntimeAnswer(True, b'"done"', at=2.0)
        inflight.delivery.answer.set_result(answer)
        inflight.end(ProcessExited(0, 3.0), channel)
        return await inflight.ending()

    assert asyncio.run(scenario()) == RuntimeAnswer(True, b'"done"', at=2.0)
