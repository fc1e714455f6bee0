"""Idle environments: frozen after a short grace period, reclaimed when they expire.

An environment that served an event is frozen only after ``settings.freeze_grace_s``
without a new one, so a busy environment never pays freeze and thaw on its hot path,
and not while events of the same function and configuration keep coming, which may take
it back any moment (:meth:`Pool.freeze_due <lamina.scheduler.pool.Pool.freeze_due>`; at
most ``settings.freeze_hold_s``). One sweep timer asks the pool, every half grace while
any idle environment is thawed — no timer per invoke or per environment. The reaper runs a
few times per ``idle_reclaim_s``: it flushes the log store and destroys environments the
pool says are idle too long or past their lifetime, and zygotes nobody forked from for
``zygote_idle_s``.
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
        # Environments whose SHUTDOWN waits for the end of their invoke phase (retire).
        self.retiring: set[asyncio.Task[None]] = set()
        self._period = max(0.001, settings.freeze_grace_s / 2)
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_due = 0.0

    def went_idle(self) -> None:
        """An environment went back to the pool: a sweep will look at it (the timer is
        set only if none is pending, so this costs an attribute test per invoke)."""
        if self._sweep is None and not self.closing:
            loop = asyncio.get_running_loop()
            self._sweep = loop.call_later(self._period, self.sweep)
            self._sweep_due = self._sweep.when()

    def sweep(self) -> None:
        """Freeze what the pool says is due; come back while any idle one is thawed."""
        self._sweep = None
        if self.closing:
            return
        # A sweep a whole period late means the loop did not run (the host's CPUs were
        # taken): no event could begin meanwhile, so none having begun proves nothing.
        stalled = asyncio.get_running_loop().time() - self._sweep_due > self._period
        for slot in self.pool.freeze_due(time.monotonic(), stalled=stalled):
            env = self.envs.get(slot.env_id)
            if env is None or env.slot is not slot or env.freezing is not None:
                continue  # retired meanwhile, or its freeze waits for its extensions
            self._freeze(env)
        if self.pool.has_thawed_idle():
            self.went_idle()

    def _freeze(self, env: Environment) -> None:
        # A 202 held for the runtime's next event goes out now: an idle runtime is not
        # left waiting for it (lamina.runtime_api.channel).
        env.channel.flush()
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
            env = self.envs.get(slot.env_id)
            if env is not None:
                await self.retire(env)

    async def retire(self, env: Environment) -> None:
        """Destroy ``env``, out of the pool already (it serves no more): now, or, while
        its extensions still work on its last invoke, in a task of its own once that
        invoke phase is over.

        On Lambda the SHUTDOWN phase follows the INVOKE phase: an extension never gets
        SHUTDOWN while it works on an invoke, and it gets that invoke's platform.report
        first (the flush before SHUTDOWN sends it). Nobody waits meanwhile (the
        configuration change that retires it, the reaper); a server that stops ends it
        at once (Scheduler.close: it is still in ``envs`` until then)."""
        if env.invoke_phase_over():
            self.envs.pop(env.slot.env_id, None)
            await env.destroy()
            return
        task = asyncio.get_running_loop().create_task(self._retire_later(env))
        self.retiring.add(task)
        task.add_done_callback(self.retiring.discard)

    async def _retire_later(self, env: Environment) -> None:
        await env.end_invoke_phase()
        if self.envs.get(env.slot.env_id) is env:  # else a stopping server ended it
            del self.envs[env.slot.env_id]
            await env.destroy()
