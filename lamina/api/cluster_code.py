"""``GET /lamina/v1/cluster/code/{Sha256}``: a stored package or layer archive, streamed.

Node agents on other machines fetch the code they run here, by the hex SHA-256 the code
store names it with (function packages and layer archives share the store, so one route
serves both; :mod:`lamina.cluster.codesource` is the client). The request is signed like
every ``/lamina/v1`` call — an agent holds one of the control plane's access keys — and a
function's own role credentials are refused by IAM unless a policy grants
``lambda:LaminaGetClusterCode``.

The file is opened before the answer starts (an unknown digest is a plain 404
``ResourceNotFoundException``), then sent in chunks as the client reads them: the
transport's write buffer bounds the memory a slow agent costs, whatever the package size.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Coroutine
from typing import Any, BinaryIO

from lamina.errors import ResourceNotFound
from lamina.store.code import CodeStore
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, Streamed

__all__ = ["CHUNK", "OPERATION", "serve_code"]

OPERATION = "LaminaGetClusterCode"
CHUNK = 1024 * 1024
_SHA = re.compile(r"^[0-9a-f]{64}$")


def serve_code(
    store: CodeStore, req: Request, params: dict[str, str], conn: HttpConnection
) -> Coroutine[Any, Any, Response]:
    """Answer one fetch; raises ResourceNotFound (answered by the API's error boundary)."""
    sha = params["Sha256"]
    if not _SHA.match(sha):
        raise ResourceNotFound(f"Code package not found: {sha}")
    try:
        # Opened now: a package collected while it is being sent stays readable.
        source = store.zip_path(sha).open("rb")
    except FileNotFoundError:
        raise ResourceNotFound(f"Code package not found: {sha}") from None
    return _send(source, conn)


async def _send(source: BinaryIO, conn: HttpConnection) -> Response:
    with source:
        conn.start_stream(200, [("Content-Type", "application/zip")])
        while not conn.closed and (chunk := await asyncio.to_thread(source.read, CHUNK)):
            conn.write_chunk(chunk)
            await conn.drain()
    return Streamed()
