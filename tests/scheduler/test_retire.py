"""Retiring an environment whose extensions still work on its last invoke, with a real
scheduler, process sandbox and Python runtime (the SHUTDOWN an extension then gets:
tests/integration/test_extensions.py)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from tests.scheduler.test_after_answer import request, scheduler


@pytest.mark.privileged
@pytest.mark.slow
def test_a_reaped_environment_is_destroyed_once_its_invoke_phase_is_over(
    tmp_path: Path,
) -> None:
    """The reaper takes it out of the pool at once (no event may use it) but ends it only
    after the invoke its extensions work on, as Lambda's SHUTDOWN follows the INVOKE
    phase; the reaper itself does not wait for that."""

    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, _records):
            await sch.invoke(request({}))
            (env,) = sch.envs.values()
            assert env.exited is not None
            over = asyncio.Event()

            async def invoke_phase() -> None:  # as Reporter.after_extensions, waiting
                await over.wait()

            env.reporting = asyncio.get_running_loop().create_task(invoke_phase())
            destroyed = asyncio.Event()
            env.on_destroyed = destroyed.set
            # Long past its idle reclaim: the reaper's pass returns with it still alive.
            await asyncio.wait_for(sch._idle.reap(time.monotonic() + 10**6), 30)
            assert env.slot.env_id not in sch.pool.slots
            assert sch.envs.get(env.slot.env_id) is env
            assert not destroyed.is_set() and not env.exited.done()
            over.set()
            await asyncio.wait_for(destroyed.wait(), 30)
            assert env.slot.env_id not in sch.envs and env.exited.done()
            # The next event starts an environment of its own.
            result = await sch.invoke(request({}))
            assert result.function_error is None
            (other,) = sch.envs.values()
            assert other is not env

    asyncio.run(scenario())
