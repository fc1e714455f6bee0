"""``InvokeWithResponseStream``: the function's bytes as event-stream messages, as written.

The answer is ``200 application/vnd.amazon.eventstream`` sent with chunked transfer: one
``PayloadChunk`` event per piece the function streamed, in order, each sent as soon as it
arrived, then one ``InvokeComplete`` (with ``ErrorCode``/``ErrorDetails`` when the
function failed, even mid-stream, and ``LogResult`` when the caller asked for the log
tail). A function that answers buffered (it does not stream) gets its whole payload as
one ``PayloadChunk``. Errors found before the function runs (no such function,
throttling, bad parameters) are ordinary Lambda error answers.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from dataclasses import replace

from lamina.api.answers import error_response
from lamina.errors import ApiError
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.scheduler.driver import InvokeRequest, Scheduler
from lamina.wire import eventstream
from lamina.wire.server import HttpConnection, Response, Streamed

log = logging.getLogger("lamina.api.streaming")

EVENT_STREAM = "application/vnd.amazon.eventstream"
# One PayloadChunk carries at most this much (event-stream messages are capped at 16 MB).
MAX_EVENT_PAYLOAD = 256 * 1024


def error_fields(result: InvokeResult) -> tuple[str | None, str | None]:
    """(ErrorCode, ErrorDetails) of ``InvokeComplete`` for a result (pure): the error
    document's ``errorType`` and ``errorMessage``; (None, None) on success."""
    if not result.function_error:
        return None, None
    try:
        doc = json.loads(result.payload)
    except ValueError:
        doc = None
    if not isinstance(doc, dict):
        return result.function_error, result.payload.decode("utf-8", "replace")
    code = doc.get("errorType")
    details = doc.get("errorMessage")
    return (
        str(code) if code is not None else result.function_error,
        str(details) if details is not None else "",
    )


def complete_event(result: InvokeResult, tail: bool) -> bytes:
    code, details = error_fields(result)
    log_result = base64.b64encode(result.log_tail).decode() if tail else None
    return eventstream.invoke_complete(code, details, log_result)


def payload_events(data: bytes) -> bytes:
    return b"".join(
        eventstream.payload_chunk(data[i : i + MAX_EVENT_PAYLOAD])
        for i in range(0, len(data), MAX_EVENT_PAYLOAD)
    )


async def invoke_with_response_stream(
    scheduler: Scheduler,
    ireq: InvokeRequest,
    conn: HttpConnection,
    limit: int,
    bandwidth: int = 0,
) -> Response:
    """Run ``ireq`` and stream its answer on ``conn``. A caller that goes away ends the
    invoke, as it does a buffered one."""
    stream = ResponseStream(limit, bandwidth=bandwidth)
    ireq = replace(ireq, stream=stream)
    task = asyncio.get_running_loop().create_task(scheduler.invoke(ireq))
    try:
        return await _answer(ireq, stream, task, conn)
    except asyncio.CancelledError:
        task.cancel()
        raise


async def _answer(
    ireq: InvokeRequest,
    stream: ResponseStream,
    task: asyncio.Task[InvokeResult],
    conn: HttpConnection,
) -> Response:
    head = [
        ("Content-Type", EVENT_STREAM),
        ("x-amzn-RequestId", ireq.request_id),
        ("X-Amz-Executed-Version", ireq.cfg.version),
    ]
    await asyncio.wait((stream.started, task), return_when=asyncio.FIRST_COMPLETED)
    if not stream.started.done():
        # The function answered buffered (or never ran): one chunk and the end, at once.
        try:
            result = task.result()
        except ApiError as exc:
            return error_response(exc)
        body = b"" if result.function_error else payload_events(result.payload)
        body += complete_event(result, ireq.tail)
        return Response(200, body, dict(head))
    conn.start_stream(200, head)
    while (data := await stream.read()) is not None:
        conn.write_chunk(payload_events(data))
        await conn.drain()  # a slow reader holds the function back, not Lamina's memory
    try:
        result = await task
    except ApiError as exc:
        log.warning("streamed invoke %s failed after it started: %s", ireq.request_id, exc)
        conn.write_chunk(eventstream.invoke_complete(exc.error_type, exc.message))
        return Streamed()
    conn.write_chunk(complete_event(result, ireq.tail))
    return Streamed()
