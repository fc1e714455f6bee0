"""Serve an event-source handler on its own loopback port in a background thread.

boto3 and the AWS CLI are blocking clients; the services are asyncio handlers. Tests run
the handler on a private event loop in a thread and talk to it over a real socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, bound_port, serve

T = TypeVar("T")
Handler = Callable[[Request, HttpConnection], Response | Coroutine[Any, Any, Response]]


class LoopThread:
    """An asyncio loop in a daemon thread; ``run(coro)`` runs a coroutine on it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        fut: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)  # type: ignore[arg-type]
        return fut.result(timeout=60)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrapper() -> T:
            return fn()

        return self.run(wrapper())

    def serve(self, handler: Handler, max_body: int = 64 << 20) -> tuple[asyncio.Server, str]:
        server = self.run(serve(handler, "127.0.0.1", 0, max_body=max_body))
        return server, f"http://127.0.0.1:{bound_port(server)}"

    def stop(self) -> None:
        async def cancel_rest() -> None:
            rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in rest:
                t.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        self.run(cancel_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
