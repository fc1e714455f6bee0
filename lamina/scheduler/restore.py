"""A cold start restored from the function version's zygote (Lamina's SnapStart).

The invoke that has to make the zygote pays its INIT and reports it as ``Init Duration``;
every later one forks an environment from it and reports ``Restore Duration`` (and is
billed the ``Billed Restore Duration``), as Lambda's SnapStart does. A zygote that turns
out unusable is retired and the environment starts the usual way.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import math
import os
import time
from collections.abc import Awaitable, Callable

from lamina.config import Settings
from lamina.errors import SandboxError
from lamina.logs import lines
from lamina.runtime_api.channel import RuntimeChannel
from lamina.sandbox.netns import LOOPBACK, RUNTIME_API_PORT, NetnsPool
from lamina.sandbox.zygote import ForkedProcess
from lamina.scheduler import error_bodies, telemetry_events
from lamina.scheduler.environment import Environment
from lamina.scheduler.init_phase import await_init
from lamina.scheduler.launcher import ExitHook, Launcher, watch
from lamina.scheduler.outcome import InitFailed, InitOutcome, Ready
from lamina.scheduler.spec import environment_limits, sandbox_id
from lamina.scheduler.zygotes import ZygoteEntry, Zygotes

log = logging.getLogger("lamina.scheduler")

RUNTIME_API = f"{LOOPBACK}:{RUNTIME_API_PORT}"
Fallback = Callable[[Environment], Awaitable[InitOutcome]]


def _has_result(fut: asyncio.Future[float]) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


def billed_restore_ms(ready_at: float, runtime_start: float) -> int:
    """Billed Restore Duration: from the runtime's start in the fork to its first
    ``/next`` (the after-restore hooks included), rounded up to the millisecond."""
    return max(0, math.ceil(round((ready_at - runtime_start) * 1000, 6)))


class Restorer:
    """Forks new environments from zygotes."""

    def __init__(
        self,
        settings: Settings,
        launcher: Launcher,
        zygotes: Zygotes,
        on_exit: ExitHook,
        fallback: Fallback,
    ) -> None:
        self.settings = settings
        self.launcher = launcher
        self.zygotes = zygotes
        self.on_exit = on_exit
        self._fallback = fallback

    async def restore(self, env: Environment) -> InitOutcome:
        zygotes = self.zygotes
        cfg = env.cfg
        started = time.perf_counter()
        entry, created = await zygotes.acquire(
            cfg, lines.log_stream(cfg.version, node=self.launcher.node)
        )
        if entry.error is not None:
            return InitFailed(entry.error, entry.init_ms)
        # In its own namespace (made by the forked child) the Runtime API is always here.
        network = self.launcher.network
        address = RUNTIME_API if network is not None else await env.channel.start()
        read_fd, write_fd = os.pipe()
        t0 = time.perf_counter()
        try:
            process = await zygotes.fork(
                entry,
                sandbox_id(cfg.name, env.slot.env_id),
                environment_limits(cfg, self.launcher.host()),
                {"AWS_LAMBDA_RUNTIME_API": address},
                write_fd,
            )
        except SandboxError as exc:
            # A zygote that died after INIT: forget it and start this one the usual way.
            log.warning("zygote of %s unusable (%s); starting normally", cfg.name, exc)
            os.close(read_fd)
            zygotes.retire(cfg.name)
            env.channel.close()
            env.channel = RuntimeChannel(env.channel.function)
            return await self._fallback(env)
        finally:
            os.close(write_fd)
        env.on_destroyed = lambda: zygotes.release(entry)
        if not created:
            # Written before the pipe of the fork's output is read: the stream's first line.
            telemetry_events.restore_start(env, self.launcher.runtime_version(cfg.runtime))
        watch(env, process, read_fd, self.on_exit)
        outcome = await self._await_restore(env, process, network, t0, entry)
        if created:
            # This invoke paid the version's INIT: a cold start's Init Duration, no restore.
            init_ms = (time.perf_counter() - started) * 1000
            if isinstance(outcome, Ready):
                return Ready(init_ms)
            return dataclasses.replace(outcome, init_ms=init_ms)
        telemetry_events.restore_done(env, outcome)
        return outcome

    async def _zygote_xray(self, env: Environment, entry: ZygoteEntry) -> tuple[int, ...]:
        """The owner id of the daemon socket in the zygote's namespace (made by the first
        fork that asks), or nothing when the function does not trace or has no namespace."""
        zygote = entry.zygote
        if (
            self.launcher.xray is None
            or not env.cfg.tracing_active
            or zygote is None
            or zygote.network is None
            or zygote.network.fd < 0
        ):
            return ()
        if entry.xray is None:
            entry.xray = asyncio.ensure_future(self.launcher.serve_xray_in(zygote.network))
        try:
            return (await asyncio.shield(entry.xray),)
        except (SandboxError, OSError):
            entry.xray = None  # the next fork tries again
            raise

    async def _await_restore(
        self,
        env: Environment,
        process: ForkedProcess,
        network: NetnsPool | None,
        t0: float,
        entry: ZygoteEntry,
    ) -> InitOutcome:
        """The forked environment's network adopted, then its after-restore hooks awaited up
        to its first ``/next``: Ready with its ``Restore`` (or InitFailed)."""
        if process.network is not None and network is not None:
            try:
                env.network = await network.adopt(await process.network)
                await env.channel.start(sock=env.network.take_runtime_socket())
                env.channel.telemetry.socket_factory = functools.partial(
                    network.socket_in, env.network
                )
                await self.launcher.attach_xray(
                    env, env.network, await self._zygote_xray(env, entry)
                )
            except (SandboxError, OSError) as exc:
                why = process.failure or f"no network namespace: {exc!r}"
                return InitFailed(error_bodies.platform_failure(why), 0.0)
        else:
            await self.launcher.attach_xray(env, None)
        outcome = await await_init(
            env, self.settings.init_timeout_s, t0, self.settings.init_cpu_boost
        )
        if isinstance(outcome, InitFailed):
            if process.failure:
                outcome = dataclasses.replace(
                    outcome, error=error_bodies.platform_failure(process.failure)
                )
            return outcome
        ready_at = env.channel.ready.result()
        runtime_start = process.started.result() if _has_result(process.started) else t0
        return Ready(
            None, lines.Restore(outcome.init_ms or 0.0, billed_restore_ms(ready_at, runtime_start))
        )
