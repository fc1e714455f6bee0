"""The physical floor: a bare asyncio HTTP server that answers every request at once.

It runs in its own process, on the same event loop Lamina uses (uvloop when installed),
and does the least an HTTP/1.1 server can: find the end of the head, skip the
``Content-Length`` body, write one canned answer. Whatever the bench client measures
against it is the cost of loopback TCP, the kernel, the event loop and the client
itself — a floor no Python server on this machine can go below.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import signal
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

ANSWER_BODY = b"{}"
ANSWER = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
    + str(len(ANSWER_BODY)).encode()
    + b"\r\n\r\n"
    + ANSWER_BODY
)


class _FloorProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        buf += data
        out = b""
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            length = 0
            marker = buf.find(b"Content-Length:", 0, end)
            if marker >= 0:
                stop = buf.find(b"\r\n", marker, end + 2)
                length = int(buf[marker + 15 : stop])
            if len(buf) < end + 4 + length:
                break
            del buf[: end + 4 + length]
            out += ANSWER
        if out and self._transport is not None:
            self._transport.write(out)


def _serve(conn: Connection, use_uvloop: bool) -> None:
    if use_uvloop:
        with contextlib.suppress(ImportError):
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    async def main() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(_FloorProtocol, "127.0.0.1", 0)
        conn.send(server.sockets[0].getsockname()[1])
        stop = asyncio.Event()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        server.close()

    asyncio.run(main())


class FloorServer:
    """The bare server in a child process; a context manager yielding its port."""

    def __init__(self, use_uvloop: bool = True) -> None:
        self._use_uvloop = use_uvloop
        self._proc: BaseProcess | None = None
        self.port = 0

    def __enter__(self) -> FloorServer:
        ctx = mp.get_context("fork")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child, self._use_uvloop), daemon=True)
        self._proc.start()
        if not parent.poll(30):
            self.__exit__()
            raise RuntimeError("the floor server did not start")
        self.port = int(parent.recv())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout=10)
            if self._proc.is_alive():
                self._proc.kill()
                self._proc.join()


def spawn_exit_ms(binary: str, count: int) -> list[float]:
    """Fork/exec ``binary`` until it exits, ``count`` times: the floor of any cold start.

    The Rust ``bootstrap`` is pointed at a closed port, so it starts, fails to reach the
    Runtime API and exits: a process start and end with no Lamina and no sandbox at all.
    """
    import os
    import time

    env = {"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9", "PATH": "/usr/bin:/bin"}
    out = []
    null = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            pid = os.posix_spawn(
                binary,
                [binary],
                env,
                file_actions=[(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)],
            )
            os.waitpid(pid, 0)
            out.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(null)
    return out
