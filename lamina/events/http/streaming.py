"""A ``RESPONSE_STREAM`` function URL: the function's bytes as chunked HTTP, as produced.

A function streaming through the HTTP integration (Node's
``awslambda.HttpResponseStream.from``; any runtime that posts with content type
``application/vnd.awslambda.http-integration-response``) starts its body with a JSON
prelude — ``statusCode``, ``headers``, ``cookies`` — and 8 NUL bytes; the prelude becomes
the answer's status and headers and the rest is the body. Any other streamed body is a
200 with the runtime's content type. A function that answers buffered is answered as a
``BUFFERED`` URL answers it (payload 2.0's rules).

Once the head has gone out an error can no longer change the status: the connection is
closed without the chunked body's end, so the client sees the body cut short.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from lamina.errors import ApiError
from lamina.events.http.response import HttpAnswer, failure_answer
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import HTTP_INTEGRATION, ResponseStream, split_prelude
from lamina.wire.server import HttpConnection, Response, Streamed

log = logging.getLogger("lamina.events.http")

# The prelude must fit in this much (Lambda's response headers are small).
MAX_PRELUDE_BYTES = 64 * 1024

# stream_invoke(stream) -> the function's result, once its stream has ended
StreamInvoke = Callable[[ResponseStream], Awaitable[InvokeResult]]
Render = Callable[[HttpAnswer], Response]


def prelude_head(raw: bytes) -> tuple[int, list[tuple[str, str]]] | None:
    """Status and header lines from an HTTP-integration prelude (pure); None if it is not
    a JSON object with a valid status."""
    try:
        doc = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    status = doc.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        return None
    headers_doc = doc.get("headers") or {}
    cookies = doc.get("cookies") or []
    if not isinstance(headers_doc, dict) or not isinstance(cookies, list):
        return None
    headers = [(str(k), str(v)) for k, v in headers_doc.items()]
    if not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("content-type", "application/octet-stream"))
    headers += [("set-cookie", str(c)) for c in cookies]
    return status, headers


async def _drain(stream: ResponseStream) -> None:
    # Keep reading so a function whose answer is refused still runs to its end.
    while await stream.read() is not None:
        pass


async def stream_answer(
    stream: ResponseStream,
    run: Awaitable[InvokeResult],
    conn: HttpConnection,
    extra: list[tuple[str, str]],
    buffered: Callable[[InvokeResult], HttpAnswer],
    render: Render,
) -> Response:
    """Answer on ``conn`` with what the invoke ``run`` streams into ``stream``. A client
    that goes away ends the invoke, as it does a buffered one."""
    task = asyncio.ensure_future(run)
    try:
        return await _answer(stream, task, conn, extra, buffered, render)
    except asyncio.CancelledError:
        task.cancel()
        raise


async def _answer(
    stream: ResponseStream,
    task: asyncio.Future[InvokeResult],
    conn: HttpConnection,
    extra: list[tuple[str, str]],
    buffered: Callable[[InvokeResult], HttpAnswer],
    render: Render,
) -> Response:
    await asyncio.wait((stream.started, task), return_when=asyncio.FIRST_COMPLETED)
    if not stream.started.done():
        try:
            return render(buffered(task.result()))
        except ApiError as exc:
            return render(failure_answer(exc))
    body = b""
    if stream.content_type.split(";")[0].strip() == HTTP_INTEGRATION:
        split = None
        while split is None and len(body) <= MAX_PRELUDE_BYTES:
            data = await stream.read()
            if data is None:
                break
            body += data
            split = split_prelude(body)
        head = None if split is None else prelude_head(split[0])
        if split is None or head is None:
            await _drain(stream)
            await asyncio.wait((task,))
            return render(failure_answer(None))
        status, headers = head
        body = split[1]
    else:
        status, headers = 200, [("content-type", stream.content_type)]
    conn.start_stream(status, [*headers, *extra])
    conn.write_chunk(body)
    while (data := await stream.read()) is not None:
        conn.write_chunk(data)
        await conn.drain()
    try:
        result = await task
    except ApiError as exc:
        log.warning("streamed URL answer failed after it started: %s", exc.message)
        return Response(500)  # not Streamed: the connection closes, the body is cut short
    if result.function_error:
        return Response(500)
    return Streamed()
