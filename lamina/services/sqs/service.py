"""The SQS service: its queues, their operations, and long polling.

Each operation takes the request's members as the JSON protocol shapes them (the query
protocol is converted to this form first) plus a :class:`Caller` (whose host names queue
URLs and whose access key is the ``SenderId``), parses them into typed values
(:mod:`lamina.services.sqs.requests`) and returns the JSON-shaped answer. The message
operations are :class:`lamina.services.sqs.messaging.MessageOperations`. Long polling
waits on a per-queue wake-up that sends and visibility changes trigger.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from lamina.arns import parse_arn, queue_arn
from lamina.services.sqs.attributes import (
    COMPUTED,
    FIFO_CHOICES,
    check_set_fifo,
    is_fifo,
    message_limits,
    parse_redrive,
    with_defaults,
)
from lamina.services.sqs.errors import invalid_parameter, not_found, sqs_error
from lamina.services.sqs.fifo import fifo_settings
from lamina.services.sqs.messages import Message
from lamina.services.sqs.messaging import MessageOperations, Operation
from lamina.services.sqs.moving import MoveTasks
from lamina.services.sqs.requests import (
    DEFAULT_SENDER,
    Caller,
    Members,
    names,
    parse_create_queue,
    parse_list_queues,
    parse_message,
    queue_name_of,
    queue_url,
    settable_attributes,
)
from lamina.services.sqs.store import ReceivedMessage, SqsStore
from lamina.tracing import INCOMING
from lamina.waiting import wait_event

__all__ = ["DEFAULT_SENDER", "Caller", "Operation", "SqsService"]

MAX_TAGS = 50  # SQS's limit per queue

# Lamina's own deliveries (destinations, dead letters, schedules) are sent as Lambda.
LAMINA_SENDER = Caller("localhost", "AROALAMINA:lambda")


class SqsService:
    def __init__(
        self,
        store: SqsStore,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.region = region
        self.account = account
        self._clock = clock
        self._waiters: dict[str, asyncio.Event] = {}
        # Told a queue's ``Policy`` (queue ARN, JSON or None) whenever it may have changed,
        # so the authoriser holds every queue policy in memory (IAM's resource policies).
        self.on_policy: Callable[[str, str | None], None] | None = None
        # Dead-letter queue redrive (StartMessageMoveTask); resume() after a restart.
        self.moves = MoveTasks(self)

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "PurgeQueue": self.purge_queue,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
            **MessageOperations(self).table(),
            "TagQueue": self.tag_queue,
            "UntagQueue": self.untag_queue,
            "ListQueueTags": self.list_queue_tags,
            **self.moves.table(),
        }

    def now(self) -> float:
        return self._clock()

    # -- names, URLs, ARNs --------------------------------------------------------------
    def url(self, caller: Caller, name: str) -> str:
        return f"http://{caller.host}/{self.account}/{name}"

    def arn(self, name: str) -> str:
        return queue_arn(self.region, self.account, name)

    def name_from_arn(self, arn: str) -> str | None:
        queue = parse_arn(arn)
        if queue is not None and queue.service == "sqs" and queue.account == self.account:
            return queue.resource
        return None

    async def queue(self, members: Members) -> str:
        """The name of the existing queue ``QueueUrl`` names (checked before anything else)."""
        name = queue_name_of(queue_url(members))
        if await self.store.get_queue(name) is None:
            raise not_found()
        return name

    async def attributes(self, name: str) -> dict[str, str]:
        row = await self.store.get_queue(name)
        if row is None:
            raise not_found()
        return row.attributes

    def wake(self, queue: str) -> None:
        event = self._waiters.get(queue)
        if event is not None:
            event.set()

    # -- queues -------------------------------------------------------------------------
    async def create_queue(self, members: Members, caller: Caller) -> dict[str, Any]:
        req = parse_create_queue(members)
        await self._check_dead_letter_type(is_fifo(req.attributes), req.attributes)
        row = await self.store.create_queue(req.name, req.attributes, req.tags, self._clock())
        self._policy_changed(req.name, row.attributes)
        wanted, existing = with_defaults(req.attributes), with_defaults(row.attributes)
        if existing != wanted:
            differing = sorted(
                k for k in set(wanted) | set(existing) if wanted.get(k) != existing.get(k)
            )
            raise sqs_error(
                "QueueNameExists",
                f"A queue already exists with the same name and a different value for "
                f"attribute {differing[0]}",
            )
        return {"QueueUrl": self.url(caller, req.name)}

    async def get_queue_url(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = members.get("QueueName")
        if not isinstance(name, str) or await self.store.get_queue(name) is None:
            raise not_found()
        return {"QueueUrl": self.url(caller, name)}

    async def get_queue_attributes(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        wanted = names(members, "AttributeNames")
        row = await self.store.get_queue(name)
        if row is None:
            raise not_found()
        visible, inflight, delayed = await self.store.counts(name, self._clock())
        every = {
            **with_defaults(row.attributes),
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(inflight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(int(row.created)),
            "LastModifiedTimestamp": str(int(row.modified)),
            "QueueArn": self.arn(name),
        }
        every = {k: v for k, v in every.items() if v != "" or k in COMPUTED}
        if "All" in wanted:
            return {"Attributes": every}
        # Names SQS knows but this queue has no value for (a standard queue's FIFO
        # settings) are left out of the answer, not refused.
        known = {"RedrivePolicy", *FIFO_CHOICES}
        unknown = [w for w in wanted if w not in every and w not in known]
        if unknown:
            raise sqs_error("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
        chosen = {w: every[w] for w in wanted if w in every}
        return {"Attributes": chosen} if chosen else {}

    async def set_queue_attributes(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        attributes = settable_attributes(members)
        current = await self.attributes(name)
        check_set_fifo(current, attributes)
        await self._check_dead_letter_type(is_fifo(current), attributes)
        if not await self.store.set_attributes(name, attributes, self._clock()):
            raise not_found()
        if "Policy" in attributes:
            self._policy_changed(name, {"Policy": attributes["Policy"]})
        return {}

    async def list_queues(self, members: Members, caller: Caller) -> dict[str, Any]:
        req = parse_list_queues(members)
        found = await self.store.list_queues(req.prefix)
        if req.next_token:
            found = [n for n in found if n > req.next_token]
        out: dict[str, Any] = {}
        page = found if req.limit is None else found[: req.limit]
        if page:
            out["QueueUrls"] = [self.url(caller, n) for n in page]
        if req.limit is not None and len(found) > req.limit:
            out["NextToken"] = page[-1]
        return out

    async def list_dead_letter_source_queues(
        self, members: Members, caller: Caller
    ) -> dict[str, Any]:
        name = await self.queue(members)
        sources = []
        for other in await self.store.list_queues(""):
            row = await self.store.get_queue(other)
            policy = row.attributes.get("RedrivePolicy") if row else None
            if policy and f'"{self.arn(name)}"' in policy.replace(" ", ""):
                sources.append(self.url(caller, other))
        return {"queueUrls": sources}

    async def delete_queue(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        await self.store.delete_queue(name)
        self.wake(name)
        self._policy_changed(name, {})
        return {}

    async def _check_dead_letter_type(self, fifo: bool, attributes: dict[str, str]) -> None:
        """A dead-letter queue must be of its source's type (FIFO or standard). A target
        that does not exist (yet) is not checked: its messages stay where they are."""
        raw = attributes.get("RedrivePolicy")
        if not raw:
            return
        target = self.name_from_arn(parse_redrive(raw).dead_letter_arn)
        row = await self.store.get_queue(target) if target is not None else None
        if row is not None and is_fifo(row.attributes) != fifo:
            raise invalid_parameter(  # SQS's message, its two full stops included
                "RedrivePolicy", raw, "Dead-letter queue must be same type of queue as the source.."
            )

    def _policy_changed(self, name: str, attributes: dict[str, str]) -> None:
        if self.on_policy is not None:
            self.on_policy(self.arn(name), attributes.get("Policy") or None)

    async def policies(self) -> list[tuple[str, str]]:
        """Every queue policy, as (queue ARN, JSON): the authoriser's start-up load."""
        return [
            (self.arn(name), attributes["Policy"])
            for name, attributes in await self.store.attributes_of_all()
            if attributes.get("Policy")
        ]

    # -- tags (SQS allows 50 per queue; keys and values are strings) -------------------
    async def tag_queue(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        raw = members.get("Tags", members.get("tags"))  # JSON protocol / query protocol's Tag.N
        if not isinstance(raw, dict) or not raw:
            raise sqs_error("MissingParameter", "The request must contain the parameter Tags.")
        tags = {str(k): str(v) for k, v in raw.items()}
        current = await self.store.update_tags(name, {}, [])
        if current is not None and len({**current, **tags}) > MAX_TAGS:
            raise sqs_error("InvalidParameterValue", f"Too many tags added for queue {name}.")
        if await self.store.update_tags(name, tags, []) is None:
            raise not_found()
        return {}

    async def untag_queue(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        keys = members.get("TagKeys")
        if not isinstance(keys, list) or not keys:
            raise sqs_error("MissingParameter", "The request must contain the parameter TagKeys.")
        if await self.store.update_tags(name, {}, [str(k) for k in keys]) is None:
            raise not_found()
        return {}

    async def list_queue_tags(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.queue(members)
        tags = await self.store.update_tags(name, {}, [])
        if tags is None:
            raise not_found()
        return {"Tags": tags} if tags else {}

    async def purge_queue(self, members: Members, caller: Caller) -> dict[str, Any]:
        await self.store.purge(await self.queue(members))
        return {}

    # -- for the message operations and Lamina's own components -------------------------------
    async def receive(
        self,
        name: str,
        limit: int,
        visibility_s: float,
        wait_s: float,
        attempt_id: str | None = None,
    ) -> list[ReceivedMessage]:
        """Receive with long polling: return as soon as anything is there, or after wait_s."""
        deadline = self._clock() + wait_s
        while True:
            try:
                got, nxt = await self.store.receive(
                    name, limit, visibility_s, self._clock(), attempt_id
                )
            except KeyError:
                raise not_found() from None
            remaining = deadline - self._clock()
            if got or remaining <= 0:
                return got
            event = self._waiters.setdefault(name, asyncio.Event())
            timeout = remaining if nxt is None else min(remaining, max(0.0, nxt - self._clock()))
            await wait_event(event, timeout)
            event.clear()

    async def visibility_timeout(self, name: str) -> float:
        """The queue's VisibilityTimeout; LookupError when the queue is gone."""
        row = await self.store.get_queue(name)
        if row is None:
            raise LookupError(f"queue {name} does not exist")
        return float(with_defaults(row.attributes)["VisibilityTimeout"])

    async def delete_messages(self, name: str, receipt_handles: list[str]) -> None:
        await self.store.delete(name, receipt_handles)
        self.wake(name)  # a FIFO group may be free now

    async def release(self, name: str, receipt_handles: list[str]) -> None:
        """Make received messages visible again at once."""
        await self.store.change_visibility(name, [(h, 0) for h in receipt_handles], self.now())

    async def send_to_arn(
        self,
        arn: str,
        body: str,
        attrs: dict[str, tuple[str, str]],
        group: str | None = None,
        dedup: str | None = None,
    ) -> None:
        """Deliver a destination record / DLQ message / scheduled event to a queue by ARN;
        the message carries the current context's X-Ray trace (an S3 notification's, a
        put event's: :func:`lamina.tracing.continued`) as its ``AWSTraceHeader``.

        ``group``: the message group (a rule target's ``SqsParameters.MessageGroupId``);
        a FIFO queue refuses a message without one, as SQS does. ``dedup``: the
        deduplication id to use on a FIFO queue without content-based deduplication."""
        name = self.name_from_arn(arn)
        row = None if name is None else await self.store.get_queue(name)
        if name is None or row is None:
            raise not_found()
        # A Binary attribute's value is its base64 text (SNS's raw deliveries carry them).
        shaped = {
            k: {"DataType": t, "BinaryValue" if t.startswith("Binary") else "StringValue": v}
            for k, (t, v) in attrs.items()
            if v != ""
        }
        queue_attrs = row.attributes
        fifo = fifo_settings(queue_attrs)
        members: dict[str, Any] = {"MessageBody": body, "MessageAttributes": shaped or None}
        if group is not None:
            members["MessageGroupId"] = group
        if dedup is not None and fifo is not None and not fifo.content_based:
            members["MessageDeduplicationId"] = dedup
        message: Message = parse_message(
            members, *message_limits(queue_attrs), INCOMING.get(), fifo=fifo
        )
        await self.store.send(name, [message.stored(LAMINA_SENDER.sender_id)], self._clock())
        self.wake(name)
