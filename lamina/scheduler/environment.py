"""One live execution environment: its process, its Runtime API channel, its log stream."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.logs.lines import function_log_group
from lamina.logs.store import LogStore, group_folder
from lamina.models.function import FunctionConfig
from lamina.runtime_api.channel import RuntimeChannel
from lamina.sandbox import EnvironmentProcess
from lamina.scheduler.inflight import Inflight
from lamina.scheduler.output import OutputPipe
from lamina.scheduler.pool import EnvSlot

log = logging.getLogger("lamina.scheduler")

TAIL_BYTES = 4096


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
    freeze_handle: asyncio.TimerHandle | None = None
    inflight: Inflight | None = None  # the event being served
    tail: list[str] | None = None  # lines of the current invocation, when asked for
    # Called once when the environment is destroyed (a zygote counts its live children).
    on_destroyed: Callable[[], None] | None = None
    _output: OutputPipe = field(init=False)
    _log_folder: str = field(init=False)  # the log group's folder in the log store

    def __post_init__(self) -> None:
        self._output = OutputPipe(self.log)
        self._log_folder = group_folder(function_log_group(self.cfg))

    # -- output capture ---------------------------------------------------------------
    def attach_output(self, read_fd: int) -> None:
        """Read the runtime's stdout/stderr from ``read_fd`` without blocking the loop."""
        self._output.attach(read_fd)

    def drain_output(self) -> None:
        """Move everything the runtime has written so far into the log stream."""
        self._output.drain()

    def flush_partial(self) -> None:
        self._output.flush_partial()

    def log(self, message: str, now_ms: int | None = None) -> None:
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        self.logs.append(self._log_folder, self.log_stream, ts, message)
        tail = self.tail
        if tail is not None:
            tail.append(message)
            if len(tail) > 2 * TAIL_BYTES:  # more lines than a 4 KiB tail can show
                del tail[:-TAIL_BYTES]

    def tail_bytes(self) -> bytes:
        if not self.tail:
            return b""
        text = "\n".join(self.tail).encode("utf-8", "replace") + b"\n"
        return text[-TAIL_BYTES:]

    def detach_output(self) -> None:
        self._output.detach()

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
        if self.freeze_handle is not None:
            self.freeze_handle.cancel()
            self.freeze_handle = None
        if self.freezing is not None:
            await self.freezing
            self.freezing = None
        if self.frozen and self.process is not None:
            await self.process.thaw()
        self.frozen = False

    async def destroy(self) -> None:
        """Kill the process tree and release every resource; safe to call twice."""
        if self.freeze_handle is not None:
            self.freeze_handle.cancel()
            self.freeze_handle = None
        if self.freezing is not None and not self.freezing.done():
            # A freeze still settling must not race the kill (it would re-freeze the tree).
            self.freezing.cancel()
            await asyncio.wait([self.freezing])
        self.channel.close()
        if self.process is not None:
            try:
                await self.process.kill()
            except Exception:
                # The environment is gone from the pool either way; say what was left.
                log.exception(
                    "could not kill environment %s of %s", self.slot.env_id, self.cfg.name
                )
        self.drain_output()
        self.flush_partial()
        self.detach_output()
        done, self.on_destroyed = self.on_destroyed, None
        if done is not None:
            done()
