"""The relay a node's worker serves inside each environment's namespace (real sockets on
127.0.0.1; the namespace itself is tested on the Ray cluster)."""

from __future__ import annotations

import asyncio
import socket

from lamina.cluster.api_relay import ApiRelay, api_address


def test_the_control_planes_endpoint_is_parsed_or_refused() -> None:
    assert api_address("http://10.0.0.1:9000") == ("10.0.0.1", 9000)
    assert api_address("http://control.internal") == ("control.internal", 80)
    assert api_address("") is None
    assert api_address("https://10.0.0.1:9000") is None  # the API is plain HTTP
    assert api_address("http://10.0.0.1:port") is None


def test_a_connection_is_relayed_byte_for_byte_both_ways_with_its_half_close() -> None:
    async def scenario() -> None:
        got: list[bytes] = []

        async def upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            got.append(await reader.read())  # until the function's side half-closes
            writer.write(b"HTTP/1.1 200 OK\r\n\r\n" + got[-1][::-1])
            writer.close()

        api = await asyncio.start_server(upstream, "127.0.0.1", 0)
        port = api.sockets[0].getsockname()[1]
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        relay = await ApiRelay("127.0.0.1", port).serve(listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        body = b"GET / HTTP/1.1\r\n\r\n" + bytes(range(256)) * 1024  # 256 KiB
        writer.write(body)
        writer.write_eof()
        answer = await reader.read()
        assert got == [body]
        assert answer == b"HTTP/1.1 200 OK\r\n\r\n" + body[::-1]
        writer.close()
        relay.close()
        api.close()

    asyncio.run(scenario())


def test_an_unreachable_api_closes_the_functions_connection() -> None:
    async def scenario() -> None:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead_port = closed.getsockname()[1]
        closed.close()  # nothing listens there now
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        relay = await ApiRelay("127.0.0.1", dead_port).serve(listener)
        reader, writer = await asyncio.open_connection(*listener.getsockname())
        writer.write(b"GET / HTTP/1.1\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 15) == b""  # closed, not left hanging
        writer.close()
        relay.close()

    asyncio.run(scenario())
