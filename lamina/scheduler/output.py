"""A runtime's stdout/stderr pipe, read without blocking the event loop, as log lines.

A function may print faster than Lamina can store: each wake-up reads at most
:data:`MAX_DRAIN_BYTES` and returns to the loop, so the pipe fills and the function's own
``write`` blocks until Lamina catches up - back-pressure, as a full pipe gives any
program - instead of the server reading a flood into memory in one go.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import time
from collections.abc import Callable

# A runaway line without a newline is cut here rather than held in memory.
MAX_LINE_BYTES = 256 * 1024
# Read per wake-up: many pipe-fulls (64 KiB each), so a drain after an invocation still
# empties the pipe in one call, yet bounded whatever the writer does.
MAX_DRAIN_BYTES = 1024 * 1024

LineSink = Callable[[str, int], None]  # (message, epoch ms)


class OutputPipe:
    """The read end of a runtime's output pipe; every complete line goes to ``sink``."""

    __slots__ = ("_fd", "_partial", "_poll", "_sink")

    def __init__(self, sink: LineSink) -> None:
        self._sink = sink
        self._fd = -1
        self._partial = b""
        self._poll: select.poll | None = None  # the pipe alone, for drain_written

    def attach(self, read_fd: int) -> None:
        os.set_blocking(read_fd, False)
        self._fd = read_fd
        self._poll = select.poll()
        self._poll.register(read_fd, select.POLLIN)
        asyncio.get_running_loop().add_reader(read_fd, self.drain)

    def drain(self) -> None:
        """Move everything written so far into the sink (the last partial line waits)."""
        fd = self._fd
        if fd < 0:
            return
        chunks = []
        budget = MAX_DRAIN_BYTES
        while budget > 0:
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.detach()
                break
            chunks.append(data)
            budget -= len(data)
        if not chunks:
            return
        data = self._partial + b"".join(chunks)
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > MAX_LINE_BYTES:
            lines.append(self._partial)
            self._partial = b""
        now_ms = int(time.time() * 1000)
        for raw in lines:
            self._sink(raw.decode("utf-8", "replace"), now_ms)

    def drain_written(self) -> None:
        """:meth:`drain` if the pipe holds anything: the after-invoke step's check.

        A ``poll`` of the pipe alone, not waiting, is one system call with no exception,
        where a read of an empty pipe costs a ``BlockingIOError`` - several µs on every
        warm invoke, whose runtime has usually written nothing (and ``ioctl(FIONREAD)``,
        the previous check, twice the Python overhead of this one). Only readable data
        counts: end-of-file alone (``POLLHUP``) is left to the loop's own reader, which
        sees and handles it.
        """
        poll = self._poll
        if poll is None or self._fd < 0:
            return
        ready = poll.poll(0)
        if ready and ready[0][1] & select.POLLIN:
            self.drain()

    def flush_partial(self) -> None:
        if self._partial:
            self._sink(self._partial.decode("utf-8", "replace"), int(time.time() * 1000))
            self._partial = b""

    def detach(self) -> None:
        self._poll = None
        if self._fd >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._fd)
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
