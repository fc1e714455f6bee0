"""Streaming at the wire: request bodies handed over as they arrive, chunked answers
written as they are produced, and the bounded buffer between the two."""

from __future__ import annotations

import asyncio
import socket

import pytest

from lamina.runtime_api.stream import ResponseStream, split_prelude
from lamina.wire.http import Request, RequestParser
from lamina.wire.server import HttpConnection, Response, Streamed, bound_port, serve


class Sink:
    def __init__(self) -> None:
        self.pieces: list[bytes] = []
        self.trailers: dict[str, str] | None = None
        self.aborted = False

    def data(self, chunk: bytes) -> None:
        self.pieces.append(chunk)

    def end(self, trailers: dict[str, str]) -> None:
        self.trailers = trailers

    def abort(self) -> None:
        self.aborted = True


HEAD = b"POST /s HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_a_streamed_body_comes_out_at_its_head_and_flows_to_the_sink() -> None:
    sink = Sink()
    parser = RequestParser(16, lambda req: sink if req.path == "/s" else None)
    (req,) = parser.feed(HEAD)
    assert req.streamed and sink.pieces == []
    # A chunk's first part is passed on before the rest of it has come.
    assert parser.feed(b"a\r\n01234") == []
    assert b"".join(sink.pieces) == b"01234"
    parser.feed(b"56789\r\n")
    assert b"".join(sink.pieces) == b"0123456789"
    # No size limit at the parser for a streamed body (the sink bounds what it keeps).
    parser.feed(b"14\r\n" + b"x" * 20 + b"\r\n")
    assert sink.trailers is None
    rest = parser.feed(
        b"0\r\nLambda-Runtime-Function-Error-Type: Boom\r\n\r\nGET /next HTTP/1.1\r\n\r\n"
    )
    assert sink.trailers == {"lambda-runtime-function-error-type": "Boom"}
    assert [r.path for r in rest] == ["/next"]  # the next request on the connection


def test_a_streamed_body_byte_by_byte_keeps_every_byte() -> None:
    sink = Sink()
    parser = RequestParser(16, lambda req: sink)
    raw = HEAD + b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n"
    out: list[Request] = []
    for i in range(len(raw)):
        out += parser.feed(raw[i : i + 1])
    assert len(out) == 1 and b"".join(sink.pieces) == b"abcde" and sink.trailers == {}


def test_losing_the_connection_mid_stream_aborts_the_sink() -> None:
    sink = Sink()
    parser = RequestParser(16, lambda req: sink)
    parser.feed(HEAD + b"3\r\nabc\r\n")
    parser.abort()
    assert sink.aborted


def test_buffered_chunked_requests_keep_their_trailers() -> None:
    parser = RequestParser(64)
    (req,) = parser.feed(HEAD + b"2\r\nok\r\n0\r\nX-Done: yes\r\n\r\n")
    assert (req.body, req.trailers, req.streamed) == (b"ok", {"x-done": "yes"}, False)


def test_a_response_stream_is_bounded_and_holds_the_writer_back() -> None:
    asyncio.run(_a_response_stream_is_bounded_and_holds_the_writer_back())


async def _a_response_stream_is_bounded_and_holds_the_writer_back() -> None:
    calls: list[str] = []
    stream = ResponseStream(limit=100, high_water=10)
    stream.start("text/plain", lambda: calls.append("pause"), lambda: calls.append("resume"))
    stream.push(b"12345")
    assert calls == []
    stream.push(b"678901")  # 11 bytes waiting: over the high-water mark
    assert calls == ["pause"]
    assert await stream.read() == b"12345678901"
    assert calls == ["pause", "resume"]
    stream.push(b"x" * 90)  # 101 in all: over the limit, the stream is cut
    assert stream.too_large and stream.ended
    assert await stream.read() is None
    assert stream.total == 101


def test_a_reader_waits_for_the_next_piece_and_sees_the_end() -> None:
    asyncio.run(_a_reader_waits_for_the_next_piece_and_sees_the_end())


async def _a_reader_waits_for_the_next_piece_and_sees_the_end() -> None:
    stream = ResponseStream(limit=100)
    reader = asyncio.ensure_future(stream.read())
    await asyncio.sleep(0)
    assert not reader.done()
    stream.push(b"a")
    assert await reader == b"a"
    stream.close()
    assert await stream.read() is None


def test_the_http_integration_prelude_splits_at_eight_nuls() -> None:
    assert split_prelude(b'{"statusCode":201}\0\0\0\0') is None
    assert split_prelude(b'{"statusCode":201}' + b"\0" * 8 + b"body") == (
        b'{"statusCode":201}',
        b"body",
    )


def test_a_chunked_answer_reaches_the_client_piece_by_piece() -> None:
    asyncio.run(_a_chunked_answer_reaches_the_client_piece_by_piece())


async def _a_chunked_answer_reaches_the_client_piece_by_piece() -> None:
    gate = asyncio.Event()

    async def streamed(conn: HttpConnection) -> Response:
        conn.start_stream(200, [("Content-Type", "text/plain")])
        conn.write_chunk(b"first")
        await conn.drain()
        await gate.wait()
        conn.write_chunk(b"second")
        return Streamed(trailers=[("X-End", "1")])

    def handler(req: Request, conn: HttpConnection) -> object:
        return streamed(conn) if req.path == "/s" else Response(200, b"plain")

    server = await serve(handler, "127.0.0.1", 0, max_body=1024)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    try:
        sock = socket.create_connection(("127.0.0.1", bound_port(server)))
        sock.setblocking(False)
        await loop.sock_sendall(sock, b"GET /s HTTP/1.1\r\n\r\nGET /p HTTP/1.1\r\n\r\n")
        got = b""
        while b"first\r\n" not in got:
            got += await loop.sock_recv(sock, 4096)
        assert got.startswith(b"HTTP/1.1 200 OK\r\n")
        assert b"Transfer-Encoding: chunked\r\n" in got and b"5\r\nfirst\r\n" in got
        assert b"second" not in got  # the handler has not written it yet
        gate.set()
        while not got.endswith(b"\r\n\r\nplain"):
            got += await loop.sock_recv(sock, 4096)
        # The stream ends with its trailers, then the pipelined request is answered.
        assert b"6\r\nsecond\r\n0\r\nX-End: 1\r\n\r\nHTTP/1.1 200 OK" in got
        sock.close()
    finally:
        server.close()


def test_the_prelude_gives_status_headers_and_cookies() -> None:
    from lamina.events.http.streaming import prelude_head

    assert prelude_head(b'{"statusCode":201,"headers":{"X-A":"1"},"cookies":["a=1","b=2"]}') == (
        201,
        [
            ("X-A", "1"),
            ("content-type", "application/octet-stream"),
            ("set-cookie", "a=1"),
            ("set-cookie", "b=2"),
        ],
    )
    assert prelude_head(b"") == (200, [("content-type", "application/octet-stream")])
    assert prelude_head(b'{"statusCode":99}') is None
    assert prelude_head(b"[1]") is None
    assert prelude_head(b"not json") is None


def test_a_streamed_answer_waits_for_a_slow_reader() -> None:
    asyncio.run(_a_streamed_answer_waits_for_a_slow_reader())


async def _a_streamed_answer_waits_for_a_slow_reader() -> None:
    piece = b"x" * (256 * 1024)
    total = 100  # 25 MiB: more than the socket buffers hold
    written = 0
    paused = asyncio.Event()

    async def streamed(conn: HttpConnection) -> Response:
        nonlocal written
        conn.start_stream(200, [])
        for _ in range(total):
            conn.write_chunk(piece)
            written += 1
            if conn._writable is not None:  # over the transport's high-water mark
                paused.set()
            await conn.drain()
        return Streamed()

    def handler(req: Request, conn: HttpConnection) -> object:
        return streamed(conn)

    server = await serve(handler, "127.0.0.1", 0, max_body=1024)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    try:
        sock = socket.create_connection(("127.0.0.1", bound_port(server)))
        sock.setblocking(False)
        await loop.sock_sendall(sock, b"GET /s HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(paused.wait(), 30)
        await asyncio.sleep(0.05)
        assert written < total  # the writer waits instead of buffering everything
        got = 0
        while True:
            data = await loop.sock_recv(sock, 1 << 20)
            got += len(data)
            if data.endswith(b"0\r\n\r\n"):
                break
        assert written == total and got > total * len(piece)
        sock.close()
    finally:
        server.close()


def test_after_6_mb_a_stream_is_held_to_its_bandwidth() -> None:
    from lamina.runtime_api.stream import UNCAPPED_BYTES, cap_delay

    mb = 1024 * 1024
    assert cap_delay(5 * mb, 0.0, 2 * mb) == 0.0  # the first 6 MB are not capped
    assert cap_delay(UNCAPPED_BYTES + 2 * mb, 0.5, 2 * mb) == 0.5  # 2 MB take 1 s at 2 MB/s
    assert cap_delay(UNCAPPED_BYTES + 2 * mb, 3.0, 2 * mb) == 0.0  # already slow enough
    assert cap_delay(UNCAPPED_BYTES * 10, 0.0, 0) == 0.0  # 0: no cap


def test_a_stream_holds_its_reader_back_only_after_6_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bandwidth cap as the reader meets it: no wait while the first 6 MB go, then
    waits that hold what went after them to the bandwidth. The stream's sleeps are
    recorded, not slept, so nothing here depends on the machine's speed."""
    mb = 1024 * 1024
    waits: list[tuple[int, float]] = []  # (bytes the function had streamed, seconds)

    async def scenario() -> None:
        real_sleep = asyncio.sleep
        stream = ResponseStream(limit=20 * mb, high_water=20 * mb, bandwidth=1024)

        async def record(delay: float) -> None:
            waits.append((stream.total, delay))
            await real_sleep(0)

        monkeypatch.setattr(asyncio, "sleep", record)  # what the stream sleeps with
        try:
            stream.start("application/octet-stream")
            for _ in range(6):  # the first 6 MB, 1 MB at a time
                stream.push(b"x" * mb)
                assert len(await stream.read() or b"") == mb
            assert waits == []
            for _ in range(3):  # then 1 MB more each time, at 1 KiB/s
                stream.push(b"x" * mb)
                assert len(await stream.read() or b"") == mb
        finally:
            monkeypatch.setattr(asyncio, "sleep", real_sleep)

    asyncio.run(scenario())
    # The first read past 6 MB goes at once (nothing capped had gone before it); each
    # later one waits until what went since 6 MB took its time at 1 KiB/s: 1 MB (1,024 s),
    # then 2 MB less the real time since (microseconds; 30 s of slack for a slow machine).
    assert [streamed for streamed, _ in waits] == [8 * mb, 9 * mb]
    assert 1024 - 30 < waits[0][1] <= 1024
    assert 2048 - 30 < waits[1][1] <= 2048
