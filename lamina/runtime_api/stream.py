"""A streamed function response, between the runtime's chunked POST and the caller.

The runtime posts ``/invocation/{id}/response`` with
``Lambda-Runtime-Function-Response-Mode: streaming`` and a chunked body; each chunk is
pushed here as it arrives and the caller (``InvokeWithResponseStream``, a
``RESPONSE_STREAM`` function URL) reads it as soon as it is there. Memory is bounded
twice: at most ``high_water`` bytes wait for the caller (beyond that the runtime's
connection stops being read, so TCP holds the runtime back), and a response over
``limit`` bytes in all (Lambda's 20 MB soft limit, a setting) is cut: the caller sees
the end and the invoke fails with ``Function.ResponseSizeTooLarge``.

Lambda streams the first 6 MB of a response as fast as it can and the rest at most at
2 MB/s; ``bandwidth`` (bytes a second, 0: no cap) does the same here, by making
:meth:`read` wait.

The platform :meth:`close` s the stream when the invoke ends for any reason (answer,
timeout, crash), so a reader never waits past the invoke.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Callable

from lamina.runtime_api import protocol
from lamina.runtime_api.protocol import RuntimeAnswer

HIGH_WATER = 1024 * 1024
DEFAULT_CONTENT_TYPE = "application/octet-stream"
# The content type a runtime sets when its body starts with the HTTP-integration prelude.
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
PRELUDE_END = b"\0" * 8
UNCAPPED_BYTES = 6 * 1024 * 1024  # streamed at full speed before the bandwidth cap


def cap_delay(delivered: int, since_cap_s: float, bandwidth: int) -> float:
    """Seconds to wait before handing on more, after ``delivered`` bytes in all and
    ``since_cap_s`` seconds since the first 6 MB had gone (pure; 0 with no cap)."""
    if bandwidth <= 0 or delivered <= UNCAPPED_BYTES:
        return 0.0
    return max(0.0, (delivered - UNCAPPED_BYTES) / bandwidth - since_cap_s)


class ResponseStream:
    """Bytes a function streams, buffered up to ``high_water`` for one reader."""

    __slots__ = (
        "_buffered",
        "_cap_started",
        "_chunks",
        "_delivered",
        "_ended",
        "_pause",
        "_paused",
        "_resume",
        "_waiter",
        "bandwidth",
        "content_type",
        "high_water",
        "limit",
        "started",
        "too_large",
        "total",
    )

    def __init__(self, limit: int, high_water: int = HIGH_WATER, bandwidth: int = 0) -> None:
        self.limit = limit
        self.high_water = high_water
        self.bandwidth = bandwidth
        self._delivered = 0  # bytes handed to the reader
        self._cap_started = 0.0  # monotonic time when the first 6 MB had been handed on
        # Resolved when the runtime starts streaming (a buffered answer never starts it).
        self.started: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.content_type = DEFAULT_CONTENT_TYPE
        self.total = 0  # bytes the function streamed (counted even past the limit)
        self.too_large = False
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._paused = False
        self._waiter: asyncio.Future[None] | None = None
        self._pause: Callable[[], None] | None = None
        self._resume: Callable[[], None] | None = None

    # -- the runtime's side -------------------------------------------------------------
    def start(
        self,
        content_type: str | None,
        pause: Callable[[], None] | None = None,
        resume: Callable[[], None] | None = None,
    ) -> None:
        """The runtime began a streaming response; ``pause``/``resume`` hold it back."""
        self.content_type = content_type or DEFAULT_CONTENT_TYPE
        self._pause, self._resume = pause, resume
        if not self.started.done():
            self.started.set_result(None)

    def push(self, data: bytes) -> None:
        self.total += len(data)
        if self._ended or not data:
            return
        if self.total > self.limit:
            self.too_large = True
            self.end()
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self.high_water and self._pause is not None and not self._paused:
            self._paused = True
            self._pause()
        self._wake()

    def end(self) -> None:
        """No more bytes: the runtime finished (or the platform ended the invoke)."""
        self._ended = True
        self._wake()
        self._unpause()

    close = end

    @property
    def ended(self) -> bool:
        return self._ended

    # -- the caller's side --------------------------------------------------------------
    async def read(self) -> bytes | None:
        """Everything that arrived since the last read (waiting for something), or None
        once the stream has ended and been read out."""
        while not self._chunks:
            if self._ended:
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        if self.bandwidth > 0 and self._delivered > UNCAPPED_BYTES:
            loop = asyncio.get_running_loop()
            wait = cap_delay(self._delivered, loop.time() - self._cap_started, self.bandwidth)
            if wait > 0:
                await asyncio.sleep(wait)
        data = b"".join(self._chunks)
        self._chunks.clear()
        self._buffered = 0
        before = self._delivered
        self._delivered += len(data)
        if before <= UNCAPPED_BYTES < self._delivered:
            self._cap_started = asyncio.get_running_loop().time()
        self._unpause()
        return data

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _unpause(self) -> None:
        if self._paused:
            self._paused = False
            if self._resume is not None:
                self._resume()


def split_prelude(buffer: bytes) -> tuple[bytes, bytes] | None:
    """(prelude JSON, the body after it) once ``buffer`` holds the 8-NUL separator."""
    at = buffer.find(PRELUDE_END)
    if at < 0:
        return None
    return buffer[:at], buffer[at + len(PRELUDE_END) :]


class StreamFeed:
    """The body of one streaming response, chunk by chunk, into its event's stream."""

    __slots__ = ("done", "request_id", "stream")

    def __init__(self, request_id: str, stream: ResponseStream) -> None:
        self.request_id = request_id
        self.stream = stream
        self.done: asyncio.Future[RuntimeAnswer] = asyncio.get_running_loop().create_future()

    def data(self, chunk: bytes) -> None:
        self.stream.push(chunk)

    def end(self, trailers: dict[str, str]) -> None:
        stream = self.stream
        stream.end()
        now = time.perf_counter()
        failed = protocol.trailer_error(trailers)
        if stream.too_large:
            message = (
                "Response payload size exceeded maximum allowed payload size "
                f"({stream.limit} bytes) for a streamed response."
            )
            body = json.dumps(
                {"errorMessage": message, "errorType": "Function.ResponseSizeTooLarge"}
            ).encode()
            answer = RuntimeAnswer(False, body, "Function.ResponseSizeTooLarge", False, now)
        elif failed is not None:
            answer = RuntimeAnswer(False, failed[1], failed[0], False, now)
        else:
            answer = RuntimeAnswer(True, b"", None, False, now)
        if not self.done.done():
            self.done.set_result(answer)

    def abort(self) -> None:
        # The runtime's connection broke mid-stream: what arrived stands, the rest is lost.
        self.stream.end()
        if not self.done.done():
            self.done.set_result(
                RuntimeAnswer(
                    False,
                    b'{"errorMessage":"the runtime\'s streaming response was cut off",'
                    b'"errorType":"Runtime.TruncatedResponse"}',
                    "Runtime.TruncatedResponse",
                    False,
                    time.perf_counter(),
                )
            )
