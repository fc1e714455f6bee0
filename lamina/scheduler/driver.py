"""The scheduler's async driver: carries out the pool's decisions with real processes.

Thin glue over pieces with one job each. Flow of one invoke: :meth:`Scheduler.invoke` asks
the :class:`~lamina.scheduler.pool.Pool` for a decision (warm, cold or throttle); a cold
start runs INIT (:mod:`~lamina.scheduler.cold_start`, or
:mod:`~lamina.scheduler.restore` from a zygote), a warm environment is thawed; the event
is delivered (:mod:`~lamina.scheduler.delivery`), its ending classified
(:mod:`~lamina.scheduler.outcome`), logged and metered in one step
(:mod:`~lamina.scheduler.report`), and the environment handed back to be frozen later
(:mod:`~lamina.scheduler.idle`). Nothing on this path touches the database or the disk:
ledger rows and log events are buffered and written in batches by timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from lamina.config import Settings
from lamina.errors import TooManyRequests
from lamina.logs import lines
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.bus import TelemetryBus
from lamina.runtime_api.channel import RuntimeChannel
from lamina.runtime_api.stream import ResponseStream
from lamina.runtimes.registry import RuntimeRegistry
from lamina.sandbox import Sandbox, zygote_host
from lamina.sandbox.netns import ServeApi
from lamina.scheduler.after_answer import AfterAnswers
from lamina.scheduler.cold_start import ColdStarter
from lamina.scheduler.delivery import deliver, end_with_exit
from lamina.scheduler.environment import Environment
from lamina.scheduler.idle import IdleKeeper
from lamina.scheduler.launcher import Launcher
from lamina.scheduler.outcome import (
    ExtensionCrashed,
    InitFailed,
    ProcessExited,
    Ready,
    TimedOut,
    classify,
)
from lamina.scheduler.pool import ColdStart, EnvSlot, Pool, PoolLimits, Throttle
from lamina.scheduler.provisioned import Provisioner
from lamina.scheduler.recent_payloads import RecentPayloads
from lamina.scheduler.report import AfterInvoke, RecordSink, Reporter
from lamina.scheduler.zygotes import Zygotes

log = logging.getLogger("lamina.scheduler")


@dataclass(slots=True)
class InvokeRequest:
    """One synchronous invoke, as the API hands it to the scheduler. Not changed once made
    (not frozen only because a frozen dataclass's ``__init__`` costs ~1 µs more per invoke:
    it sets each of its ten fields through ``object.__setattr__``)."""

    cfg: FunctionConfig
    payload: bytes
    function_arn: str
    request_id: str = ""
    client_context: str | None = None
    cognito_identity: str | None = None
    tail: bool = False
    # Set for InvokeWithResponseStream and RESPONSE_STREAM URLs: a streaming response goes
    # here as it is produced; the invoke still returns when the stream has ended.
    stream: ResponseStream | None = None
    # The X-Ray header of a trace this invoke continues (lamina.tracing): its Root is kept.
    trace_header: str | None = None
    # What started it (lamina.triggers: OpenTelemetry's faas.trigger), for its record.
    trigger: str = "other"


class Scheduler:
    """Owns every execution environment of one Lamina server."""

    def __init__(
        self,
        settings: Settings,
        sandbox: Sandbox,
        runtimes: RuntimeRegistry,
        unpack: Callable[[str], Path],
        logs: LogStore,
        record: RecordSink,
    ) -> None:
        self.settings = settings
        self.sandbox = sandbox
        self.runtimes = runtimes
        self.logs = logs
        self.pool = Pool(
            PoolLimits(
                settings.concurrency_limit,
                settings.idle_reclaim_s,
                settings.max_lifetime_s,
                settings.freeze_grace_s,
                settings.freeze_hold_s,
            )
        )
        self.envs: dict[str, Environment] = {}
        self.launcher = Launcher(settings, sandbox, runtimes, unpack)
        host = zygote_host(sandbox)
        self.zygotes: Zygotes | None = None
        if host is not None and settings.zygotes != "off":
            self.zygotes = Zygotes(
                host, settings, logs, self.launcher.zygote_spec, self.launcher.runtime_version
            )
        self._starter = ColdStarter(settings, self.launcher, self.zygotes, self._on_exit)
        self._reporter = Reporter(record)
        self._after = AfterAnswers()  # the after-invoke steps of answered invokes
        self._after_rest = AfterAnswers()  # ... their parts past the reading (see _read_now)
        self._idle = IdleKeeper(settings, self.pool, self.envs, logs, self.zygotes)
        # Provisioned concurrency's environments (lamina.scheduler.provisioned).
        self.provisioner = Provisioner(self.pool, self._start_provisioned, self._retire_slot)
        self._reaper: asyncio.Task[None] | None = None
        # Every environment's telemetry events (the console's tail, `lamina logs --follow`).
        self.bus = TelemetryBus()
        # The last invocations' payloads per function (the console's function page); None
        # where nothing reads them (a cluster node: the control plane's console keeps them).
        self.recent: RecentPayloads | None = RecentPayloads()
        # Told of each throttled invoke (function, version, epoch s): the metrics count them.
        self.on_throttle: Callable[[str, str, float], None] | None = None
        # On a cluster (lamina.cluster), invokes are placed on nodes instead of run here,
        # streamed ones too (the node's connection carries the stream).
        self.route: Callable[[InvokeRequest], Awaitable[InvokeResult]] | None = None
        # ... and a function's idle environments on the nodes are retired with the local ones.
        self.drain_elsewhere: Callable[[str], None] | None = None

    # Where functions reach Lamina's API (AWS_ENDPOINT_URL); set once the port is bound.
    @property
    def api_endpoint(self) -> str:
        return self.launcher.api_endpoint

    @api_endpoint.setter
    def api_endpoint(self, value: str) -> None:
        self.launcher.api_endpoint = value

    # boto3 for Python functions (see lamina.runtimes.sdk); None: not provided.
    @property
    def python_sdk(self) -> Path | None:
        return self.launcher.python_sdk

    @python_sdk.setter
    def python_sdk(self, value: Path | None) -> None:
        self.launcher.python_sdk = value

    # -- lifecycle --------------------------------------------------------------------
    def serve_api_inside(self, api_port: int, serve_api: ServeApi) -> None:
        """Serve Lamina's API inside every environment's network namespace too."""
        self.launcher.serve_api_inside(api_port, serve_api)

    def start(self) -> None:
        warm_up = getattr(self.sandbox, "warm_up", None)
        if warm_up is not None:
            warm_up()  # the process tier makes its /tmp volumes ahead of cold starts
        self._reaper = asyncio.get_running_loop().create_task(self._idle.reap_forever())

    async def close(self) -> None:
        self._idle.closing = True
        self.provisioner.close()
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        envs = list(self.envs.values())
        self.envs.clear()
        # The stop ends the invoke phase of an invoke whose extensions still work on it:
        # its END, REPORT, record and platform.report now, as of the stop (before the
        # ledger closes, and before SHUTDOWN, as on Lambda); the extensions then get
        # SHUTDOWN and its grace, not the rest of their work (up to the timeout).
        reporting = [e.reporting for e in envs if e.reporting is not None]
        for env in envs:
            env.cut_invoke_phase()
        for result in await asyncio.gather(*reporting, return_exceptions=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.warning("an invoke's report was lost at shutdown: %s", result)
        await asyncio.gather(*(env.destroy() for env in envs), return_exceptions=True)
        for env in envs:
            env.channel.extensions.abandon()  # nobody waits on their next any more
        # Retirements that waited for those reports find their environments gone.
        await asyncio.gather(*self._idle.retiring, return_exceptions=True)
        self._after.run()
        self._after_rest.run()
        if self.zygotes is not None:
            await self.zygotes.close()
        self.logs.flush()

    async def drain_function(self, name: str) -> None:
        """Retire the idle environments of ``name`` (its code or configuration changed)."""
        if self.drain_elsewhere is not None:
            self.drain_elsewhere(name)
        if self.zygotes is not None:
            self.zygotes.retire(name)
        for slot in self.pool.drain(f"{name}:"):
            env = self.envs.get(slot.env_id)
            if env is not None:
                await self._idle.retire(env)

    async def prewarm(self, cfg: FunctionConfig) -> bool:
        """Start one environment of ``cfg`` with no event and keep it idle (a cluster node
        that leaves hands its warm environments to others this way). False when the pool
        has no room for it, an idle one is there already, or its INIT failed."""
        decision = self.pool.acquire(cfg.name, cfg.cache_key, time.monotonic(), cfg.memory_mb)
        if isinstance(decision, Throttle):
            return False
        slot = decision.slot
        if not isinstance(decision, ColdStart):
            self._hand_back(slot, True)  # one is warm already: nothing to start
            return False
        started = False
        try:
            env = self._new_environment(cfg, slot)
            init = await self._starter.start(env)
            if not isinstance(init, InitFailed):
                self.pool.started(slot)
                env.channel.on_extension_crash = lambda name: self._extension_crashed(env, name)
                started = True
            return started
        finally:
            self._hand_back(slot, started)

    async def _start_provisioned(self, cfg: FunctionConfig, config: str) -> bool:
        """Initialise one environment of ``cfg`` for the provisioned concurrency
        configuration ``config`` and keep it idle for its invokes. False when its INIT
        failed (or the pool had no room)."""
        decision = self.pool.provision(
            cfg.name, cfg.cache_key, time.monotonic(), cfg.memory_mb, config
        )
        if isinstance(decision, Throttle):
            return False
        slot = decision
        started = False
        try:
            env = self._new_environment(cfg, slot)
            init = await self._starter.start(env)
            if not isinstance(init, InitFailed):
                self.pool.started(slot)
                env.channel.on_extension_crash = lambda name: self._extension_crashed(env, name)
                started = True
            return started
        finally:
            self._hand_back(slot, started, replace=False)
            slot.invocations = 0  # its INIT served no event

    def _retire_slot(self, slot: EnvSlot) -> None:
        """Destroy the environment of a slot the pool let go (out of the pool already)."""
        env = self.envs.get(slot.env_id)
        if env is not None:
            asyncio.get_running_loop().create_task(self._idle.retire(env))

    # -- the invoke path --------------------------------------------------------------
    async def invoke(self, req: InvokeRequest) -> InvokeResult:
        route = self.route
        # (Routed without the local path's coroutine in between: one frame less to make
        # and to pass the answer through on a cluster's control plane.)
        result = await (self._invoke(req) if route is None else route(req))
        recent = self.recent
        if recent is not None:
            self._after.add(
                recent.add,
                req.cfg.name,
                result.request_id,
                req.payload,
                result.payload,
                result.function_error,
            )
        return result

    async def _invoke(self, req: InvokeRequest) -> InvokeResult:
        cfg = req.cfg
        request_id = req.request_id or str(uuid.uuid4())
        decision = self.pool.acquire(cfg.name, cfg.cache_key, time.monotonic(), cfg.memory_mb)
        if isinstance(decision, Throttle):
            if self.on_throttle is not None:
                self.on_throttle(cfg.name, cfg.version, time.time())
            raise TooManyRequests(decision.message, decision.reason)
        slot = decision.slot
        reusable = False
        try:
            if isinstance(decision, ColdStart):
                env = self._new_environment(cfg, slot)
                env.spillover = spilled = self.pool.spills_over(slot)
                if spilled:
                    env.provisioned_concurrency, env.provisioned_busy = self.provisioner.sample(
                        slot, spilled
                    )
                env.tail = [] if req.tail else None
                init = await self._starter.start(env)
                if isinstance(init, InitFailed):
                    rec = self._reporter.after_failed_init(env, request_id, init, req.trigger)
                    payload = init.payload(request_id)
                    return InvokeResult(
                        request_id, payload, cfg.version, "Unhandled", env.tail_bytes(), rec
                    )
                self.pool.started(slot)
                env.channel.on_extension_crash = lambda name: self._extension_crashed(env, name)
                result, reusable = await self._serve(env, req, request_id, init)
            else:
                env = self.envs[slot.env_id]
                # The last event's step, if the loop has not run it yet: its Max Memory
                # Used is read before this event runs; its END, REPORT and record follow
                # once this event is on its way (deliver), before this START. With the
                # Telemetry API in use all of it now: platform.start must follow them.
                if env.channel.telemetry.active:
                    env.settle()
                else:
                    env.settle_readings()
                # No peak-memory reset: Lambda's Max Memory Used is the environment's
                # high-water mark, and not resetting saves a syscall per warm invoke.
                await env.thaw()
                await env.settle_extensions()  # no event before every extension is done
                env.spillover = spilled = self.pool.spills_over(slot)
                if spilled or slot.provisioned is not None:
                    env.provisioned_concurrency, env.provisioned_busy = self.provisioner.sample(
                        slot, spilled
                    )
                else:
                    env.provisioned_concurrency = env.provisioned_busy = 0
                env.tail = [] if req.tail else None
                result, reusable = await self._serve(env, req, request_id, None)
            return result
        finally:
            if req.stream is not None:
                req.stream.close()  # whatever ended the invoke, its reader stops waiting
            self._hand_back(slot, reusable)

    def _new_environment(self, cfg: FunctionConfig, slot: EnvSlot) -> Environment:
        env = Environment(
            slot,
            cfg,
            RuntimeChannel((cfg.name, cfg.version, cfg.handler)),
            lines.log_stream(cfg.version, node=self.launcher.node),
            self.logs,
        )
        env.channel.telemetry.publish = partial(self.bus.publish, cfg.name)
        env.channel.telemetry.watched = partial(self.bus.watched, cfg.name)
        self.envs[slot.env_id] = env
        return env

    async def _serve(
        self, env: Environment, req: InvokeRequest, request_id: str, ready: Ready | None
    ) -> tuple[InvokeResult, bool]:
        """Deliver one event and wait for its end. Returns the result and whether the
        environment may serve again."""
        delivered = await deliver(
            env,
            request_id,
            req.payload,
            req.function_arn,
            req.client_context,
            req.cognito_identity,
            req.stream,
            req.trace_header,
            req.trigger,
        )
        ending = delivered.ending
        oom = isinstance(ending, ProcessExited) and env.oom_killed()
        outcome = classify(ending, request_id, float(env.cfg.timeout_s), oom)
        if isinstance(outcome, TimedOut):
            env.channel.forget(request_id)  # a late answer gets 403
            env.shutdown_reason = "timeout"
        elif not outcome.reusable:
            env.shutdown_reason = "failure"
        streamed = req.stream.total if req.stream is not None else None
        rec = None
        if outcome.reusable and not env.channel.extensions.all_settled():
            # Answer now; the invoke phase ends (and is reported) when the extensions are done.
            env.reporting = asyncio.get_running_loop().create_task(
                self._reporter.after_extensions(
                    env,
                    request_id,
                    outcome,
                    runtime_ms=delivered.duration_ms,
                    runtime_done_at=ending.at or time.perf_counter(),
                    started_at=delivered.started_at,
                    ready=ready,
                    streamed_bytes=streamed,
                    trace=delivered.trace,
                )
            )
        else:
            step = AfterInvoke(
                self._reporter,
                env,
                request_id,
                outcome,
                delivered.duration_ms,
                delivered.started_at,
                ready,
                streamed,
                delivered.trace,
            )
            if outcome.reusable and not req.tail:
                # Answer first: the meter and the lines follow once the answer is written
                # (or before anything else uses the environment). An invoke that ends its
                # environment, or whose caller reads the tail, runs them now.
                env.after_answer = step
                self._after.add(self._read_now, env)
            else:
                rec = step()
        function_error = "Unhandled" if outcome.unhandled else None
        result = InvokeResult(
            request_id,
            outcome.payload,
            env.cfg.version,
            function_error,
            env.tail_bytes(),
            rec,
            "",
            delivered.trace.trace_id,
        )
        return result, outcome.reusable

    def _read_now(self, env: Environment) -> None:
        """An answered invoke's step, from the loop once the answer is out: its reading
        now, the rest at the loop's next iteration. A next event that arrived meanwhile
        has its task in this iteration, so it goes first, and its delivery does the rest
        right after its event is written (while the runtime works). That is the common
        case on a busy host: the peer woken by the answer takes this process's CPU, which
        comes back only when the next request arrives."""
        env.settle_readings()
        if env.after_answer is not None:
            self._after_rest.add(env.settle)

    def _hand_back(self, slot: EnvSlot, reusable: bool, *, replace: bool = True) -> None:
        """The event is over: keep the environment warm (frozen after a grace period) or
        destroy it (a provisioned one is replaced, unless ``replace`` is False)."""
        self.pool.release(slot, time.monotonic(), reusable=reusable)
        if not reusable and replace and slot.provisioned is not None:
            self.provisioner.lost(slot)
        env = self.envs.get(slot.env_id)
        if env is None:
            return
        env.tail = None
        if reusable:
            self._idle.went_idle()  # frozen by a sweep once the pool says so
        else:
            self.envs.pop(slot.env_id, None)
            asyncio.get_running_loop().create_task(env.destroy())

    def _extension_crashed(self, env: Environment, name: str) -> None:
        """An extension's process ended after INIT: the event in flight fails with
        ``Extension.Crash`` (``Extension.ExitError`` after an ``/exit/error``) and the
        environment is reset, as on Lambda."""
        inflight = env.inflight
        if inflight is not None:
            error_type = env.channel.extensions.exit_error_type()
            inflight.end(ExtensionCrashed(name, time.perf_counter(), error_type), env.channel)
            return
        env.settle()
        env.log_platform(
            f"EXTENSION\tName: {name}\tState: Crashed",
            "platform.extension",
            lines.extension_record(name, "Crashed"),
        )
        slot = env.slot
        if slot.is_idle() and self.envs.get(slot.env_id) is env:
            self.pool.remove(slot)
            self.envs.pop(slot.env_id, None)
            asyncio.get_running_loop().create_task(env.destroy())
            if slot.provisioned is not None:
                self.provisioner.lost(slot)

    def _on_exit(self, env: Environment, fut: asyncio.Future[int]) -> None:
        """The runtime process ended: fail its in-flight event, or retire it if idle."""
        if fut.cancelled() or fut is not env.exited:
            return  # a process replaced by an INIT retry
        slot = env.slot
        env.settle()  # an answered event's END and REPORT before what the runtime wrote since
        env.drain_output()
        if end_with_exit(env, fut):
            return
        if slot.is_idle() and self.envs.get(slot.env_id) is env:
            self.pool.remove(slot)
            self.envs.pop(slot.env_id, None)
            asyncio.get_running_loop().create_task(env.destroy())
            if slot.provisioned is not None:
                self.provisioner.lost(slot)
