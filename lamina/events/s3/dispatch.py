"""Deliver S3 event records to the functions and queues a notification route names.

S3 invokes Lambda asynchronously: records go onto the durable async-invoke queue (so a
function error is retried twice, and destinations apply), one record per event, as S3
sends them. Queue routes get the record set as the message body; topic routes publish it
(subject ``Amazon S3 Notification``, as S3).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from lamina.arns import split_function_arn
from lamina.events.invoker import Enqueue
from lamina.services.s3.notifications import NotificationRoute
from lamina.triggers import DATASOURCE, triggered

log = logging.getLogger("lamina.events.s3")

SendToQueue = Callable[[str, str, dict[str, tuple[str, str]]], Awaitable[None]]
# publish(topic_arn, message, {name: (data_type, value)}, subject) -> message id (SNS's).
Publish = Callable[[str, str, dict[str, tuple[str, str]], str | None], Awaitable[str]]
S3_SUBJECT = "Amazon S3 Notification"  # the subject S3's messages to a topic carry


class Notifier:
    def __init__(self, enqueue: Enqueue | None, send_to_queue: SendToQueue | None) -> None:
        self._enqueue = enqueue
        self._send_to_queue = send_to_queue
        self.publish: Publish | None = None  # topic routes (set once SNS exists)
        self.delivered = 0

    async def deliver(self, route: NotificationRoute, record: dict[str, Any]) -> None:
        body = json.dumps({"Records": [record]}, separators=(",", ":"))
        try:
            if route.kind == "lambda":
                if self._enqueue is None:
                    raise RuntimeError("no async-invoke queue configured")
                name, qualifier = split_function_arn(route.target)
                with triggered(DATASOURCE):  # kept with the queued event (lamina.triggers)
                    await self._enqueue(name, qualifier, body.encode())
            elif route.kind == "topic":
                if self.publish is None:
                    raise RuntimeError("no topic service configured")
                await self.publish(route.target, body, {}, S3_SUBJECT)
            else:
                if self._send_to_queue is None:
                    raise RuntimeError("no queue service configured")
                await self._send_to_queue(route.target, body, {})
            self.delivered += 1
        except Exception:
            log.exception("S3 notification %s to %s failed", route.id, route.target)

    async def notify(
        self,
        routes: list[NotificationRoute],
        event_name: str,
        key: str,
        make_record: Callable[[str], dict[str, Any]],
    ) -> int:
        """Deliver to every matching route; ``make_record(configuration_id)``. Returns count."""
        n = 0
        for route in routes:
            if route.matches(event_name, key):
                await self.deliver(route, make_record(route.id))
                n += 1
        return n
