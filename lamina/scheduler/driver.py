"""The scheduler's async driver: carries out the pool's decisions with real processes.

Flow of one invoke: :meth:`Scheduler.invoke` asks the pool for a decision (warm, cold or
throttle), thaws or creates the environment, delivers the event through its Runtime API
channel, waits for the answer, a crash or the deadline, then meters and logs it and hands
the environment back. Nothing on this path touches the database or the disk: ledger
rows and log events are buffered and written in batches by timers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from random import getrandbits

from lamina.billing.meter import billed_duration_ms
from lamina.config import Settings
from lamina.errors import InvalidRuntime, SandboxError, TooManyRequests
from lamina.logs import lines
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import FunctionError, InvocationRecord, InvokeResult, Outcome
from lamina.runtime_api.channel import Delivery, InitFailure, RuntimeAnswer, RuntimeChannel
from lamina.runtimes.registry import (
    RuntimeCommand,
    RuntimeRegistry,
    check_entrypoint,
    runtime_dir,
    zygote_argv,
)
from lamina.sandbox import Limits, Sandbox, SandboxSpec
from lamina.scheduler.environment import Environment
from lamina.scheduler.pool import ColdStart, EnvSlot, Pool, Throttle
from lamina.scheduler.pool import Limits as PoolLimits
from lamina.scheduler.variables import environment_variables
from lamina.scheduler.zygotes import Zygotes, ZygoteSandbox, wants_zygote

log = logging.getLogger("lamina.scheduler")

RecordSink = Callable[[InvocationRecord], None]


@dataclass(frozen=True, slots=True)
class InvokeRequest:
    cfg: FunctionConfig
    payload: bytes
    function_arn: str
    request_id: str = ""
    client_context: str | None = None
    cognito_identity: str | None = None
    tail: bool = False


class _InitOutcome:
    """How a cold start ended: ready (with Init Duration, or Restore Duration when forked
    from a zygote) or failed (with an error)."""

    __slots__ = ("error", "init_ms", "restore", "timed_out")

    def __init__(
        self, init_ms: float | None, error: FunctionError | None = None, timed_out: bool = False
    ) -> None:
        self.init_ms = init_ms
        self.error = error
        self.timed_out = timed_out
        self.restore: lines.Restore | None = None


_NOT_IN_ID = re.compile(r"[^a-z0-9-]+")


def sandbox_id(function: str, suffix: str) -> str:
    """A sandbox id (cgroup name) for an environment of ``function``: lower-case letters,
    digits and dashes only (function names may hold ``_``), unique by a random tail."""
    head = _NOT_IN_ID.sub("-", function[:40].lower()).strip("-") or "fn"
    return f"{head}-{suffix}-{secrets.token_hex(3)}"


def _has_result(fut: asyncio.Future[float]) -> bool:
    return fut.done() and not fut.cancelled() and fut.exception() is None


def _trace_id() -> str:
    # A trace id is a correlation id, not a secret: the Mersenne Twister is ~10x cheaper
    # per invoke than two os.urandom calls (the zygote reseeds it in every fork).
    return (
        f"Root=1-{int(time.time()):08x}-{getrandbits(96):024x};"
        f"Parent={getrandbits(64):016x};Sampled=0"
    )


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
        self._unpack = unpack
        self._record = record
        self.pool = Pool(
            PoolLimits(settings.concurrency_limit, settings.idle_reclaim_s, settings.max_lifetime_s)
        )
        self.envs: dict[str, Environment] = {}
        self._unpacked: dict[str, Path] = {}
        self._runtime_dir = runtime_dir()
        self._reaper: asyncio.Task[None] | None = None
        self._closing = False
        # Where functions reach Lamina's API (AWS_ENDPOINT_URL); set once the port is bound.
        self.api_endpoint = ""
        # boto3 for Python functions (see lamina.runtimes.sdk); None: not provided.
        self.python_sdk: Path | None = None
        self.zygotes: Zygotes | None = None
        if getattr(sandbox, "supports_zygotes", False) and settings.zygotes != "off":
            zygote_sandbox: ZygoteSandbox = sandbox  # type: ignore[assignment]
            self.zygotes = Zygotes(zygote_sandbox, settings, logs, self._zygote_spec)

    # -- lifecycle --------------------------------------------------------------------
    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())

    async def close(self) -> None:
        self._closing = True
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        envs = list(self.envs.values())
        self.envs.clear()
        await asyncio.gather(*(env.destroy() for env in envs), return_exceptions=True)
        if self.zygotes is not None:
            await self.zygotes.close()
        self.logs.flush()

    async def drain_function(self, name: str) -> None:
        """Retire the idle environments of ``name`` (its code or configuration changed)."""
        if self.zygotes is not None:
            self.zygotes.retire(name)
        for slot in self.pool.drain(f"{name}:"):
            env = self.envs.pop(slot.env_id, None)
            if env is not None:
                await env.destroy()

    # -- the invoke path --------------------------------------------------------------
    async def invoke(self, req: InvokeRequest) -> InvokeResult:
        cfg = req.cfg
        request_id = req.request_id or str(uuid.uuid4())
        decision = self.pool.acquire(cfg.name, cfg.cache_key, time.monotonic())
        if isinstance(decision, Throttle):
            raise TooManyRequests(decision.message, decision.reason)
        slot = decision.slot
        reusable = False
        try:
            if isinstance(decision, ColdStart):
                env = self._new_environment(cfg, slot)
                env.tail = [] if req.tail else None
                init = await self._cold_start(env, request_id)
                if init.error is not None:
                    return self._init_failed(env, req, request_id, init)
                self.pool.started(slot)
                result, reusable = await self._run(env, req, request_id, init.init_ms, init.restore)
            else:
                env = self.envs[slot.env_id]
                env.tail = [] if req.tail else None
                # No peak-memory reset: Lambda's Max Memory Used is the environment's
                # high-water mark, and not resetting saves a syscall per warm invoke.
                await env.thaw()
                result, reusable = await self._run(env, req, request_id, None)
            return result
        finally:
            self.pool.release(slot, time.monotonic(), reusable=reusable)
            env_after = self.envs.get(slot.env_id)
            if env_after is not None:
                env_after.tail = None
                if reusable:
                    self._schedule_freeze(env_after)
                else:
                    self.envs.pop(slot.env_id, None)
                    asyncio.get_running_loop().create_task(env_after.destroy())

    def _new_environment(self, cfg: FunctionConfig, slot: EnvSlot) -> Environment:
        env = Environment(slot, cfg, RuntimeChannel(), lines.log_stream(cfg.version), self.logs)
        self.envs[slot.env_id] = env
        return env

    async def _code_dir(self, sha: str) -> Path:
        path = self._unpacked.get(sha)
        if path is None:
            # Unpacking happens once per code version; keep it off the event loop.
            path = await asyncio.to_thread(self._unpack, sha)
            self._unpacked[sha] = path
        return path

    async def _prepare(self, cfg: FunctionConfig) -> tuple[Path, str, str, RuntimeCommand]:
        """The code directory, task root, runtime root and command of ``cfg``'s runtime."""
        code_dir = await self._code_dir(cfg.code_sha256)
        missing = check_entrypoint(cfg.runtime, code_dir)
        if missing is not None:
            raise _EntrypointMissing(missing)
        runtime_root = self.sandbox.runtime_root(self._runtime_dir)
        task_root = self.sandbox.task_root(code_dir)
        cmd = self.runtimes.resolve(cfg.runtime, runtime_root, task_root)
        return code_dir, task_root, runtime_root, cmd

    def _limits(self, cfg: FunctionConfig) -> Limits:
        return Limits(
            memory_mb=cfg.memory_mb,
            ephemeral_mb=cfg.ephemeral_mb,
            init_cpu_boost=self.settings.init_cpu_boost,
        )

    def _is_python(self, cmd: RuntimeCommand) -> bool:
        return bool(cmd.execution_env and cmd.execution_env.startswith("AWS_Lambda_python"))

    def _expose(self, cmd: RuntimeCommand) -> tuple[Path, ...]:
        paths = [cmd.prefix] if cmd.prefix is not None else []
        if self.python_sdk is not None and self._is_python(cmd):
            paths.append(self.python_sdk)
        return tuple(paths)

    def _with_sdk(self, cmd: RuntimeCommand, variables: dict[str, str]) -> dict[str, str]:
        # After the task root (the bootstrap puts it first) and the function's own entries.
        if self.python_sdk is not None and self._is_python(cmd):
            own = variables.get("PYTHONPATH")
            variables["PYTHONPATH"] = f"{own}:{self.python_sdk}" if own else str(self.python_sdk)
        return variables

    async def _spawn(self, env: Environment) -> None:
        cfg = env.cfg
        code_dir, task_root, runtime_root, cmd = await self._prepare(cfg)
        address = await env.channel.start()
        variables = environment_variables(
            cfg,
            region=self.settings.region,
            runtime_api=address,
            log_stream=env.log_stream,
            task_root=task_root,
            runtime_dir=runtime_root,
            execution_env=cmd.execution_env,
            api_endpoint=self.api_endpoint,
            credentials=self.settings.credentials(),
        )
        spec = SandboxSpec(
            env_id=sandbox_id(cfg.name, env.slot.env_id),
            argv=list(cmd.argv),
            env=self._with_sdk(cmd, variables),
            code_dir=code_dir,
            runtime_dir=self._runtime_dir,
            expose=self._expose(cmd),
            limits=self._limits(cfg),
        )
        read_fd, write_fd = os.pipe()
        try:
            env.process = await self.sandbox.spawn(spec, write_fd)
        except BaseException:
            os.close(read_fd)
            raise
        finally:
            os.close(write_fd)
        self._watch(env, read_fd)

    def _watch(self, env: Environment, read_fd: int) -> None:
        """Log the new process's output and notice its exit."""
        env.attach_output(read_fd)
        process = env.process
        assert process is not None
        env.exited = asyncio.get_running_loop().create_task(process.wait())
        env.exited.add_done_callback(lambda fut: self._on_exit(env, fut))

    # -- zygotes (SnapStart) ------------------------------------------------------------
    async def _zygote_spec(self, cfg: FunctionConfig, log_stream: str) -> SandboxSpec:
        code_dir, task_root, runtime_root, cmd = await self._prepare(cfg)
        variables = environment_variables(
            cfg,
            region=self.settings.region,
            runtime_api="",
            log_stream=log_stream,
            task_root=task_root,
            runtime_dir=runtime_root,
            execution_env=cmd.execution_env,
            initialization_type="snap-start",
            api_endpoint=self.api_endpoint,
            credentials=self.settings.credentials(),
        )
        # Per environment (set in each fork), or absent in SnapStart functions as on Lambda.
        for key in ("AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_LOG_GROUP_NAME",
                    "AWS_LAMBDA_LOG_STREAM_NAME"):  # fmt: skip
            variables.pop(key, None)
        return SandboxSpec(
            env_id=sandbox_id(cfg.name, "z" + secrets.token_hex(2)),
            argv=list(zygote_argv(cmd, runtime_root)),
            env=self._with_sdk(cmd, variables),
            code_dir=code_dir,
            runtime_dir=self._runtime_dir,
            expose=self._expose(cmd),
            limits=self._limits(cfg),
        )

    async def _restore(self, env: Environment, request_id: str) -> _InitOutcome:
        """A cold start forked from the function version's zygote (made now if needed).

        The invoke that has to make the zygote pays its INIT and reports it as ``Init
        Duration``; every later one reports ``Restore Duration``, as Lambda's SnapStart does.
        """
        assert self.zygotes is not None
        cfg = env.cfg
        started = time.perf_counter()
        try:
            entry, created = await self.zygotes.acquire(cfg, lines.log_stream(cfg.version))
        except _EntrypointMissing as exc:
            return _InitOutcome(0.0, FunctionError("Runtime.InvalidEntrypoint", str(exc)))
        except InvalidRuntime as exc:
            return _InitOutcome(0.0, FunctionError("Runtime.InvalidRuntime", exc.message))
        if entry.error is not None:
            return _InitOutcome(entry.init_ms, entry.error)
        address = await env.channel.start()
        read_fd, write_fd = os.pipe()
        t0 = time.perf_counter()
        try:
            process = self.zygotes.fork(
                entry,
                sandbox_id(cfg.name, env.slot.env_id),
                self._limits(cfg),
                {"AWS_LAMBDA_RUNTIME_API": address},
                write_fd,
            )
        except SandboxError as exc:
            # A zygote that died after INIT: forget it and start this one the usual way.
            log.warning("zygote of %s unusable (%s); starting normally", cfg.name, exc)
            os.close(read_fd)
            self.zygotes.retire(cfg.name)
            env.channel.close()
            env.channel = RuntimeChannel()
            return await self._cold_start(env, request_id, allow_zygote=False)
        finally:
            os.close(write_fd)
        env.process = process
        env.on_destroyed = lambda: self.zygotes.release(entry) if self.zygotes else None
        self._watch(env, read_fd)
        outcome = await self._await_init(env, self.settings.init_timeout_s, t0)
        if outcome.error is not None and process.failure:
            outcome.error = FunctionError("Runtime.Unknown", process.failure)
        if outcome.error is not None or created:
            if created:
                outcome.init_ms = (time.perf_counter() - started) * 1000
            return outcome
        ready_at = env.channel.ready.result()
        runtime_start = process.started.result() if _has_result(process.started) else t0
        billed = max(0, math.ceil(round((ready_at - runtime_start) * 1000, 6)))
        outcome.restore = lines.Restore(outcome.init_ms or 0.0, billed)
        outcome.init_ms = None
        return outcome

    async def _cold_start(
        self, env: Environment, request_id: str, allow_zygote: bool = True
    ) -> _InitOutcome:
        """Start the runtime and run INIT; retried once within the function timeout if the
        first attempt overruns the 10 s INIT limit, as Lambda does. Functions with a zygote
        fork from it instead (:meth:`_restore`)."""
        if (
            allow_zygote
            and self.zygotes is not None
            and wants_zygote(env.cfg, self.settings.zygotes, True)
        ):
            return await self._restore(env, request_id)
        limits = [self.settings.init_timeout_s, float(env.cfg.timeout_s)]
        started = time.perf_counter()
        for attempt, limit in enumerate(limits):
            attempt_start = time.perf_counter()
            try:
                await self._spawn(env)
            except _EntrypointMissing as exc:
                return _InitOutcome(0.0, FunctionError("Runtime.InvalidEntrypoint", str(exc)))
            except InvalidRuntime as exc:
                return _InitOutcome(0.0, FunctionError("Runtime.InvalidRuntime", exc.message))
            except SandboxError as exc:
                log.error("could not create an environment for %s: %s", env.cfg.name, exc)
                return _InitOutcome(0.0, FunctionError("Runtime.Unknown", str(exc)))
            outcome = await self._await_init(env, limit, attempt_start)
            if not outcome.timed_out or attempt == len(limits) - 1:
                if outcome.timed_out:
                    outcome.init_ms = (time.perf_counter() - started) * 1000
                return outcome
            env.log(
                f"INIT_REPORT Init Duration: {outcome.init_ms:.2f} ms\tPhase: init\tStatus: timeout"
            )
            await self._reset(env)
        raise AssertionError("unreachable")

    async def _await_init(self, env: Environment, limit: float, t0: float) -> _InitOutcome:
        channel = env.channel
        assert env.exited is not None
        waiters: set[asyncio.Future[object]] = {channel.ready, channel.init_failed, env.exited}  # type: ignore[arg-type]
        _done, _ = await asyncio.wait(waiters, timeout=limit, return_when=asyncio.FIRST_COMPLETED)
        if channel.ready.done() and not channel.ready.cancelled():
            if self.settings.init_cpu_boost and env.process is not None:
                env.process.end_init_boost(env.cfg.memory_mb)
            return _InitOutcome((channel.ready.result() - t0) * 1000)
        init_ms = (time.perf_counter() - t0) * 1000
        if channel.init_failed.done() and not channel.init_failed.cancelled():
            failure = channel.init_failed.result()
            return _InitOutcome(init_ms, _init_error(failure))
        if env.exited.done():
            status = env.exited.result() if not env.exited.cancelled() else -1
            return _InitOutcome(init_ms, self._exit_error(env, status, None))
        return _InitOutcome(
            init_ms,
            FunctionError("Sandbox.Timedout", f"INIT timed out after {limit:.2f} seconds"),
            timed_out=True,
        )

    async def _reset(self, env: Environment) -> None:
        # The old process's exit callback finds no request in flight and a starting slot,
        # so it does nothing; the environment object is reused for the second attempt.
        old_process = env.process
        env.channel.close()
        if old_process is not None:
            await old_process.kill()
        env.drain_output()
        env.detach_output()
        env.channel = RuntimeChannel()
        env.process = None

    def _init_failed(
        self, env: Environment, req: InvokeRequest, request_id: str, init: _InitOutcome
    ) -> InvokeResult:
        assert init.error is not None
        cfg = env.cfg
        env.drain_output()
        status = "timeout" if init.timed_out else "error"
        init_ms = init.init_ms or 0.0
        env.log(
            f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\t"
            f"Status: {status}\tError Type: {init.error.error_type}"
        )
        env.log(lines.start_line(request_id, cfg.version))
        env.log(lines.end_line(request_id))
        rec = self._meter(
            env, request_id, 0.0, init_ms, Outcome.TIMEOUT if init.timed_out else Outcome.ERROR
        )
        env.log(lines.report_line(rec))
        body = json.loads(init.error.to_json())
        body["requestId"] = request_id
        return InvokeResult(
            request_id, json.dumps(body).encode(), cfg.version, "Unhandled", env.tail_bytes(), rec
        )

    async def _run(
        self,
        env: Environment,
        req: InvokeRequest,
        request_id: str,
        init_ms: float | None,
        restore: lines.Restore | None = None,
    ) -> tuple[InvokeResult, bool]:
        """Deliver one event and wait for its end. Returns the result and whether the
        environment may serve again."""
        cfg = env.cfg
        loop = asyncio.get_running_loop()
        env.request_id = request_id
        timeout_s = float(cfg.timeout_s)
        started_wall = time.time()
        delivery = Delivery(
            request_id=request_id,
            payload=req.payload,
            deadline_ms=int((started_wall + timeout_s) * 1000),
            function_arn=req.function_arn,
            trace_id=_trace_id(),
            client_context=req.client_context,
            cognito_identity=req.cognito_identity,
        )
        env.log(lines.start_line(request_id, cfg.version))
        t0 = time.perf_counter()
        timer = loop.call_later(timeout_s, _expire, delivery)
        env.channel.deliver(delivery)
        if env.exited is not None and env.exited.done():
            self._on_exit(env, env.exited)  # died between reuse and delivery
        try:
            answer = await delivery.answer
        finally:
            timer.cancel()
        start = delivery.delivered_at or t0
        duration_ms = (answer.at - start) * 1000 if answer.at else (time.perf_counter() - t0) * 1000
        env.request_id = None
        reusable = True
        if answer.error_type == "Sandbox.Timedout":
            env.channel.forget(request_id)
            env.drain_output()
            env.log(lines.timeout_line(request_id, timeout_s))
            payload = FunctionError(
                "Sandbox.Timedout",
                f"RequestId: {request_id} Error: Task timed out after {timeout_s:.2f} seconds",
            ).to_json()
            outcome, function_error, reusable = Outcome.TIMEOUT, "Unhandled", False
        elif answer.error_type == "lamina.exited":
            env.drain_output()
            status = int(answer.body or b"-1")
            err = self._exit_error(env, status, request_id)
            env.log(f"RequestId: {request_id} Error: {err.error_message.split('Error: ', 1)[-1]}")
            env.log(err.error_type)
            payload = err.to_json()
            outcome, function_error, reusable = Outcome.ERROR, "Unhandled", False
        elif answer.ok:
            payload, outcome, function_error = answer.body, Outcome.SUCCESS, None
        else:
            payload = _error_body(answer, request_id)
            outcome, function_error = Outcome.ERROR, "Unhandled"
        env.drain_output()
        env.log(lines.end_line(request_id))
        rec = self._meter(env, request_id, duration_ms, init_ms, outcome, started_wall, restore)
        env.log(
            lines.report_line(rec, restore)
            if cfg.log_format == "Text"
            else lines.report_json(rec, restore=restore)
        )
        return InvokeResult(
            request_id, payload, cfg.version, function_error, env.tail_bytes(), rec
        ), reusable

    def _meter(
        self,
        env: Environment,
        request_id: str,
        duration_ms: float,
        init_ms: float | None,
        outcome: Outcome,
        started_at: float | None = None,
        restore: lines.Restore | None = None,
    ) -> InvocationRecord:
        """Meter one invocation. A restored environment is billed its Billed Restore
        Duration on top of the duration, as SnapStart is (INIT was billed once, by the
        invoke that made the zygote)."""
        cfg = env.cfg
        max_mb = 0
        if env.process is not None:
            with contextlib.suppress(Exception):
                max_mb = env.process.max_memory_used_mb()
        rec = InvocationRecord(
            request_id=request_id,
            function_name=cfg.name,
            version=cfg.version,
            started_at=started_at if started_at is not None else time.time(),
            duration_ms=duration_ms,
            billed_ms=billed_duration_ms(
                duration_ms, init_ms if restore is None else float(restore.billed_ms)
            ),
            memory_mb=cfg.memory_mb,
            max_memory_used_mb=max_mb,
            init_ms=init_ms,
            architecture=cfg.architecture,
            outcome=outcome,
            ephemeral_mb=cfg.ephemeral_mb,
        )
        self._record(rec)
        return rec

    def _exit_error(self, env: Environment, status: int, request_id: str | None) -> FunctionError:
        oom = False
        if env.process is not None:
            with contextlib.suppress(Exception):
                oom = env.process.oom_killed()
        if status < 0 or status >= 128:
            signo = -status if status < 0 else status - 128
            what = "signal: killed" if signo == 9 else f"signal: {signo}"
        else:
            what = f"exit status {status}"
        prefix = f"RequestId: {request_id} " if request_id else ""
        message = f"{prefix}Error: Runtime exited with error: {what}"
        return FunctionError("Runtime.OutOfMemory" if oom else "Runtime.ExitError", message)

    def _on_exit(self, env: Environment, fut: asyncio.Future[int]) -> None:
        """The runtime process ended: fail its in-flight event, retire the environment."""
        if fut.cancelled() or fut is not env.exited:
            return  # a process replaced by an INIT retry
        status = fut.result()
        slot = env.slot
        env.drain_output()
        if env.request_id is not None:
            env.channel.fail_current(
                RuntimeAnswer(
                    False, str(status).encode(), "lamina.exited", False, time.perf_counter()
                )
            )
        elif slot.is_idle() and self.envs.get(slot.env_id) is env:
            self.pool.remove(slot)
            self.envs.pop(slot.env_id, None)
            asyncio.get_running_loop().create_task(env.destroy())

    # -- freezing and reaping ---------------------------------------------------------
    def _schedule_freeze(self, env: Environment) -> None:
        if env.process is None or self._closing:
            return
        loop = asyncio.get_running_loop()
        env.freeze_handle = loop.call_later(self.settings.freeze_grace_s, self._freeze, env)

    def _freeze(self, env: Environment) -> None:
        env.freeze_handle = None
        if env.process is None or not self.pool.mark_frozen(env.slot):
            return
        env.drain_output()
        env.frozen = True
        env.freezing = asyncio.get_running_loop().create_task(env.process.freeze())

    async def _reap_forever(self) -> None:
        period = max(0.05, min(1.0, self.settings.idle_reclaim_s / 4))
        while True:
            await asyncio.sleep(period)
            self.logs.flush()
            if self.zygotes is not None:
                self.zygotes.reap(time.monotonic())
            for slot in self.pool.expired(time.monotonic()):
                env = self.envs.pop(slot.env_id, None)
                if env is not None:
                    await env.destroy()


class _EntrypointMissing(Exception):
    pass


def _expire(delivery: Delivery) -> None:
    if not delivery.answer.done():
        delivery.answer.set_result(
            RuntimeAnswer(False, b"", "Sandbox.Timedout", False, time.perf_counter())
        )


def _init_error(failure: InitFailure) -> FunctionError:
    try:
        body = json.loads(failure.body)
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    trace = body.get("stackTrace") or body.get("trace") or []
    return FunctionError(
        str(body.get("errorType") or failure.error_type or "Runtime.Unknown"),
        str(body.get("errorMessage", "")),
        tuple(str(t) for t in trace) if isinstance(trace, list) else (),
    )


def _error_body(answer: RuntimeAnswer, request_id: str) -> bytes:
    """Normalise a runtime's error post into Lambda's invoke error body."""
    if answer.too_large:
        return FunctionError(
            "Function.ResponseSizeTooLarge",
            "Response payload size exceeded maximum allowed payload size (6291556 bytes).",
        ).to_json()
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if isinstance(body, dict) and ("errorMessage" in body or "errorType" in body):
        out: dict[str, object] = {
            "errorMessage": body.get("errorMessage", ""),
            "errorType": body.get("errorType", answer.error_type or ""),
        }
        trace = body.get("stackTrace", body.get("trace"))
        if trace:
            out["stackTrace" if "stackTrace" in body else "trace"] = trace
        if "requestId" in body:
            out["requestId"] = body["requestId"]
        return json.dumps(out, separators=(",", ":")).encode()
    return FunctionError(
        answer.error_type or "Runtime.Unknown", answer.body.decode("utf-8", "replace")
    ).to_json()
