"""Shared pieces of the event-source tests: a scriptable function and waiting helpers."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import TooManyRequests
from lamina.models.invocation import InvokeResult
from lamina.triggers import TRIGGER


@dataclass
class Call:
    function: str
    qualifier: str | None
    payload: bytes
    request_id: str
    at: float
    trigger: str = "other"  # lamina.triggers.TRIGGER when it was invoked

    def json(self) -> Any:
        return json.loads(self.payload)


@dataclass
class ScriptedFunction:
    """Stands in for the scheduler at the :data:`Invoke` seam; real code runs in integration.

    ``behaviour(call) -> "ok" | "error" | "throttle" | bytes`` decides each answer.
    """

    behaviour: Callable[[Call], object] = lambda call: "ok"
    calls: list[Call] = field(default_factory=list)

    async def __call__(
        self, function: str, qualifier: str | None, payload: bytes, request_id: str
    ) -> InvokeResult:
        call = Call(function, qualifier, payload, request_id, time.time(), TRIGGER.get())
        self.calls.append(call)
        what = self.behaviour(call)
        if what == "throttle":
            raise TooManyRequests("Rate Exceeded.", "ConcurrentInvocationLimitExceeded")
        if what == "error":
            body = b'{"errorMessage":"boom","errorType":"Boom"}'
            return InvokeResult(request_id, body, "$LATEST", "Unhandled", b"", None)
        body = what if isinstance(what, bytes) else b'{"ok":true}'
        return InvokeResult(request_id, body, "$LATEST", None, b"", None)

    def for_function(self, name: str) -> list[Call]:
        return [c for c in self.calls if c.function == name]


async def wait_for(
    predicate: Callable[[], bool] | Callable[[], Awaitable[bool]], limit_s: float = 10.0
) -> None:
    """Poll ``predicate`` until true; fail the test after ``limit_s`` seconds."""
    deadline = time.monotonic() + limit_s
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
