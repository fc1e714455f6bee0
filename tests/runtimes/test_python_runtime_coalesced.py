"""Lamina's Python runtime against the real Runtime API: the ``202`` to each answer reaches
the runtime in the same server write as its next event (its ``GET /next`` is pipelined
behind the answer), and every answer still arrives whole and in order."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from lamina.runtime_api.channel import Delivery, RuntimeChannel
from lamina.wire.http import Request
from lamina.wire.server import HandlerResult, HttpConnection
from tests.runtimes.fake_runtime_api import lambda_environment, run_runtime
from tests.runtimes.test_python_runtime import command, write

ECHO = "def handler(event, context):\n    return {'id': context.aws_request_id, 'got': event}\n"
WAIT_S = 30.0  # a safety net against hangs, not a timing assertion


class WriteCounter(RuntimeChannel):
    """Records every write the Runtime API makes to the runtime."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self._wrapped: set[int] = set()

    def handle(self, req: Request, conn: HttpConnection) -> HandlerResult:
        if id(conn) not in self._wrapped:
            self._wrapped.add(id(conn))
            transport: Any = conn._transport
            write = transport.write

            def counting(data: bytes) -> None:
                self.writes.append(bytes(data))
                write(data)

            transport.write = counting
        return super().handle(req, conn)


def delivery(loop: asyncio.AbstractEventLoop, request_id: str, n: int) -> Delivery:
    return Delivery(
        request_id=request_id,
        payload=json.dumps({"n": n}).encode(),
        deadline_ms=int((time.time() + 60) * 1000),
        function_arn="arn:aws:lambda:us-east-1:000000000000:function:fn",
        trace_id="Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1",
        answer=loop.create_future(),
    )


def test_each_202_goes_out_with_the_next_event_in_one_write(tmp_path: Path) -> None:
    task = write(tmp_path / "task", {"app.py": ECHO})

    async def main() -> None:
        loop = asyncio.get_running_loop()
        channel = WriteCounter()
        await channel.start()
        env = lambda_environment(channel, task, "app.handler")  # type: ignore[arg-type]
        try:
            with run_runtime(command().argv, env, task, tmp_path / "logs") as rt:
                await asyncio.wait_for(asyncio.shield(channel.ready), WAIT_S)
                for n in range(5):
                    d = delivery(loop, f"req-{n}", n)
                    channel.deliver(d)
                    answer = await asyncio.wait_for(d.answer, WAIT_S)
                    assert answer.ok, rt.stderr()
                    assert json.loads(answer.body) == {"id": f"req-{n}", "got": {"n": n}}
                    for _ in range(int(WAIT_S * 1000)):  # its pipelined /next, parked
                        if channel._parked is not None:
                            break
                        await asyncio.sleep(0.001)
                writes = channel.writes
                assert len(writes) == 5, [w[:40] for w in writes]
                assert writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
                for n, data in enumerate(writes[1:], start=1):
                    ack, sep, event = data.partition(b'{"status":"OK"}')
                    assert sep and ack.startswith(b"HTTP/1.1 202 Accepted\r\n")
                    assert event.startswith(b"HTTP/1.1 200 OK\r\n")
                    assert b"Lambda-Runtime-Aws-Request-Id: req-%d\r\n" % n in event
                assert "refused" not in rt.stderr()
        finally:
            channel.close()

    asyncio.run(main())
