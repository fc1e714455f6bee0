"""One live execution environment: its process, its Runtime API channel, its log stream."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.runtime_api.channel import RuntimeChannel
from lamina.sandbox import EnvironmentProcess
from lamina.scheduler.pool import EnvSlot

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
    request_id: str | None = None
    tail: list[str] | None = None  # lines of the current invocation, when asked for
    _out_fd: int = -1
    _partial: bytes = b""
    _on_exit: list[Callable[[int], None]] = field(default_factory=list)

    # -- output capture ---------------------------------------------------------------
    def attach_output(self, read_fd: int) -> None:
        """Read the runtime's stdout/stderr from ``read_fd`` without blocking the loop."""
        os.set_blocking(read_fd, False)
        self._out_fd = read_fd
        asyncio.get_running_loop().add_reader(read_fd, self.drain_output)

    def drain_output(self) -> None:
        """Move everything the runtime has written so far into the log stream."""
        fd = self._out_fd
        if fd < 0:
            return
        chunks = []
        while True:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.detach_output()
                break
            chunks.append(data)
        if not chunks:
            return
        data = self._partial + b"".join(chunks)
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > 256 * 1024:  # a runaway line without newline: cut it
            lines.append(self._partial)
            self._partial = b""
        now_ms = int(time.time() * 1000)
        for raw in lines:
            self.log(raw.decode("utf-8", "replace"), now_ms)

    def flush_partial(self) -> None:
        if self._partial:
            self.log(self._partial.decode("utf-8", "replace"))
            self._partial = b""

    def log(self, message: str, now_ms: int | None = None) -> None:
        ts = int(time.time() * 1000) if now_ms is None else now_ms
        self.logs.append(self.cfg.name, self.log_stream, ts, message)
        if self.tail is not None:
            self.tail.append(message)

    def tail_bytes(self) -> bytes:
        if not self.tail:
            return b""
        text = "\n".join(self.tail).encode("utf-8", "replace") + b"\n"
        return text[-TAIL_BYTES:]

    def detach_output(self) -> None:
        if self._out_fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._out_fd)
            with contextlib.suppress(OSError):
                os.close(self._out_fd)
            self._out_fd = -1

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
        self.channel.close()
        if self.process is not None:
            with contextlib.suppress(Exception):
                await self.process.kill()
        self.drain_output()
        self.flush_partial()
        self.detach_output()
