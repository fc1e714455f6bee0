"""Held answers (``HttpConnection.send(hold=True)``), over real loopback sockets: an answer
is held only while the client's next request is already there, and then leaves in the
same write as the next answer; it never waits on its own."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.wire.http import Request, Response
from lamina.wire.server import HandlerResult, HttpConnection, bound_port, serve


class Recorder:
    """A handler that holds its answers to ``/hold``, parks ``/park`` and answers the rest
    at once; it records every write made to the client."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.parked: HttpConnection | None = None
        self._seen: set[int] = set()

    def __call__(self, req: Request, conn: HttpConnection) -> HandlerResult:
        if id(conn) not in self._seen:
            self._seen.add(id(conn))
            transport: Any = conn._transport
            write = transport.write

            def recording(data: bytes) -> None:
                self.writes.append(bytes(data))
                write(data)

            transport.write = recording
        if req.path == "/hold":
            conn.send(Response(202, b"held"), hold=True)
            return None
        if req.path == "/park":
            self.parked = conn
            return None
        return Response(200, req.path.encode())


def run(test: Callable[[Recorder, socket.socket], Awaitable[None]]) -> None:
    async def main() -> None:
        rec = Recorder()
        server = await serve(rec, "127.0.0.1", 0, max_body=1 << 20)
        sock = socket.create_connection(("127.0.0.1", bound_port(server)))
        sock.setblocking(False)
        try:
            await asyncio.wait_for(test(rec, sock), 30)
        finally:
            sock.close()
            server.close()

    asyncio.run(main())


async def read(sock: socket.socket) -> bytes:
    return await asyncio.wait_for(asyncio.get_running_loop().sock_recv(sock, 1 << 16), 10)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


def test_an_answer_held_with_nothing_behind_it_is_sent_at_once() -> None:
    async def test(rec: Recorder, sock: socket.socket) -> None:
        sock.send(b"GET /hold HTTP/1.1\r\n\r\n")
        assert (await read(sock)).endswith(b"\r\n\r\nheld")

    run(test)


def test_a_held_answer_goes_out_with_the_next_answer_in_one_write() -> None:
    async def test(rec: Recorder, sock: socket.socket) -> None:
        sock.send(b"GET /hold HTTP/1.1\r\n\r\nGET /next HTTP/1.1\r\n\r\n")
        data = await read(sock)
        while not data.endswith(b"/next"):
            data += await read(sock)
        assert data.startswith(b"HTTP/1.1 202 Accepted\r\n")
        assert b"held" in data
        assert len(rec.writes) == 1

    run(test)


def test_a_held_answer_waits_for_a_parked_request_then_flush_or_close_sends_it() -> None:
    async def test(rec: Recorder, sock: socket.socket) -> None:
        sock.send(b"GET /hold HTTP/1.1\r\n\r\nGET /park HTTP/1.1\r\n\r\n")
        await settle()
        conn = rec.parked
        assert conn is not None and conn.holding
        assert rec.writes == []
        conn.send(Response(200, b"unparked"))  # the parked request's answer: both at once
        data = await read(sock)
        assert data.startswith(b"HTTP/1.1 202 Accepted\r\n") and data.endswith(b"unparked")
        assert len(rec.writes) == 1 and not conn.holding
        # Held again behind a new parked request: flush() sends it alone.
        sock.send(b"GET /hold HTTP/1.1\r\n\r\nGET /park HTTP/1.1\r\n\r\n")
        await settle()
        assert conn.holding
        conn.flush()
        assert (await read(sock)).endswith(b"\r\n\r\nheld")
        # ... and close() sends it before closing.
        conn.send(Response(200, b"unparked"))
        await read(sock)
        sock.send(b"GET /hold HTTP/1.1\r\n\r\nGET /park HTTP/1.1\r\n\r\n")
        await settle()
        assert conn.holding
        conn.close()
        got = b""
        while chunk := await read(sock):
            got += chunk
        assert got.endswith(b"\r\n\r\nheld")

    run(test)


def test_a_held_answer_to_a_closing_request_is_not_held() -> None:
    async def test(rec: Recorder, sock: socket.socket) -> None:
        sock.send(b"GET /hold HTTP/1.1\r\nConnection: close\r\n\r\nGET /park HTTP/1.1\r\n\r\n")
        got = b""
        while chunk := await read(sock):
            got += chunk
        assert b"Connection: close" in got and got.endswith(b"held")
        assert rec.parked is None

    run(test)
