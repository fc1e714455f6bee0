"""SHUTDOWN of an environment with no extension: its runtime gets SIGTERM and Lambda's
500 ms to exit before the kill (a real scheduler, process sandbox and Python runtime).
With an extension the phase lasts 2,000 ms: tests/integration/test_shutdown.py checks
that through SHUTDOWN's deadlineMs."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from lamina.scheduler.environment import RUNTIME_SHUTDOWN_GRACE_S, shutdown_grace_s
from tests.scheduler.test_after_answer import CFG, request, scheduler

# A runtime that ignores SIGTERM: only the kill at the end of the grace ends it.
STUBBORN = """
import signal

signal.signal(signal.SIGTERM, lambda signum, frame: print("SIGTERM ignored", flush=True))


def handler(event, context):
    return {"ok": True}
"""


@pytest.mark.privileged
@pytest.mark.slow
def test_a_runtime_that_ignores_sigterm_is_killed_after_its_grace(tmp_path: Path) -> None:
    assert shutdown_grace_s(0) == RUNTIME_SHUTDOWN_GRACE_S == 0.5

    async def scenario() -> None:
        async with scheduler(tmp_path, STUBBORN) as (sch, _records):
            result = await sch.invoke(request({}))
            assert result.function_error is None
            (env,) = sch.envs.values()
            assert env.exited is not None and len(env.channel.extensions) == 0
            began = time.monotonic()
            await asyncio.wait_for(env.destroy(), 30)
            # The kill waited for the grace (never less, however fast the machine)...
            assert time.monotonic() - began >= RUNTIME_SHUTDOWN_GRACE_S
            # ... after the runtime had its SIGTERM, which it ignored, and it is gone.
            assert env.exited.done()
            said = [e.message for e in sch.logs.read(CFG.name)]
            assert any("SIGTERM ignored" in m for m in said), said

    asyncio.run(scenario())
