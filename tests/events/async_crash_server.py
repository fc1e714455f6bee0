"""A tiny server around the durable async-invoke queue, for the SIGKILL crash test.

    python -m tests.events.async_crash_server DATA_DIR DELIVERIES_FILE PORT_FILE

``POST /events`` with a JSON body ``{"id": ...}`` is accepted exactly as the Lambda API
accepts an ``Event`` invoke: ``await queue.enqueue(...)``, then 202. The "function"
appends the event's id to DELIVERIES_FILE (one ``O_APPEND`` write per delivery) after a
few milliseconds of work, so a SIGKILL can land before, during or after any step.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
from pathlib import Path

from lamina.events.asyncinvoke.policy import RetryTimings
from lamina.events.asyncinvoke.queue import AsyncInvokeQueue
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore
from lamina.models.invocation import InvokeResult
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, bound_port, serve


async def main(data: Path, deliveries: Path, port_file: Path) -> None:
    fd = os.open(deliveries, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    async def function(
        name: str, qualifier: str | None, payload: bytes, request_id: str
    ) -> InvokeResult:
        await asyncio.sleep(random.uniform(0.005, 0.03))
        os.write(fd, json.loads(payload)["id"].encode() + b"\n")
        return InvokeResult(request_id, b"null", "$LATEST", None, b"", None)

    store = AsyncInvokeStore(data / "async-invokes.db")
    queue = AsyncInvokeQueue(
        store,
        function,
        EventInvokeConfigs(store),
        region="us-east-1",
        account="000000000000",
        timings=RetryTimings((0.1, 0.2), 0.05, 0.5),
        workers=4,
    )

    async def accept(req: Request) -> Response:
        rid = await queue.enqueue("crash-fn", None, req.body)
        return Response(202, b"", {"x-amzn-RequestId": rid})

    def handle(req: Request, conn: HttpConnection) -> Response | object:
        if req.method == "POST" and req.path == "/events":
            return accept(req)
        return Response(404)

    server = await serve(handle, "127.0.0.1", 0, max_body=1 << 20)  # type: ignore[arg-type]
    queue.start()
    tmp = port_file.with_suffix(".tmp")
    tmp.write_text(str(bound_port(server)))
    tmp.rename(port_file)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
