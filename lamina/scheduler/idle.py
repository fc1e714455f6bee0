"""Idle environments: frozen after a short grace period, reclaimed when they expire.

An environment that served an event is frozen only after ``settings.freeze_grace_s``
without a new one, so a busy environment never pays freeze and thaw on its hot path. The
reaper runs a few times per ``idle_reclaim_s``: it flushes the log store and destroys
environments the pool says are idle too long or past their lifetime, and zygotes nobody
forked from for ``zygote_idle_s``.
"""

from __future__ import annotations

import asyncio
import time

from lamina.config import Settings
from lamina.logs.store import LogStore
from lamina.scheduler.environment import Environment
from lamina.scheduler.pool import Pool
from lamina.scheduler.zygotes import Zygotes


class IdleKeeper:
    """Freezes and reaps the idle environments of one server."""

    def __init__(
        self,
        settings: Settings,
        pool: Pool,
        envs: dict[str, Environment],
        logs: LogStore,
        zygotes: Zygotes | None,
    ) -> None:
        self.settings = settings
        self.pool = pool
        self.envs = envs
        self.logs = logs
        self.zygotes = zygotes
        self.closing = False

    def schedule_freeze(self, env: Environment) -> None:
        """Freeze ``env`` after the grace period. Called once its answer is out
        (:mod:`lamina.scheduler.after_answer`), when the environment may have been taken
        by the next event or retired meanwhile: only a still idle, still kept one gets a
        timer, and a timer set before is replaced."""
        if env.process is None or self.closing or not env.slot.is_idle():
            return
        if self.envs.get(env.slot.env_id) is not env:
            return
        if env.freeze_handle is not None:
            env.freeze_handle.cancel()
        env.freeze_handle = env.channel.loop.call_later(
            self.settings.freeze_grace_s, self._freeze, env
        )

    def _freeze(self, env: Environment) -> None:
        env.freeze_handle = None
        env.settle()  # the last event's meter reading and lines, before its processes stop
        if not env.channel.extensions.all_settled():
            # An extension still works on the last event: freeze once it is done.
            env.freezing = asyncio.get_running_loop().create_task(self._freeze_later(env))
            return
        if env.process is None or not self.pool.mark_frozen(env.slot):
            return
        env.drain_output()
        env.frozen = True
        env.freezing = asyncio.get_running_loop().create_task(env.process.freeze())

    async def _freeze_later(self, env: Environment) -> None:
        await env.settle_extensions()
        env.freezing = None
        if env.slot.is_idle() and not self.closing:
            self._freeze(env)

    async def reap_forever(self) -> None:
        period = max(0.05, min(1.0, self.settings.idle_reclaim_s / 4))
        while True:
            await asyncio.sleep(period)
            await self.reap(time.monotonic())

    async def reap(self, now: float) -> None:
        self.logs.flush()
        if self.zygotes is not None:
            self.zygotes.reap(now)
        for slot in self.pool.expired(now):
            env = self.envs.pop(slot.env_id, None)
            if env is not None:
                await env.destroy()
