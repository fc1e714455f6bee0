"""A cold start: start the runtime and run INIT, retried once as Lambda does.

INIT is limited to ``settings.init_timeout_s`` (10 s on Lambda); a first attempt that
overruns it is reported (``INIT_REPORT ... Status: timeout``) and retried once within
the function's timeout. Functions that want a zygote are restored from it instead
(:mod:`lamina.scheduler.restore`).
"""

from __future__ import annotations

import dataclasses
import logging
import time

from lamina.config import Settings
from lamina.errors import SandboxError
from lamina.logs import lines
from lamina.models.invocation import FunctionError
from lamina.scheduler import error_bodies, telemetry_events
from lamina.scheduler.environment import Environment
from lamina.scheduler.init_phase import await_init, reset
from lamina.scheduler.launcher import ExitHook, Launcher
from lamina.scheduler.outcome import InitFailed, InitOutcome
from lamina.scheduler.restore import Restorer
from lamina.scheduler.zygotes import Zygotes, wants_zygote

log = logging.getLogger("lamina.scheduler")


class ColdStarter:
    """Brings new environments to their first ``/next``."""

    def __init__(
        self,
        settings: Settings,
        launcher: Launcher,
        zygotes: Zygotes | None,
        on_exit: ExitHook,
    ) -> None:
        self.settings = settings
        self.launcher = launcher
        self.on_exit = on_exit
        self._restorer = (
            Restorer(settings, launcher, zygotes, on_exit, self._spawned)
            if zygotes is not None
            else None
        )

    async def start(self, env: Environment) -> InitOutcome:
        """Run INIT in ``env`` (a zygote restore where the function wants one)."""
        if (
            self._restorer is not None
            and env.slot.provisioned is None  # provisioned: INIT, not a snapshot's restore
            and wants_zygote(env.cfg, self.settings.zygotes, True)
            and not await self.launcher.has_extensions(env.cfg)
        ):
            return await self._restorer.restore(env)
        return await self._spawned(env)

    async def _spawned(self, env: Environment) -> InitOutcome:
        plan = await self.launcher.plan(env.cfg)
        if isinstance(plan, FunctionError):
            return InitFailed(plan, 0.0)
        limits = [self.settings.init_timeout_s, float(env.cfg.timeout_s)]
        started = time.perf_counter()
        version = self.launcher.runtime_version(env.cfg.runtime)
        for attempt, limit in enumerate(limits):
            attempt_start = time.perf_counter()
            telemetry_events.init_start(env, version)
            try:
                await self.launcher.spawn(env, plan, self.on_exit)
            except SandboxError as exc:
                log.error("could not create an environment for %s: %s", env.cfg.name, exc)
                return InitFailed(error_bodies.platform_failure(str(exc)), 0.0)
            outcome = await await_init(env, limit, attempt_start, self.settings.init_cpu_boost)
            telemetry_events.init_done(env, outcome)
            if not isinstance(outcome, InitFailed):
                telemetry_events.extensions_ready(env)
            if not isinstance(outcome, InitFailed) or not outcome.timed_out:
                return outcome
            if attempt == len(limits) - 1:
                return dataclasses.replace(outcome, init_ms=(time.perf_counter() - started) * 1000)
            env.log_platform(
                lines.init_report_line(outcome.init_ms, "timeout"),
                "platform.initReport",
                lines.init_report_record(outcome.init_ms, "timeout"),
            )
            await reset(env)
        raise AssertionError("unreachable")
