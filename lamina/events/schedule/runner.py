"""The scheduler loop: fires due rules' targets with the scheduled event, durably.

Targets are delivered as EventBridge delivers to Lambda: asynchronously, through the
durable async-invoke queue (so retries, destinations and crash safety apply), or as a
message to an SQS queue. The tick is recorded after its targets were accepted: a crash
in between fires that tick again on restart (at-least-once), never loses it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from lamina.arns import parse_arn, rule_arn, split_function_arn
from lamina.events.invoker import Enqueue
from lamina.events.schedule.event import scheduled_event, target_payload
from lamina.events.schedule.plan import flexible_offset, plan_rule, retry_delays
from lamina.services.eventbridge.expression import parse_schedule
from lamina.services.eventbridge.rules import (
    DEFAULT_MAX_AGE_S,
    DEFAULT_MAX_RETRIES,
    Rule,
    RuleStore,
    Target,
)
from lamina.triggers import OTHER, PUBSUB, TIMER, triggered
from lamina.waiting import wait_event

log = logging.getLogger("lamina.events.schedule")

# send_to_queue(queue_arn, body, attributes, message group, deduplication id).
SendToQueue = Callable[
    [str, str, dict[str, tuple[str, str]], str | None, str | None], Awaitable[None]
]
MAX_SLEEP_S = 30.0  # re-plan at least this often (clock jumps, suspended machines)


def scaled_clock(scale: float, real: Callable[[], float] = time.time) -> Callable[[], float]:
    """A clock that starts at the real time and runs ``scale`` times faster.

    For tests and demos (``LAMINA_SCHEDULE_TIME_SCALE``): at 60, ``rate(1 minute)`` fires
    every real second with minute-spaced event times. It starts again from the real time
    at each server start, so it is not meant for a data directory that is kept.
    """
    if scale == 1.0:
        return real
    start = real()
    return lambda: start + (real() - start) * scale


class ScheduleRunner:
    def __init__(
        self,
        store: RuleStore,
        enqueue: Enqueue,
        *,
        region: str,
        account: str,
        send_to_queue: SendToQueue | None = None,
        catchup_s: float = 300.0,
        clock: Callable[[], float] = time.time,
        time_scale: float = 1.0,
        source: str = "aws.events",
        arn_of: Callable[[str], str] | None = None,
    ) -> None:
        """``clock`` gives the schedules' time; it runs ``time_scale`` times faster than the
        real time the loop sleeps in (see :func:`scaled_clock`). ``source`` and ``arn_of``
        (a rule's key → its ARN, in the event's ``resources``) tell EventBridge rules
        (``aws.events``) from EventBridge Scheduler's schedules (``aws.scheduler``)."""
        self.store = store
        self._source = source
        self._arn_of = arn_of or (lambda name: rule_arn(region, account, name))
        self._retries: set[asyncio.Task[None]] = set()
        self._enqueue = enqueue
        self._send_to_queue = send_to_queue
        self._region = region
        self._account = account
        self._catchup_s = catchup_s
        self._clock = clock
        self._scale = time_scale
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.fired = 0
        # StartExecution of a state machine target (set by the server once Step Functions
        # exists): (state machine ARN, input JSON) → accepted durably.
        self.start_execution: Callable[[str, str], Awaitable[object]] | None = None
        # Publish to an SNS topic target (set once SNS exists): (topic ARN, message,
        # attributes, subject) → the message id, once every subscriber's delivery is durable.
        self.publish_to_topic: (
            Callable[[str, str, dict[str, tuple[str, str]], str | None], Awaitable[str]] | None
        ) = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def wake(self) -> None:
        """Re-plan now (a rule changed)."""
        self._wake.set()

    async def close(self) -> None:
        for task in list(self._retries):
            task.cancel()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                next_at = await self.run_once(self._clock())
            except Exception:
                log.exception("schedule pass failed")
                next_at = None
            delay = MAX_SLEEP_S
            if next_at is not None:
                delay = min(MAX_SLEEP_S, (next_at - self._clock()) / self._scale)
            await wait_event(self._wake, delay)

    async def run_once(self, now: float) -> float | None:
        """Fire every rule due at ``now``; return when the next one falls due."""
        soonest: float | None = None
        for rule in list(self.store.rules.values()):
            if not rule.enabled or not rule.schedule:  # a pattern-only rule has no ticks
                continue
            schedule = parse_schedule(rule.schedule)
            # A flexible window shifts the rule's clock: tick T fires at T + offset.
            offset = flexible_offset(rule.name, rule.flexible_window_s)
            plan = plan_rule(schedule, rule.anchor, rule.last_tick, now - offset, self._catchup_s)
            if plan.skipped_to is not None:
                log.warning(
                    "rule %s: ticks missed while Lamina was down were older than %.0f s; skipped",
                    rule.name,
                    self._catchup_s,
                )
                await self.store.record_tick(rule.key, plan.skipped_to.timestamp())
            if plan.fire is not None:
                await self._fire(rule, plan.fire.timestamp())
            if plan.next_at is not None:
                t = plan.next_at.timestamp() + offset
                soonest = t if soonest is None else min(soonest, t)
        return soonest

    async def _fire(self, rule: Rule, tick: float) -> None:
        event = scheduled_event(
            self._arn_of(rule.key),
            datetime.fromtimestamp(tick, UTC),
            self._region,
            self._account,
            source=self._source,
        )
        with triggered(TIMER):  # kept with the queued event and by retries' tasks
            await self._deliver_event(rule, event, tick)
        await self.store.record_tick(rule.key, tick)
        self.fired += 1

    def publish(self, rule: Rule, event: dict[str, Any]) -> None:
        """Deliver a put event that matched ``rule``'s pattern to its targets, in the
        background, with the same delivery and RetryPolicy as a scheduled tick. Called on
        the loop's thread (PutEvents is answered there)."""
        with triggered(PUBSUB):  # the task, its retries too, run in a copy of this context
            task = asyncio.get_running_loop().create_task(
                self._deliver_event(rule, event, self._clock())
            )
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _deliver_event(self, rule: Rule, event: dict[str, Any], at: float) -> None:
        """Hand ``event`` to each of the rule's targets; a failure retries in the background
        (its age counted from ``at``)."""
        for target in rule.targets:
            payload = target_payload(
                event,
                target.input,
                target.input_path,
                target.input_transformer,
                rule_arn=self._arn_of(rule.key),
                rule_name=rule.name,
            )
            event_id = str(event.get("id", "")) or None
            try:
                await self._deliver(target, payload, event_id)
            except Exception as exc:
                self._retry_later(rule, target, payload, at, exc, event_id)

    async def _deliver(self, target: Target, payload: bytes, event_id: str | None) -> None:
        parsed = parse_arn(target.arn)
        if parsed is not None and parsed.service == "sqs":
            if self._send_to_queue is None:
                raise RuntimeError("no queue service")
            # A FIFO queue without content-based deduplication gets the event's id as the
            # deduplication id: a retried delivery that did land is not stored twice.
            await self._send_to_queue(
                target.arn, payload.decode(), {}, target.message_group_id, event_id
            )
        elif parsed is not None and parsed.service == "sns":
            if self.publish_to_topic is None:
                raise RuntimeError("no topic service")
            await self.publish_to_topic(target.arn, payload.decode(), {}, None)
        elif ":states:" in target.arn:
            if self.start_execution is None:
                raise RuntimeError("no Step Functions service")
            with triggered(OTHER):  # a workflow's tasks are started by it, not the rule
                await self.start_execution(target.arn, payload.decode())
        else:
            name, qualifier = split_function_arn(target.arn)
            await self._enqueue(name, qualifier, payload)

    def _retry_later(
        self,
        rule: Rule,
        target: Target,
        payload: bytes,
        tick: float,
        exc: Exception,
        event_id: str | None = None,
    ) -> None:
        """The target's RetryPolicy: retry in the background, doubling the wait, until it is
        delivered, the retries run out, or the event is older than the maximum age."""
        retries = DEFAULT_MAX_RETRIES if target.max_retries is None else target.max_retries
        age = DEFAULT_MAX_AGE_S if target.max_age_s is None else target.max_age_s
        delays = retry_delays(retries, max(0.0, age - (self._clock() - tick)))
        log.warning(
            "rule %s: delivery to %s failed (%s); %d retr%s left",
            rule.name,
            target.arn,
            exc,
            len(delays),
            "y" if len(delays) == 1 else "ies",
        )
        if delays:
            task = asyncio.get_running_loop().create_task(
                self._retry(rule.name, target, payload, delays, event_id)
            )
            self._retries.add(task)
            task.add_done_callback(self._retries.discard)

    async def _retry(
        self,
        rule: str,
        target: Target,
        payload: bytes,
        delays: list[float],
        event_id: str | None = None,
    ) -> None:
        waited = 0.0
        for n, at in enumerate(delays, 1):
            await asyncio.sleep((at - waited) / self._scale)
            waited = at
            try:
                await self._deliver(target, payload, event_id)
            except Exception as exc:
                log.warning("rule %s: retry %d to %s failed: %s", rule, n, target.arn, exc)
                continue
            log.info("rule %s: delivered to %s on retry %d", rule, target.arn, n)
            return
        log.error(
            "rule %s: delivery to %s abandoned after %d retries", rule, target.arn, len(delays)
        )
