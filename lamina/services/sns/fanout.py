"""Deliver one published message to one subscriber, durably (the thin I/O driver).

A ``lambda`` subscriber's event goes onto Lamina's durable async-invoke queue (so the
function's retries, destinations and dead-letter queue apply as to any asynchronous
invoke: SNS invokes Lambda asynchronously); an ``sqs`` subscriber's message is committed
to the embedded SQS store. Each returns once committed, so a publish answered with a
``MessageId`` is delivered even if the server stops just after. A delivery that fails (the
queue is gone) goes to the subscription's ``RedrivePolicy`` queue when it has one, else it
is logged; it never fails the publish.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable

from lamina.arns import split_function_arn
from lamina.services.sns.attributes import is_raw
from lamina.services.sns.message import (
    Notification,
    Published,
    lambda_event,
    queue_body,
    raw_attributes,
)
from lamina.services.sns.store import Subscription
from lamina.triggers import PUBSUB, triggered

log = logging.getLogger("lamina.sns")

# enqueue(function_name, qualifier, payload) -> request_id, once durably accepted (the
# async-invoke queue's; lamina.events.invoker.Enqueue).
Enqueue = Callable[[str, str | None, bytes], Awaitable[str]]
# send_to_queue(queue_arn, body, {name: (data_type, value)}) — the embedded SQS service.
SendToQueue = Callable[[str, str, dict[str, tuple[str, str]]], Awaitable[None]]


class Fanout:
    def __init__(self, enqueue: Enqueue, send_to_queue: SendToQueue) -> None:
        self._enqueue = enqueue
        self._send_to_queue = send_to_queue
        self.delivered = 0
        self.failed = 0

    async def deliver(self, sub: Subscription, published: Published, note: Notification) -> None:
        try:
            if sub.protocol == "lambda":
                name, qualifier = split_function_arn(sub.endpoint)
                payload = json.dumps(lambda_event(published, note), separators=(",", ":"))
                with triggered(PUBSUB):  # kept with the queued event (lamina.triggers)
                    await self._enqueue(name, qualifier, payload.encode())
            else:
                await self._to_queue(sub.endpoint, sub, published, note)
            self.delivered += 1
        except Exception as exc:
            self.failed += 1
            await self._redrive(sub, published, note, exc)

    async def _to_queue(
        self, queue_arn: str, sub: Subscription, published: Published, note: Notification
    ) -> None:
        if is_raw(sub.attributes):
            body = published.message_for("sqs")
            await self._send_to_queue(queue_arn, body, raw_attributes(published))
        else:
            await self._send_to_queue(queue_arn, queue_body(published, note), {})

    async def _redrive(
        self, sub: Subscription, published: Published, note: Notification, exc: Exception
    ) -> None:
        policy = sub.attributes.get("RedrivePolicy")
        target = json.loads(policy).get("deadLetterTargetArn") if policy else None
        if not target:
            log.warning(
                "SNS message %s to %s (%s) not delivered: %s",
                note.message_id,
                sub.endpoint,
                sub.arn,
                exc,
            )
            return
        try:
            await self._to_queue(target, sub, published, note)
        except Exception:
            log.exception(
                "SNS message %s to %s not delivered, nor to its dead-letter queue %s",
                note.message_id,
                sub.endpoint,
                target,
            )
