"""Lamina's API inside each environment's network namespace on a node: a relay.

On one machine the server serves its API inside every environment's namespace (at
``127.0.0.1:<port>``, the ``AWS_ENDPOINT_URL`` functions get), because a function's
namespace reaches neither the host's loopback nor the host's own addresses. A node's
worker has no API of its own: it listens at the same place inside each namespace and
relays every connection, byte for byte, to the control plane's API, which the worker
reaches from the host's network. Requests stay signed by the function (its role's
credentials); the relay reads nothing. Not on the invoke path.
"""

from __future__ import annotations

import asyncio
import logging
import socket

from lamina.wire.endpoint import host_and_port

log = logging.getLogger("lamina.cluster")

CHUNK = 64 * 1024
CONNECT_TIMEOUT_S = 10.0


def api_address(endpoint: str) -> tuple[str, int] | None:
    """``(host, port)`` of the control plane's API endpoint (``http://host:port``), or
    None when there is none to relay to."""
    try:
        host, port, _netloc = host_and_port(endpoint)
    except ValueError:
        return None
    return host, port


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy until end of file, then pass the end on (a half-close, as the peer did)."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()  # bounded: a slow side holds the other back
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


class ApiRelay:
    """Serves the relay on a namespace's API listener (``ServeApi`` of the sandbox)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port

    async def serve(self, sock: socket.socket) -> asyncio.AbstractServer:
        return await asyncio.start_server(self._relay, sock=sock)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        except (TimeoutError, OSError) as exc:
            log.warning("relay to Lamina's API at %s:%d failed: %r", self.host, self.port, exc)
            writer.close()
            return
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()
