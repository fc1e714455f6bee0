"""One live execution environment: its process, its Runtime API channel, its log stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from lamina.logs import levels
from lamina.logs.lines import function_log_group, platform_json
from lamina.logs.store import LogStore, group_folder
from lamina.models.function import FunctionConfig
from lamina.runtime_api.channel import RuntimeChannel
from lamina.sandbox import EnvironmentProcess
from lamina.sandbox.netns import EnvNetwork
from lamina.scheduler.inflight import Inflight
from lamina.scheduler.output import OutputPipe
from lamina.scheduler.pool import EnvSlot

log = logging.getLogger("lamina.scheduler")

TAIL_BYTES = 4096
# Lambda's SHUTDOWN phase lasts 2,000 ms with registered (external) extensions, 500 ms
# without: the runtime has had SIGTERM and may clean up before the environment is killed.
SHUTDOWN_GRACE_S = 2.0
RUNTIME_SHUTDOWN_GRACE_S = 0.5
NEXT_BEFORE_SHUTDOWN_S = 0.5  # at most, for an idle runtime's /next before SHUTDOWN


def shutdown_grace_s(extensions: int) -> float:
    """How long SHUTDOWN may last before the kill, for ``extensions`` registered ones."""
    return SHUTDOWN_GRACE_S if extensions else RUNTIME_SHUTDOWN_GRACE_S


class AfterAnswer(Protocol):
    """An answered invoke's after-invoke step (:class:`lamina.scheduler.report.AfterInvoke`)."""

    def read(self) -> None:
        """What must come before the environment's next event (idempotent)."""

    def __call__(self) -> object:
        """All of it (``read`` first, if it has not run)."""


@dataclass(slots=True)
class Environment:
    """The driver's handle on one environment (the pool holds its :class:`EnvSlot`)."""

    slot: EnvSlot
    cfg: FunctionConfig
    channel: RuntimeChannel
    log_stream: str
    logs: LogStore
    process: EnvironmentProcess | None = None
    exited: asyncio.Future[int] | None = None
    frozen: bool = False
    freezing: asyncio.Task[None] | None = None
    inflight: Inflight | None = None  # the event being served
    tail: list[str] | None = None  # lines of the current invocation, when asked for
    # END/REPORT of an invoke whose extensions still work on it (see Reporter.after_extensions)
    reporting: asyncio.Task[None] | None = None
    # The last invoke's after-invoke step while it waits for its answer to go out
    # (lamina.scheduler.after_answer): run by settle() before anything else uses the
    # environment.
    after_answer: AfterAnswer | None = None
    # What SHUTDOWN tells extensions: spindown, or timeout / failure after such an invoke.
    shutdown_reason: str = "spindown"
    # The event being served spilled over: its version's provisioned environments were all
    # busy (lamina.scheduler.provisioned; a metric).
    spillover: bool = False
    # The provisioned concurrency of its version's configuration when the event began, and
    # how many of its environments served one then (0: a version without one).
    provisioned_concurrency: int = 0
    provisioned_busy: int = 0
    # Called once when the environment is destroyed (a zygote counts its live children).
    on_destroyed: Callable[[], None] | None = None
    # Its own network namespace (process tier), closed with the environment.
    network: EnvNetwork | None = None
    # Active tracing: tells the X-Ray daemon which trace header each event was handed,
    # and the caller's header it continues (lamina.xray.daemon); None: no tracing.
    xray: Callable[[str, str | None], None] | None = None
    _output: OutputPipe = field(init=False)
    # The external extensions' output, a pipe of its own (lamina/runtimes/launch_extensions.sh).
    _extensions_output: OutputPipe | None = field(init=False, default=None)
    _log_folder: str = field(init=False)  # the log group's folder in the log store
    # The least levels of system records and of the function's own lines that reach the
    # log stream (lamina.logs.levels; 0, all of them, with the Text format).
    _system_floor: int = field(init=False)
    _app_floor: int = field(init=False)
    # Resolved when the platform ends the invoke phase itself (cut_invoke_phase).
    _phase_cut: asyncio.Future[None] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self._output = OutputPipe(self._output_line)
        self._log_folder = group_folder(function_log_group(self.cfg))
        self._system_floor = levels.system_floor(self.cfg)
        self._app_floor = levels.application_floor(self.cfg)

    def settle(self) -> None:
        """Run the last invoke's after-invoke step now if it still waits: its meter
        reading and lines come before anything that follows (the next event, a freeze,
        the end of the environment)."""
        step = self.after_answer
        if step is None:
            return
        self.after_answer = None
        try:
            step()
        except Exception:
            # The step is the platform's bookkeeping: the environment and the next
            # event go on (the answer went out already).
            log.exception(
                "after-invoke step of environment %s of %s failed", self.slot.env_id, self.cfg.name
            )

    def settle_readings(self) -> None:
        """Before a next event while the last invoke's step still waits: only what must
        come first (its lines drained, its memory read); :meth:`settle`, once the event is
        on its way, does the rest."""
        step = self.after_answer
        if step is None:
            return
        try:
            step.read()
        except Exception:
            log.exception(
                "reading after the invoke on environment %s of %s failed",
                self.slot.env_id,
                self.cfg.name,
            )

    # -- output capture ---------------------------------------------------------------
    def attach_output(self, read_fd: int, extensions_fd: int | None = None) -> None:
        """Read the runtime's stdout/stderr from ``read_fd`` (and the external extensions'
        output from ``extensions_fd``) without blocking the loop."""
        self._output.attach(read_fd)
        if extensions_fd is not None:
            self._extensions_output = OutputPipe(self._extension_line)
            self._extensions_output.attach(extensions_fd)

    def drain_output(self) -> None:
        """Move everything the runtime and extensions have written so far into the log
        stream."""
        self._output.drain_written()
        extensions = self._extensions_output
        if extensions is not None:
            extensions.drain_written()

    def flush_partial(self) -> None:
        self._output.flush_partial()
        if self._extensions_output is not None:
            self._extensions_output.flush_partial()

    def log(self, message: str, now_ms: int | None = None, *, tail: bool = True) -> None:
        """Append ``message`` to the log stream (and the invoke's tail, unless ``tail`` is
        False: INIT_START is the stream's, not the invoke's)."""
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        self.logs.append(self._log_folder, self.log_stream, ts, message)
        kept = self.tail if tail else None
        if kept is not None:
            kept.append(message)
            if len(kept) > 2 * TAIL_BYTES:  # more lines than a 4 KiB tail can show
                del kept[:-TAIL_BYTES]

    def log_platform(
        self, text: str | None, event_type: str, record: dict[str, object], *, tail: bool = True
    ) -> None:
        """A system record in the function's log format: the ``text`` line (None: the Text
        format has none), or the JSON record if its level passes SystemLogLevel."""
        line = self.platform_line(text, event_type, record)
        if line is not None:
            self.log(line, tail=tail)

    def platform_line(
        self, text: str | None, event_type: str, record: dict[str, object]
    ) -> str | None:
        """What :meth:`log_platform` would write (None: nothing)."""
        if self.cfg.log_format != "JSON":
            return text
        if levels.system_level(event_type, record) < self._system_floor:
            return None
        return platform_json(event_type, record)

    def _output_line(self, message: str, now_ms: int | None = None) -> None:
        """A line the runtime wrote: to the log stream unless ApplicationLogLevel filters
        it out (the JSON format only); Telemetry API subscribers get every line."""
        floor = self._app_floor
        # Text format: no test at all; JSON: a plain line costs a one-character test.
        if floor == levels.EVERYTHING or levels.line_level(message) >= floor:
            self.log(message, now_ms)
        telemetry = self.channel.telemetry
        if telemetry.active:
            telemetry.emit("function", "function", message)

    def _extension_line(self, message: str, now_ms: int | None = None) -> None:
        """A line an external extension wrote."""
        self.log(message, now_ms)
        telemetry = self.channel.telemetry
        if telemetry.active:
            telemetry.emit("extension", "extension", message)

    def tail_bytes(self) -> bytes:
        if not self.tail:
            return b""
        text = "\n".join(self.tail).encode("utf-8", "replace") + b"\n"
        return text[-TAIL_BYTES:]

    def detach_output(self) -> None:
        self._output.detach()
        if self._extensions_output is not None:
            self._extensions_output.detach()

    # -- readings -----------------------------------------------------------------------
    def max_memory_mb(self) -> int:
        """Max Memory Used (0 when it cannot be read)."""
        if self.process is None:
            return 0
        try:
            return self.process.max_memory_used_mb()
        except Exception:
            log.exception(
                "no memory reading for environment %s of %s", self.slot.env_id, self.cfg.name
            )
            return 0

    def oom_killed(self) -> bool:
        """Whether the environment's cgroup saw an OOM kill (False when it cannot be read)."""
        if self.process is None:
            return False
        try:
            return self.process.oom_killed()
        except Exception:
            log.exception(
                "no OOM reading for environment %s of %s", self.slot.env_id, self.cfg.name
            )
            return False

    # -- lifecycle --------------------------------------------------------------------
    async def thaw(self) -> None:
        freezing, self.freezing = self.freezing, None
        if freezing is not None:
            if not freezing.done():
                # A freeze still settling: every thread of the environment has to run to
                # stop, which takes tens of ms when the host's CPUs are busy. The event
                # must not wait for FROZEN only to thaw: stop the freeze, thaw now. (Only
                # here: asyncio.wait costs a loop iteration even for a finished task.)
                freezing.cancel()
                await asyncio.wait([freezing])
            if not freezing.cancelled() and freezing.exception() is not None:
                log.error(
                    "freezing environment %s of %s failed",
                    self.slot.env_id,
                    self.cfg.name,
                    exc_info=freezing.exception(),
                )
        if self.frozen and self.process is not None:
            await self.process.thaw()
        self.frozen = False

    async def _shut_down(self) -> bool:
        """Lambda's SHUTDOWN phase, at most :func:`shutdown_grace_s` long: SHUTDOWN to the
        extensions that asked for it, then SIGTERM to an idle runtime, then the kill once
        the runtime has exited and every extension has exited or waits on ``next`` (or the
        grace is over). False if there was nothing to shut down (the channel may then close
        before the kill).

        Lambda signals the runtime first; here the runtime is signalled once the extensions
        are done, or when only its own share of the grace is left (an extension still at
        work then keeps the rest: the extension launcher outlives the runtime in SHUTDOWN)."""
        if self.process is None or (self.exited is not None and self.exited.done()):
            return False  # the process tree is gone already
        exts = self.channel.extensions
        targets = exts.wants("SHUTDOWN")
        # A runtime busy with an event (a timeout's reset) is killed at once, as before:
        # its event has ended already and a SIGTERM now would end it a second time.
        exited = self.exited if self.inflight is None else None
        if not targets and exited is None:
            return False
        grace_s = shutdown_grace_s(len(exts))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace_s
        if self.frozen:
            await self.process.thaw()
            self.frozen = False
        if targets:
            # What the extensions subscribed to reaches them before SHUTDOWN does.
            self.drain_output()
            if exited is not None:
                # Lambda shuts an environment down only while its runtime waits on /next;
                # here the pool may pick one between the runtime's answer and that /next.
                # A moment for it to ask lets runtimeDone carry its runtimeOverhead span.
                await self.channel.wait_next(min(NEXT_BEFORE_SHUTDOWN_S, grace_s / 4))
            self.channel.settle_next()
            await self.channel.telemetry.flush(grace_s / 4)
            exts.shutdown(self.shutdown_reason, max(0.0, deadline - loop.time()))
            runtime_share = RUNTIME_SHUTDOWN_GRACE_S if exited is not None else 0.0
            try:
                await asyncio.wait_for(
                    exts.settled(), max(0.0, deadline - runtime_share - loop.time())
                )
            except TimeoutError:
                log.info("extensions of %s still busy after SHUTDOWN's grace", self.cfg.name)
        if exited is not None and not exited.done() and self.process.terminate():
            # With extensions the environment outlives its runtime in SHUTDOWN: those still
            # at work keep the rest of the grace, as on Lambda; once each has exited or
            # waits on `next`, the kill need not wait for the end of the grace.
            done = loop.create_task(self._runtime_then_extensions()) if len(exts) else None
            waiters: list[asyncio.Future[Any]] = [exited] if done is None else [exited, done]
            await asyncio.wait(
                waiters,
                timeout=max(0.0, deadline - loop.time()),
                return_when=asyncio.FIRST_COMPLETED,
            )
            if done is not None:
                done.cancel()
            if not exited.done() and not self.channel.runtime_gone.done():
                log.info("the runtime of %s ignored SIGTERM; killing it", self.cfg.name)
        return True

    async def _runtime_then_extensions(self) -> None:
        await self.channel.runtime_gone
        await self.channel.extensions.settled()

    def invoke_phase_over(self) -> bool:
        """Whether no answered invoke waits for its extensions (:attr:`reporting`)."""
        return self.reporting is None or self.reporting.done()

    async def end_invoke_phase(self) -> None:
        """Wait until the last invoke's phase is over: an answered invoke whose extensions
        still work on it ends (END, REPORT, platform.report) once they all asked for their
        next event, at most the function's timeout later (:meth:`settle_extensions`)."""
        reporting = self.reporting
        if reporting is not None and not reporting.done():
            await asyncio.wait([reporting])

    async def settle_extensions(self) -> None:
        """Wait until every extension finished with the last event (at most the function's
        timeout): the environment is frozen, or given an event, only then."""
        exts = self.channel.extensions
        if exts.all_settled():
            return
        try:
            await asyncio.wait_for(exts.settled(), float(self.cfg.timeout_s))
        except TimeoutError:
            log.warning("an extension of %s did not ask for its next event", self.cfg.name)

    async def invoke_phase_ends(self) -> None:
        """Wait for the end of an answered invoke's phase: every extension finished with
        it (:meth:`settle_extensions`), or the platform ended it (:meth:`cut_invoke_phase`)."""
        if self.channel.extensions.all_settled():
            return
        if self._phase_cut is None:
            self._phase_cut = asyncio.get_running_loop().create_future()
        settling = asyncio.ensure_future(self.settle_extensions())
        try:
            await asyncio.wait((settling, self._phase_cut), return_when=asyncio.FIRST_COMPLETED)
        finally:
            settling.cancel()

    def cut_invoke_phase(self) -> None:
        """End the invoke phase now: a server that stops does not wait for an extension's
        work on the answered invoke. Its END and REPORT follow at once, as of now; the
        extensions keep working into SHUTDOWN and its grace, then the kill (:meth:`destroy`)."""
        if self._phase_cut is None:
            self._phase_cut = asyncio.get_running_loop().create_future()
        if not self._phase_cut.done():
            self._phase_cut.set_result(None)

    def close_network(self) -> None:
        if self.network is not None:
            self.network.close()
            self.network = None

    async def destroy(self) -> None:
        """Kill the process tree and release every resource; safe to call twice."""
        self.settle()
        if self.freezing is not None and not self.freezing.done():
            # A freeze still settling must not race the kill (it would re-freeze the tree).
            self.freezing.cancel()
            await asyncio.wait([self.freezing])
        shut_down = await self._shut_down()
        if not shut_down:
            self.channel.close()
        if self.process is not None:
            try:
                await self.process.kill()
            except Exception:
                # The environment is gone from the pool either way; say what was left.
                log.exception(
                    "could not kill environment %s of %s", self.slot.env_id, self.cfg.name
                )
        if shut_down:
            # Closed after the kill: the runtime, thawed for SHUTDOWN, would otherwise see
            # its parked /next drop and log that the Runtime API went away.
            self.channel.close()
        self.close_network()
        self.drain_output()
        self.flush_partial()
        self.detach_output()
        done, self.on_destroyed = self.on_destroyed, None
        if done is not None:
            done()
