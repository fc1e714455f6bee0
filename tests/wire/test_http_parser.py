from __future__ import annotations

import pytest

from lamina.wire.http import (
    HttpLimits,
    HttpParseError,
    Rendered,
    Request,
    RequestParser,
    Response,
    render_response,
)


def test_parses_a_request_split_across_reads() -> None:
    parser = RequestParser(max_body=1024)
    raw = b"POST /a?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
    assert parser.feed(raw[:10]) == []
    assert parser.feed(raw[10:30]) == []
    (req,) = parser.feed(raw[30:])
    assert (req.method, req.path, req.query, req.body) == ("POST", "/a", {"x": "1"}, b"hello")
    assert req.headers["content-length"] == "5"


def test_parses_pipelined_requests_in_order() -> None:
    parser = RequestParser(max_body=1024)
    reqs = parser.feed(b"GET /1 HTTP/1.1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n")
    assert [r.path for r in reqs] == ["/1", "/2"]


def test_joins_repeated_headers_with_commas() -> None:
    (req,) = RequestParser(64).feed(b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a: 2\r\n\r\n")
    assert req.headers["x-a"] == "1,2"


def test_decodes_a_chunked_body_with_trailers() -> None:
    parser = RequestParser(max_body=1024)
    raw = (
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n"
    )
    out = []
    for i in range(len(raw)):  # byte by byte: every boundary is exercised
        out += parser.feed(raw[i : i + 1])
    assert [r.body for r in out] == [b"abcde"]


def test_marks_an_oversized_body_and_keeps_the_connection_usable() -> None:
    parser = RequestParser(max_body=4)
    reqs = parser.feed(
        b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789GET /next HTTP/1.1\r\n\r\n"
    )
    assert reqs[0].too_large and reqs[0].body == b""
    assert reqs[1].path == "/next" and not reqs[1].too_large


def test_rejects_garbage() -> None:
    with pytest.raises(HttpParseError):
        RequestParser(64).feed(b"NOT HTTP\r\n\r\n")
    with pytest.raises(HttpParseError):
        RequestParser(64).feed(b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n")


def test_keep_alive_follows_the_http_version() -> None:
    (r10,) = RequestParser(64).feed(b"GET / HTTP/1.0\r\n\r\n")
    (r11,) = RequestParser(64).feed(b"GET / HTTP/1.1\r\n\r\n")
    (closing,) = RequestParser(64).feed(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert (r10.keep_alive, r11.keep_alive, closing.keep_alive) == (False, True, False)


def test_renders_one_buffer_with_length() -> None:
    out = render_response(202, {"Content-Type": "application/json"}, b"{}")
    assert out == (
        b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
    )


def test_a_request_expecting_100_continue_is_told_to_continue_before_its_body() -> None:
    import asyncio

    from lamina.wire.server import Response, bound_port, serve

    async def scenario() -> tuple[bytes, bytes]:
        server = await serve(
            lambda req, conn: Response(200, req.body), "127.0.0.1", 0, max_body=1024
        )
        reader, writer = await asyncio.open_connection("127.0.0.1", bound_port(server))
        writer.write(b"PUT /b/k HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        writer.write(b"hello")
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"hello"), 5)
        writer.close()
        server.close()
        return interim, final

    interim, final = asyncio.run(scenario())
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    assert final.startswith(b"HTTP/1.1 200 OK") and final.endswith(b"hello")


# -- limits -----------------------------------------------------------------------------
def test_a_head_over_the_byte_limit_is_431_even_before_it_ends() -> None:
    parser = RequestParser(64, limits=HttpLimits(max_header_bytes=1024))
    with pytest.raises(HttpParseError) as info:
        parser.feed(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 2000)  # no blank line yet
    assert info.value.status == 431


def test_more_header_lines_than_the_limit_is_431() -> None:
    head = b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(11)) + b"\r\n"
    with pytest.raises(HttpParseError) as info:
        RequestParser(64, limits=HttpLimits(max_headers=10)).feed(head)
    assert info.value.status == 431
    (ok,) = RequestParser(64, limits=HttpLimits(max_headers=11)).feed(head)
    assert ok.headers["x-10"] == "1"


def test_a_request_line_over_the_limit_is_414() -> None:
    with pytest.raises(HttpParseError) as info:
        RequestParser(64, limits=HttpLimits(max_header_bytes=1024)).feed(b"GET /" + b"a" * 2000)
    assert info.value.status == 414


def test_chunk_sizes_must_be_plain_hex() -> None:
    for size in (b"-1", b"0x10", b"+5", b""):
        parser = RequestParser(64)
        with pytest.raises(HttpParseError):
            parser.feed(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n")


def test_a_huge_chunk_is_refused_as_soon_as_it_passes_the_limit_not_when_it_ends() -> None:
    parser = RequestParser(max_body=1000)
    head = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    assert parser.feed(head + b"%x\r\n" % (200 * 1024 * 1024) + b"x" * 600) == []
    (req,) = parser.feed(b"x" * 600)  # 1,200 bytes of a 200 MB chunk: over the limit
    assert req.too_large and req.body == b"" and req.path == "/a"
    for _ in range(50):  # the rest is read and dropped, never held
        assert parser.feed(b"x" * 65536) == []
    assert len(parser._buf) == 0


def test_a_chunked_body_streams_in_pieces_and_the_connection_stays_in_sync() -> None:
    parser = RequestParser(max_body=10)
    raw = (
        b"POST /big HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"
        b"POST /small HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n0\r\n\r\n"
    )
    out = []
    for i in range(0, len(raw), 3):
        out += parser.feed(raw[i : i + 3])
    assert [(r.path, r.too_large, r.body) for r in out] == [
        ("/big", True, b""),
        ("/small", False, b"abcd"),
    ]


def test_a_screened_request_comes_out_at_its_head_and_its_body_is_dropped() -> None:
    def screen(req: Request) -> Response | None:
        return Response(403, b"no") if req.path == "/secret" else None

    parser = RequestParser(max_body=1 << 30, screen=screen)
    (refused,) = parser.feed(b"PUT /secret HTTP/1.1\r\nContent-Length: 100000\r\n\r\n" + b"z" * 10)
    assert refused.answer is not None and refused.answer.status == 403
    assert refused.keep_alive and refused.body == b""
    assert parser.feed(b"z" * 99_990) == []
    (after,) = parser.feed(b"GET /open HTTP/1.1\r\n\r\n")
    assert after.path == "/open" and after.answer is None


def test_a_refused_request_that_expects_100_continue_closes_its_connection() -> None:
    parser = RequestParser(max_body=10)
    (req,) = parser.feed(b"PUT / HTTP/1.1\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
    assert req.too_large and not req.keep_alive and not parser.continue_due


def test_a_rendered_answer_is_the_bytes_render_response_makes() -> None:
    headers = {"Content-Type": "application/json"}
    fixed = Rendered(202, b'{"status":"OK"}', dict(headers))
    for close in (False, True):
        expected = render_response(202, headers, b'{"status":"OK"}', close=close)
        assert fixed.render(close=close) == expected
        assert Response(202, b'{"status":"OK"}', dict(headers)).render(close=close) == expected
    assert fixed.status == 202 and fixed.headers == headers


def _reference_render(
    status: int, headers: dict[str, str] | list[tuple[str, str]] | None, body: bytes, close: bool
) -> bytes:
    """The renderer as it was written first (lines joined), to compare with."""
    from http import HTTPStatus

    reasons = {s.value: s.phrase for s in HTTPStatus}
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Unknown')}"]
    items = headers.items() if isinstance(headers, dict) else (headers or [])
    lines += [f"{name}: {value}" for name, value in items]
    lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + body if body else head


@pytest.mark.parametrize("status", [200, 202, 204, 404, 429, 500, 599])
def test_answers_render_as_the_first_renderer_rendered_them(status: int) -> None:
    header_sets: list[dict[str, str] | list[tuple[str, str]] | None] = [
        None,
        {},
        {
            "Content-Type": "application/json",
            "x-amzn-RequestId": "r",
            "X-Amz-Executed-Version": "1",
        },
        [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"), ("X-É", "é")],
    ]
    for headers in header_sets:
        for body in (b"", b"{}", b"x" * 70_000):
            for close in (False, True):
                expected = _reference_render(status, headers, body, close)
                assert render_response(status, headers, body, close=close) == expected
