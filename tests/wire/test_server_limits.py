"""The wire server under abuse, in process over real loopback sockets: pipelining,
slow and silent clients, clients that never read, refusals from the head."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import TypeVar

from lamina.wire.http import HttpLimits, Request, Response
from lamina.wire.server import Handler, HttpConnection, bound_port, serve

T = TypeVar("T")


def run(scenario: Callable[[], Awaitable[T]]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(scenario(), 60)

    return asyncio.run(bounded())


async def started(
    handler: Handler, limits: HttpLimits | None = None, **kw: object
) -> tuple[asyncio.Server, int]:
    server = await serve(handler, "127.0.0.1", 0, max_body=1 << 20, limits=limits, **kw)  # type: ignore[arg-type]
    return server, bound_port(server)


def echo_path(req: Request, conn: HttpConnection) -> Response:
    return Response(200, req.path.encode())


def test_ten_thousand_pipelined_requests_are_answered_in_order() -> None:
    async def scenario() -> list[bytes]:
        server, port = await started(echo_path)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"".join(b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(10_000)))
        bodies = []
        for _ in range(10_000):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            bodies.append(await reader.readexactly(length))
        writer.close()
        server.close()
        return bodies

    assert run(scenario) == [b"/%d" % i for i in range(10_000)]


def test_a_slow_head_gets_408_and_is_closed() -> None:
    async def scenario() -> bytes:
        server, port = await started(echo_path, HttpLimits(header_timeout_s=0.2))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nX-Slow: ")

        async def drip() -> None:
            for _ in range(200):  # a byte at a time, never finishing the head
                await asyncio.sleep(0.05)
                try:
                    writer.write(b"a")
                    await writer.drain()
                except ConnectionError:
                    return

        dripping = asyncio.create_task(drip())
        answer = await reader.read()
        dripping.cancel()
        server.close()
        return answer

    answer = run(scenario)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"Connection: close" in answer


def test_an_idle_keep_alive_connection_is_closed_but_a_parked_request_is_not() -> None:
    parked: list[HttpConnection] = []

    def handler(req: Request, conn: HttpConnection) -> Response | None:
        if req.path == "/park":
            parked.append(conn)
            return None
        return Response(200, b"ok")

    async def scenario() -> tuple[bytes, bytes]:
        server, port = await started(handler, HttpLimits(idle_timeout_s=0.2))
        idle_r, idle_w = await asyncio.open_connection("127.0.0.1", port)
        idle_w.write(b"GET / HTTP/1.1\r\n\r\n")
        park_r, park_w = await asyncio.open_connection("127.0.0.1", port)
        park_w.write(b"GET /park HTTP/1.1\r\n\r\n")
        idle_answer = await idle_r.read()  # served, then idle: closed by the server
        assert parked and not parked[0].closed  # owed an answer: never "idle"
        parked[0].send(Response(200, b"late"))
        late = await park_r.readuntil(b"late")
        park_w.close()
        server.close()
        return idle_answer, late

    idle_answer, late = run(scenario)
    assert idle_answer.startswith(b"HTTP/1.1 200 OK") and idle_answer.endswith(b"ok")
    assert late.startswith(b"HTTP/1.1 200 OK")


def test_a_client_that_never_reads_stops_being_read() -> None:
    handled = 0

    def big(req: Request, conn: HttpConnection) -> Response:
        nonlocal handled
        handled += 1
        return Response(200, b"x" * 256 * 1024)

    async def scenario() -> tuple[int, int]:
        server, port = await started(big)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.setblocking(False)
        request = b"GET / HTTP/1.1\r\n\r\n"
        loop = asyncio.get_running_loop()
        await loop.sock_sendall(sock, request * 2000)  # ~36 KB: fits the socket buffers
        for _ in range(20):
            await asyncio.sleep(0.05)
        seen_while_stalled = handled
        expected = len(Response(200, b"x" * 256 * 1024).render()) * 2000
        got = 0  # now read everything: every answer arrives, in full
        while got < expected:
            data = await loop.sock_recv(sock, 1 << 20)
            assert data, f"closed after {got} of {expected} bytes"
            got += len(data)
        sock.close()
        server.close()
        return seen_while_stalled, handled

    stalled, total = run(scenario)
    # Unread answers stop the server at its write buffer's mark: a handful, not 2,000.
    assert stalled < 50
    assert total == 2000


def test_a_screened_request_is_answered_at_once_and_its_body_dropped() -> None:
    def screen(req: Request) -> Response | None:
        return None if "authorization" in req.headers else Response(403, b"sign it")

    async def scenario() -> tuple[bytes, bytes]:
        server, port = await started(echo_path, screen=screen)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /x HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n" + b"z" * 1000)
        early = await reader.readuntil(b"sign it")  # before the body is even sent
        writer.write(b"z" * (1_000_000 - 1000))
        writer.write(b"GET /next HTTP/1.1\r\nAuthorization: x\r\n\r\n")
        after = await reader.readuntil(b"/next")
        writer.close()
        server.close()
        return early, after

    early, after = run(scenario)
    assert early.startswith(b"HTTP/1.1 403 Forbidden")
    assert after.startswith(b"HTTP/1.1 200 OK")


def test_oversized_heads_are_answered_431_over_the_socket() -> None:
    async def scenario() -> bytes:
        server, port = await started(echo_path, HttpLimits(max_headers=100))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\n" + b"X-A: b\r\n" * 10_000 + b"\r\n")
        answer = await reader.read()
        server.close()
        return answer

    assert run(scenario).startswith(b"HTTP/1.1 431 Request Header Fields Too Large")


def test_a_refused_client_still_sending_reads_its_answer_and_a_clean_end() -> None:
    # A 2 MB head: refused at the first read past the limit, with megabytes still on
    # their way. Closed at once, the server's socket held unread bytes and the kernel
    # answered with a reset; the client then lost its end of stream (and, racing, the
    # answer). A lingering close discards the rest and ends with a FIN.
    def client(port: int) -> tuple[bytes, bytes]:
        sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        try:
            sock.sendall(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * (2 << 20) + b"\r\n\r\n")
            answer = b""
            while b"\r\n\r\n" not in answer:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
            return answer, sock.recv(1)  # the end: b"" after a FIN, an error after a reset
        finally:
            sock.close()

    async def scenario() -> tuple[bytes, bytes]:
        server, port = await started(echo_path)
        try:
            return await asyncio.to_thread(client, port)
        finally:
            server.close()

    answer, end = run(scenario)
    assert answer.startswith(b"HTTP/1.1 431 Request Header Fields Too Large")
    assert end == b""


def test_a_stalled_body_gets_408_after_the_idle_timeout() -> None:
    async def scenario() -> bytes:
        server, port = await started(echo_path, HttpLimits(idle_timeout_s=0.2))
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /x HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + b"z" * 10)
        answer = await reader.read()  # the rest of the body never comes
        server.close()
        return answer

    assert run(scenario).startswith(b"HTTP/1.1 408 Request Timeout")


def test_a_body_trickled_below_the_minimum_rate_gets_408() -> None:
    # A byte every 20 ms keeps the connection from ever being idle; at 50 bytes/s it is
    # below the 100 bytes/s minimum, so the body timeout (0.2 s + 1 s per 100 bytes) ends it.
    async def scenario() -> bytes:
        limits = HttpLimits(idle_timeout_s=30, body_timeout_s=0.2, min_body_rate=100)
        server, port = await started(echo_path, limits)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"PUT /x HTTP/1.1\r\nContent-Length: 100000\r\n\r\n")
        answer = asyncio.ensure_future(reader.read())
        while not answer.done():
            writer.write(b"z")
            await asyncio.wait([answer], timeout=0.02)
        server.close()
        return answer.result()

    assert run(scenario).startswith(b"HTTP/1.1 408 Request Timeout")


def test_a_body_at_a_steady_rate_is_not_cut_off() -> None:
    # 64 KiB every 20 ms (0.24 s in all) is far above the minimum rate: the body outlasts the body timeout.
    async def scenario() -> bytes:
        limits = HttpLimits(idle_timeout_s=30, body_timeout_s=0.1, min_body_rate=100)
        server, port = await started(echo_path, limits)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        chunk = b"z" * 65536
        writer.write(b"PUT /x HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (len(chunk) * 12))
        for _ in range(12):
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(0.02)
        answer = await reader.readuntil(b"\r\n\r\n")
        server.close()
        return answer

    assert run(scenario).startswith(b"HTTP/1.1 200")


def test_pipelined_uploads_behind_a_slow_request_stop_being_read() -> None:
    parked: list[HttpConnection] = []

    def handler(req: Request, conn: HttpConnection) -> Response | None:
        if req.path == "/slow":
            parked.append(conn)
            return None
        return Response(200, str(len(req.body)).encode())

    async def scenario() -> tuple[int, list[bytes]]:
        server = await serve(handler, "127.0.0.1", 0, max_body=8 << 20)
        reader, writer = await asyncio.open_connection("127.0.0.1", bound_port(server))
        upload = b"PUT /up HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (2 << 20) + b"u" * (2 << 20)
        writer.write(b"GET /slow HTTP/1.1\r\n\r\n" + upload * 20)  # 40 MB behind a parked one
        for _ in range(20):
            await asyncio.sleep(0.05)
        queued = len(parked[0]._queue)
        parked[0].send(Response(200, b"done"))
        answers = [await reader.readuntil(b"done")]
        for _ in range(20):
            answers.append(await reader.readuntil(b"2097152"))
        writer.close()
        server.close()
        return queued, answers

    queued, answers = run(scenario)
    assert queued <= 2  # not 20 uploads (40 MB) held while the first request waits
    assert len(answers) == 21 and all(a.startswith(b"HTTP/1.1 200 OK") for a in answers)


def test_async_answers_come_in_order_and_a_failing_handler_gets_500() -> None:
    """Coroutine handlers answer from their own task; pipelined requests behind one are
    answered after it, in order, and a handler that raises costs its request a 500, not
    the connection."""

    async def handler(req: Request, conn: HttpConnection) -> Response:
        await asyncio.sleep(0.01 if req.path == "/slow" else 0)
        if req.path == "/boom":
            raise RuntimeError("a handler bug")
        return Response(200, req.path.encode())

    async def scenario() -> list[tuple[bytes, bytes]]:
        server, port = await started(handler)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        paths = (b"/slow", b"/boom", b"/fast", b"/slow", b"/last")
        writer.write(b"".join(b"GET %s HTTP/1.1\r\n\r\n" % p for p in paths))
        answers = []
        for _ in paths:
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            answers.append((head.split(b"\r\n")[0], await reader.readexactly(length)))
        writer.close()
        server.close()
        return answers

    answers = run(scenario)
    assert [status for status, _ in answers] == [
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 500 Internal Server Error",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
        b"HTTP/1.1 200 OK",
    ]
    assert [body for _, body in answers] == [
        b"/slow",
        b'{"message":"Internal error"}',
        b"/fast",
        b"/slow",
        b"/last",
    ]
