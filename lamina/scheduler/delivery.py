"""Delivering one event to an environment and waiting for its end.

The event is handed to the runtime's parked ``/next`` (or kept until it asks); the invoke
then waits on one future that the runtime's answer, the process's exit or the deadline
timer resolves. What ended it is returned as a typed :data:`~lamina.scheduler.outcome.Ending`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from lamina.runtime_api.channel import Delivery, RuntimeAnswer
from lamina.runtime_api.stream import ResponseStream
from lamina.scheduler import telemetry_events
from lamina.scheduler.environment import Environment
from lamina.scheduler.inflight import Inflight
from lamina.scheduler.outcome import Ending, ProcessExited
from lamina.scheduler.report import write_start
from lamina.scheduler.spans import TraceSource
from lamina.tracing import xray_header


@dataclass(frozen=True, slots=True)
class Delivered:
    """How a delivered event ended, and when."""

    ending: Ending
    duration_ms: float  # from the runtime's receipt of the event to the end
    started_at: float  # epoch seconds, when it was delivered
    trace: TraceSource  # its tracing context and the response's spans, for telemetry


def trace_id(request_id: str, at: float, incoming: str | None = None, active: bool = False) -> str:
    """The invocation's X-Ray trace header: its parent span derived from its (random)
    request id, so the OTLP span Lamina exports for it is the parent of the function's own
    spans; the root is the incoming trace's when there is one (``active``: the function
    has active tracing, and is sampled unless the caller decided)."""
    return xray_header(request_id, at, incoming, active)


async def deliver(
    env: Environment,
    request_id: str,
    payload: bytes,
    function_arn: str,
    client_context: str | None = None,
    cognito_identity: str | None = None,
    stream: ResponseStream | None = None,
    trace_header: str | None = None,
    trigger: str = "other",
) -> Delivered:
    """Hand the event to ``env``'s runtime and wait until it ends (answer, exit, deadline).

    A streamed response ends when its last chunk arrives, so the duration (and the bill)
    covers the whole stream, as Lambda's does."""
    timeout_s = float(env.cfg.timeout_s)
    started_wall = time.time()
    channel = env.channel
    loop = channel.loop
    delivery = Delivery(
        request_id=request_id,
        payload=payload,
        deadline_ms=int((started_wall + timeout_s) * 1000),
        function_arn=function_arn,
        trace_id=trace_id(request_id, started_wall, trace_header, env.cfg.tracing_active),
        client_context=client_context,
        cognito_identity=cognito_identity,
        stream=stream,
        answer=loop.create_future(),
    )
    inflight = env.inflight = Inflight(delivery)
    if env.xray is not None:
        # The daemon keeps what it sends for this trace (and the caller's span, if any).
        env.xray(delivery.trace_id, trace_header)
    telemetry_events.start(env, request_id, delivery.trace_id)
    t0 = time.perf_counter()
    timer = loop.call_later(timeout_s, inflight.expire, channel)
    channel.deliver(delivery)
    # The rest of the last event's step, if it still waits (its memory was read before
    # this event: Scheduler._invoke), then START: after the event is on its way (the
    # runtime works meanwhile), still before any line of the function's, which the
    # loop reads in a later callback.
    env.settle()
    write_start(env, request_id)
    exited = env.exited
    if exited is not None and exited.done() and not exited.cancelled():
        end_with_exit(env, exited)  # died between reuse and delivery
    try:
        ending = await inflight.ending()
    finally:
        timer.cancel()
    start = delivery.delivered_at or t0
    at = ending.at
    duration_ms = (at - start) * 1000 if at else (time.perf_counter() - t0) * 1000
    env.inflight = None
    answered_at = ending.at if isinstance(ending, RuntimeAnswer) else 0.0
    trace = TraceSource(
        delivery.trace_id, delivery.delivered_at, delivery.responding_at, answered_at, trigger
    )
    return Delivered(ending, duration_ms, started_wall, trace)


def end_with_exit(env: Environment, fut: asyncio.Future[int]) -> bool:
    """End the event in flight because the runtime process ended (``fut``, its finished
    wait); False if none was in flight."""
    inflight = env.inflight
    if inflight is None:
        return False
    inflight.end(ProcessExited(fut.result(), time.perf_counter()), env.channel)
    return True
