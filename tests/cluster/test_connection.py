"""The control plane's side of a node connection against peers that are not workers."""

from __future__ import annotations

import asyncio

import pytest

from lamina.cluster import connection
from lamina.cluster.connection import NodeConnection
from lamina.cluster.frames import NodeState


def test_a_silent_peer_times_out_and_its_socket_is_closed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(connection, "CONNECT_TIMEOUT_S", 0.5)

    async def scenario() -> None:
        ended = asyncio.get_running_loop().create_future()

        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            hello = await reader.read(1 << 16)  # the hello arrives; no welcome is sent
            rest = await reader.read(1 << 16)  # b"": the control plane gave up and closed
            ended.set_result((hello, rest))
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        def no_state(node: str, state: NodeState) -> None:
            raise AssertionError("no state from a peer that never welcomed")

        conn = NodeConnection("127.0.0.1", port, "t" * 64, no_state, lambda c: None)
        with pytest.raises(TimeoutError):
            await conn.open()
        hello, rest = await asyncio.wait_for(ended, 10)
        assert b'"op":"hello"' in hello and rest == b""
        assert conn.closed
        server.close()
        await server.wait_closed()

    asyncio.run(scenario())
