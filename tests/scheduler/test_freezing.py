"""Freezing idle environments with a real scheduler, process sandbox and Python runtime:
an event never waits for a freeze that has not settled (the rules of when to freeze are
pure: tests/scheduler/test_pool.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from lamina.sandbox.cgroups import is_frozen
from lamina.sandbox.readings import CgroupReadings
from lamina.scheduler.environment import Environment
from tests.scheduler.test_after_answer import request, scheduler


def cgroup_frozen(env: Environment) -> bool:
    """What the kernel says of the environment's freezer."""
    assert isinstance(env.process, CgroupReadings)
    group = env.process._cgroup.group
    return is_frozen(group.layout.version, group.freeze_state_file().read_text())


@pytest.mark.privileged
@pytest.mark.slow
def test_an_event_for_an_environment_still_freezing_stops_the_freeze(tmp_path: Path) -> None:
    """Freezing waits for every thread of the environment to stop (tens of ms on a busy
    host); an event that takes the environment meanwhile cancels the freeze and thaws it
    at once instead of waiting for FROZEN."""

    async def scenario() -> None:
        async with scheduler(tmp_path) as (sch, _records):
            await sch.invoke(request({}))
            (env,) = sch.envs.values()
            assert env.process is not None
            # A freeze begun and not settled yet: the cgroup is frozen, the task that
            # waits for the kernel to say so has not finished.
            frozen, settled = asyncio.Event(), asyncio.Event()

            async def unsettled_freeze() -> None:
                assert env.process is not None
                await env.process.freeze()
                frozen.set()
                await settled.wait()

            assert sch.pool.mark_frozen(env.slot)
            env.frozen = True
            env.freezing = asyncio.get_running_loop().create_task(unsettled_freeze())
            await frozen.wait()
            assert cgroup_frozen(env) and not env.freezing.done()
            freezing = env.freezing
            # (Waiting for the freeze to settle would wait forever here.)
            result = await asyncio.wait_for(sch.invoke(request({})), 30)
            assert result.function_error is None and result.payload == b'{"ok": true}'
            assert freezing.cancelled() and not settled.is_set()
            assert not cgroup_frozen(env) and not env.frozen
            assert env.freezing is None

    asyncio.run(scenario())
