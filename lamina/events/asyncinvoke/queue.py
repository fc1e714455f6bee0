"""The durable asynchronous-invoke queue: accept (commit, then 202), deliver, retry, route.

``await queue.enqueue(...)`` returns once the event is committed to SQLite, so the API
answers 202 only for events that survive a crash. A dispatcher task leases due events
and runs each on a worker (at most ``workers`` at once) through the injected
:data:`~lamina.events.invoker.Invoke` coroutine; :mod:`.policy` decides what follows.
Delivery is at-least-once: an event is deleted only after its outcome (and destination
record) has been handled, so a crash in between delivers it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable

from lamina.arns import function_arn, parse_arn, split_function_arn
from lamina.errors import ResourceNotFound, TooManyRequests
from lamina.events.asyncinvoke.config import LATEST, EventInvokeConfig
from lamina.events.asyncinvoke.destinations import (
    LastResponse,
    bus_event,
    dead_letter_attributes,
    destination_record,
)
from lamina.events.asyncinvoke.policy import (
    Condition,
    Finish,
    Retry,
    RetryTimings,
    after_function_error,
    after_success,
    after_throttle,
    is_expired,
)
from lamina.events.asyncinvoke.registry import EventInvokeConfigs
from lamina.events.asyncinvoke.store import AsyncInvokeStore, StoredEvent
from lamina.events.invoker import Invoke
from lamina.events.recursion import RecursionGuard
from lamina.tracing import INCOMING, canonical, continued
from lamina.triggers import OTHER, TRIGGER, triggered
from lamina.waiting import wait_event

log = logging.getLogger("lamina.events.async")

# send_to_queue(queue_arn, body, {name: (data_type, value)}) — the embedded SQS service.
SendToQueue = Callable[[str, str, dict[str, tuple[str, str]]], Awaitable[None]]
# dead_letter_target(function, qualifier) -> the function's DeadLetterConfig.TargetArn
DeadLetterTarget = Callable[[str, str | None], str | None]
# put_on_bus(event_bus_arn, event) -> False when the bus does not exist (EventBridge's).
PutOnBus = Callable[[str, dict[str, object]], bool]
# publish(topic_arn, message, {name: (data_type, value)}) -> message id (SNS's).
Publish = Callable[[str, str, dict[str, tuple[str, str]]], Awaitable[str]]


class AsyncInvokeQueue:
    """Durable ``Event`` invokes with Lambda's retry, age and destination rules."""

    def __init__(
        self,
        store: AsyncInvokeStore,
        invoke: Invoke,
        configs: EventInvokeConfigs,
        *,
        region: str,
        account: str,
        send_to_queue: SendToQueue | None = None,
        dead_letter_target: DeadLetterTarget | None = None,
        timings: RetryTimings | None = None,
        workers: int = 64,
        lease_s: float = 960.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.configs = configs
        self._invoke = invoke
        # Recursive loop detection (lamina.events.recursion); None: not counted.
        self.recursion: RecursionGuard | None = None
        self._region = region
        self._account = account
        self._send_to_queue = send_to_queue
        self._dead_letter_target = dead_letter_target
        self._timings = timings or RetryTimings()
        self._workers = workers
        self._lease_s = lease_s
        self._clock = clock
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self._wake = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._dispatcher: asyncio.Task[None] | None = None
        # Event-bus destinations (set by the server once EventBridge exists).
        self.put_on_bus: PutOnBus | None = None
        # Topic destinations and dead-letter topics (set once SNS exists).
        self.publish: Publish | None = None
        self.delivered = 0  # attempts that reached the function
        self.finished: dict[Condition, int] = dict.fromkeys(Condition, 0)

    # -- accepting ----------------------------------------------------------------------
    async def enqueue(
        self,
        function: str,
        qualifier: str | None,
        payload: bytes,
        request_id: str | None = None,
        trace_header: str | None = None,
    ) -> str:
        """Durably accept an event; returns its request id once committed. ``trace_header``:
        the X-Ray trace its invocations continue (a malformed one is dropped), by default
        the current context's (:func:`lamina.tracing.continued`: an S3 notification's, a
        rule's); the trigger of the current context (:func:`lamina.triggers.triggered`)
        is stored too: both are kept across retries and restarts."""
        rid = request_id or str(uuid.uuid4())
        trace = canonical(trace_header) or INCOMING.get()
        await self.store.insert(
            rid, function, qualifier, payload, self._clock(), trace, TRIGGER.get()
        )
        self._wake.set()
        return rid

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Take over events leased by a dead server, then start delivering."""
        taken = self.store.take_over_leases(self.owner, self._clock())
        if taken:
            log.info("re-delivering %d async events that were in flight at the last stop", taken)
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def close(self) -> None:
        """Stop delivering. In-flight events stay leased and are delivered after restart."""
        tasks = [t for t in (self._dispatcher, *self._inflight) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    def depth(self) -> int:
        return self.store.depth()

    # -- delivering -----------------------------------------------------------------------
    async def _dispatch(self) -> None:
        while True:
            self._wake.clear()
            free = self._workers - len(self._inflight)
            nxt: float | None = None
            if free > 0:
                try:
                    events, nxt = await self.store.claim(
                        self.owner, self._clock(), self._lease_s, free
                    )
                except Exception:
                    log.exception("claiming async events failed; retrying in 1 s")
                    await asyncio.sleep(1.0)
                    continue
                for ev in events:
                    task = asyncio.get_running_loop().create_task(self._run(ev))
                    self._inflight.add(task)
                    task.add_done_callback(self._done)
                if len(events) == free:
                    nxt = None  # full: a finishing worker wakes us
            timeout = None if nxt is None else max(0.0, nxt - self._clock())
            await wait_event(self._wake, timeout)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self._wake.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("async delivery failed", exc_info=task.exception())

    async def _run(self, ev: StoredEvent) -> None:
        cfg = self.configs.effective(ev.function, ev.qualifier)
        now = self._clock()
        last = LastResponse.from_json(ev.last_response) if ev.last_response else None
        if is_expired(ev.accepted_at, cfg.max_age_s, now):
            await self._finish(ev, cfg, Condition.EVENT_AGE_EXCEEDED, ev.attempts, last)
            return
        attempts, throttles = ev.attempts, ev.throttles
        trace = ev.trace_header
        if self.recursion is not None:
            # Counted from the stored header on every attempt: a retry is the same event.
            trace, stop = self.recursion.step(ev.function, trace)
            if stop:
                await self._finish(ev, cfg, Condition.RECURSIVE_LOOP, attempts, last)
                return
        # The trace the function was handed (_X_AMZN_TRACE_ID) in the attempt that ran
        # here: its destination or dead-letter message continues it.
        handed: str | None = None
        try:
            with continued(trace), triggered(ev.trigger or OTHER):
                result = await self._invoke(ev.function, ev.qualifier, ev.payload, ev.request_id)
        except TooManyRequests:
            throttles += 1
            decision = after_throttle(
                throttles, ev.accepted_at, cfg.max_age_s, self._clock(), self._timings
            )
        except ResourceNotFound:
            log.warning("async event %s dropped: %s is gone", ev.request_id, ev.function)
            await self.store.finish(ev.seq)
            return
        except Exception:
            # A failure of the platform, not of the function: retry like a throttle.
            log.exception("async event %s: invoke failed; will retry", ev.request_id)
            throttles += 1
            decision = after_throttle(
                throttles, ev.accepted_at, cfg.max_age_s, self._clock(), self._timings
            )
        else:
            self.delivered += 1
            attempts += 1
            last = LastResponse(200, result.executed_version, result.function_error, result.payload)
            handed = result.trace_header or handed
            if result.function_error:
                decision = after_function_error(
                    attempts,
                    cfg.retries,
                    ev.accepted_at,
                    cfg.max_age_s,
                    self._clock(),
                    self._timings,
                )
            else:
                decision = after_success()
        if isinstance(decision, Retry):
            await self.store.reschedule(
                ev.seq, decision.at, attempts, throttles, last.to_json() if last else None
            )
            self._wake.set()
        else:
            assert isinstance(decision, Finish)
            await self._finish(ev, cfg, decision.condition, attempts, last, handed)

    async def _finish(
        self,
        ev: StoredEvent,
        cfg: EventInvokeConfig,
        condition: Condition,
        attempts: int,
        last: LastResponse | None,
        handed: str | None = None,
    ) -> None:
        """Send the event's record to its destination and its payload to the dead-letter
        queue, as its outcome asks. Both carry the invocation's X-Ray trace, as Lambda's
        service passes it on: the header the last attempt was handed (the Lambda span as
        their parent), else (no attempt ran here: expired, or delivered before a restart)
        the trace the event came with; none when neither is known."""
        with continued(handed or ev.trace_header):
            await self._deliver_outcome(ev, cfg, condition, attempts, last)
        await self.store.finish(ev.seq)
        self.finished[condition] += 1

    async def _deliver_outcome(
        self,
        ev: StoredEvent,
        cfg: EventInvokeConfig,
        condition: Condition,
        attempts: int,
        last: LastResponse | None,
    ) -> None:
        if condition is Condition.SUCCESS:
            targets = [cfg.on_success]
        else:
            targets = [cfg.on_failure]
            log.warning(
                "async event %s for %s failed: %s after %d attempts",
                ev.request_id,
                ev.function,
                condition.value,
                attempts,
            )
        if any(targets):
            record = destination_record(
                request_id=ev.request_id,
                function_arn=self._function_arn(ev.function, ev.qualifier),
                condition=condition,
                invoke_count=attempts,
                request_payload=ev.payload,
                last=last,
                now=self._clock(),
            )
            body = json.dumps(record, separators=(",", ":"))
            for arn in targets:
                if arn and ":events:" in arn:
                    self._put_on_bus(arn, record)
                elif arn:
                    await self._send(arn, body, {})
        if condition is not Condition.SUCCESS and self._dead_letter_target is not None:
            dlq = self._dead_letter_target(ev.function, ev.qualifier)
            if dlq:
                attrs = dead_letter_attributes(ev.request_id, last, condition)
                await self._send(dlq, ev.payload.decode("utf-8", "replace"), attrs)

    def _put_on_bus(self, arn: str, record: dict[str, object]) -> None:
        """Put the record on an event bus, in Lambda's envelope; a failure is logged."""
        event = bus_event(
            record, bus_arn=arn, region=self._region, account=self._account, now=self._clock()
        )
        try:
            if self.put_on_bus is None:
                log.warning("no event bus service for destination %s; record dropped", arn)
            elif not self.put_on_bus(arn, event):
                log.warning("destination event bus %s does not exist; record dropped", arn)
        except Exception:
            log.exception("delivery to destination %s failed", arn)

    async def _send(self, arn: str, body: str, attrs: dict[str, tuple[str, str]]) -> None:
        """Deliver to a destination; a failure is logged, never blocks the queue."""
        try:
            parsed = parse_arn(arn)
            if parsed is not None and parsed.service == "lambda":
                name, qualifier = split_function_arn(arn)
                with triggered(OTHER):  # a destination's record, whatever started the event
                    await self.enqueue(name, qualifier, body.encode())
            elif parsed is not None and parsed.service == "sns":
                if self.publish is None:
                    log.warning("no topic service for destination %s; record dropped", arn)
                else:
                    await self.publish(arn, body, attrs)
            elif arn.endswith(".fifo"):
                # As on AWS: accepted as a destination or dead-letter queue, but Lambda
                # does not deliver to FIFO queues (a DestinationDeliveryFailures there).
                log.warning(
                    "destination %s is a FIFO queue, which Lambda does not deliver "
                    "destination records or dead-letter messages to; dropped",
                    arn,
                )
            elif self._send_to_queue is not None:
                await self._send_to_queue(arn, body, attrs)
            else:
                log.warning("no queue service for destination %s; record dropped", arn)
        except Exception:
            log.exception("delivery to destination %s failed", arn)

    def _function_arn(self, function: str, qualifier: str | None) -> str:
        return function_arn(self._region, self._account, function, qualifier or LATEST)
