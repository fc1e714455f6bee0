"""Waiting for INIT to end, and clearing an environment for a second attempt."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from lamina.runtime_api.channel import RuntimeChannel
from lamina.scheduler.environment import Environment
from lamina.scheduler.outcome import InitOutcome, classify_init


async def await_init(env: Environment, limit_s: float, t0: float, cpu_boost: bool) -> InitOutcome:
    """How the INIT started at ``t0`` ends: the runtime's first ``/next``, its
    ``/init/error``, its exit, or ``limit_s`` passing. With ``cpu_boost`` the environment
    ran INIT with the host's CPU; a ready one is held to its share from here on."""
    channel = env.channel
    exited = env.exited
    assert exited is not None
    waiters: list[asyncio.Future[Any]] = [channel.ready, channel.init_failed, exited]
    await asyncio.wait(waiters, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    ready = channel.ready
    if ready.done() and not ready.cancelled():
        if cpu_boost and env.process is not None:
            env.process.end_init_boost(env.cfg.memory_mb)
        ready_at: float | None = ready.result()
    else:
        ready_at = None
    now = time.perf_counter()
    failed = channel.init_failed
    failure = failed.result() if failed.done() and not failed.cancelled() else None
    status = None
    if exited.done():
        status = exited.result() if not exited.cancelled() else -1
    return classify_init(
        t0=t0,
        now=now,
        limit_s=limit_s,
        ready_at=ready_at,
        failure=failure,
        exit_status=status,
        oom=ready_at is None and failure is None and status is not None and env.oom_killed(),
    )


async def reset(env: Environment) -> None:
    """Kill the runtime of a timed-out INIT and give ``env`` a fresh channel for a retry.

    The old process's exit callback finds no event in flight and a starting slot, so it
    does nothing; the environment object is reused for the second attempt.
    """
    old_process = env.process
    env.channel.close()
    if old_process is not None:
        await old_process.kill()
    env.close_network()
    env.drain_output()
    env.detach_output()
    env.channel = RuntimeChannel(env.channel.function)
    env.process = None
