"""The SQS operations on JSON-shaped requests, shared by both wire protocols.

Each operation takes the request as the JSON protocol shapes it (the query protocol is
converted to this form first) plus a :class:`Caller` (whose host names queue URLs and
whose access key is the ``SenderId``), and returns the JSON-shaped answer. Long polling
waits on a per-queue wake-up that sends and visibility changes trigger.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from lamina.arns import parse_arn, queue_arn
from lamina.services.sqs.attributes import COMPUTED, number, validate, with_defaults
from lamina.services.sqs.errors import invalid_parameter, not_found, sqs_error
from lamina.services.sqs.md5 import md5_of_attributes, md5_of_body
from lamina.services.sqs.messages import check_attributes, check_body, message_shape
from lamina.services.sqs.store import NewMessage, ReceivedMessage, SqsStore
from lamina.waiting import wait_event

_QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
DEFAULT_SENDER = "AIDAIT2UOQQY3AUEKVGXU"


@dataclass(frozen=True, slots=True)
class Caller:
    host: str  # "127.0.0.1:9000": queue URLs are built from what the client asked for
    sender_id: str = DEFAULT_SENDER


Operation = Callable[[dict[str, Any], Caller], Awaitable[dict[str, Any]]]


def _int(body: dict[str, Any], name: str, lo: int, hi: int, default: int | None) -> int | None:
    value = body.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(name, value, "must be an integer") from None
    if not lo <= n <= hi:
        raise invalid_parameter(name, n, f"Must be between {lo} and {hi}, if provided.")
    return n


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

    def operations(self) -> dict[str, Operation]:
        return {
            "CreateQueue": self.create_queue,
            "GetQueueUrl": self.get_queue_url,
            "GetQueueAttributes": self.get_queue_attributes,
            "SetQueueAttributes": self.set_queue_attributes,
            "ListQueues": self.list_queues,
            "DeleteQueue": self.delete_queue,
            "PurgeQueue": self.purge_queue,
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
            "ListDeadLetterSourceQueues": self.list_dead_letter_source_queues,
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

    async def _queue_from(self, body: dict[str, Any]) -> str:
        url = body.get("QueueUrl")
        if not isinstance(url, str) or not url:
            raise sqs_error("MissingParameter", "The request must contain the parameter QueueUrl.")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if await self.store.get_queue(name) is None:
            raise not_found()
        return name

    def _wake(self, queue: str) -> None:
        event = self._waiters.get(queue)
        if event is not None:
            event.set()

    # -- queues -------------------------------------------------------------------------
    async def create_queue(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = body.get("QueueName")
        if not isinstance(name, str) or not _QUEUE_NAME.match(name):
            raise invalid_parameter(
                "QueueName",
                name,
                "Can only include alphanumeric characters, hyphens, or underscores. "
                "1 to 80 in length",
            )
        attrs = validate(body.get("Attributes") or {})
        tags = {str(k): str(v) for k, v in (body.get("tags") or {}).items()}
        row = await self.store.create_queue(name, attrs, tags, self._clock())
        if with_defaults(row.attributes) != with_defaults(attrs):
            differing = sorted(
                k
                for k in set(with_defaults(attrs)) | set(with_defaults(row.attributes))
                if with_defaults(attrs).get(k) != with_defaults(row.attributes).get(k)
            )
            raise sqs_error(
                "QueueNameExists",
                f"A queue already exists with the same name and a different value for "
                f"attribute {differing[0]}",
            )
        return {"QueueUrl": self.url(caller, name)}

    async def get_queue_url(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = body.get("QueueName")
        if not isinstance(name, str) or await self.store.get_queue(name) is None:
            raise not_found()
        return {"QueueUrl": self.url(caller, name)}

    async def get_queue_attributes(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        wanted = list(body.get("AttributeNames") or [])
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
        unknown = [w for w in wanted if w not in every and w != "RedrivePolicy"]
        if unknown:
            raise sqs_error("InvalidAttributeName", f"Unknown Attribute {unknown[0]}.")
        chosen = {w: every[w] for w in wanted if w in every}
        return {"Attributes": chosen} if chosen else {}

    async def set_queue_attributes(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        attrs = validate(body.get("Attributes") or {})
        if not await self.store.set_attributes(name, attrs, self._clock()):
            raise not_found()
        return {}

    async def list_queues(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        prefix = body.get("QueueNamePrefix") or ""
        limit = _int(body, "MaxResults", 1, 1000, None)
        names = await self.store.list_queues(prefix)
        token = body.get("NextToken")
        if token:
            names = [n for n in names if n > token]
        out: dict[str, Any] = {}
        page = names if limit is None else names[:limit]
        if page:
            out["QueueUrls"] = [self.url(caller, n) for n in page]
        if limit is not None and len(names) > limit:
            out["NextToken"] = page[-1]
        return out

    async def list_dead_letter_source_queues(
        self, body: dict[str, Any], caller: Caller
    ) -> dict[str, Any]:
        name = await self._queue_from(body)
        sources = []
        for other in await self.store.list_queues(""):
            row = await self.store.get_queue(other)
            policy = row.attributes.get("RedrivePolicy") if row else None
            if policy and f'"{self.arn(name)}"' in policy.replace(" ", ""):
                sources.append(self.url(caller, other))
        return {"queueUrls": sources}

    async def delete_queue(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        await self.store.delete_queue(name)
        self._wake(name)
        return {}

    async def purge_queue(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        await self.store.purge(await self._queue_from(body))
        return {}

    # -- sending ------------------------------------------------------------------------
    def _new_message(
        self, entry: dict[str, Any], queue_attrs: dict[str, str], caller: Caller
    ) -> NewMessage:
        body = check_body(entry.get("MessageBody"))
        attrs, attr_size = check_attributes(entry.get("MessageAttributes"))
        limit = number(queue_attrs, "MaximumMessageSize")
        if len(body.encode()) + attr_size > limit:
            raise invalid_parameter(
                "MessageBody",
                "",
                f"Message must be shorter than {limit} bytes.",
            )
        delay = _int(entry, "DelaySeconds", 0, 900, number(queue_attrs, "DelaySeconds"))
        system: dict[str, str] = {"SenderId": caller.sender_id}
        trace = (entry.get("MessageSystemAttributes") or {}).get("AWSTraceHeader")
        if isinstance(trace, dict) and trace.get("StringValue"):
            system["AWSTraceHeader"] = str(trace["StringValue"])
        return NewMessage(
            body,
            attrs,
            md5_of_body(body),
            md5_of_attributes(attrs) if attrs else None,
            system,
            delay or 0,
        )

    async def _attrs(self, name: str) -> dict[str, str]:
        row = await self.store.get_queue(name)
        if row is None:
            raise not_found()
        return row.attributes

    async def send_message(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        msg = self._new_message(body, await self._attrs(name), caller)
        try:
            (mid,) = await self.store.send(name, [msg], self._clock())
        except KeyError:
            raise not_found() from None
        self._wake(name)
        out = {"MessageId": mid, "MD5OfMessageBody": msg.md5_body}
        if msg.md5_attributes:
            out["MD5OfMessageAttributes"] = msg.md5_attributes
        return out

    @staticmethod
    def _entries(body: dict[str, Any]) -> list[dict[str, Any]]:
        entries = body.get("Entries")
        if not entries:
            raise sqs_error(
                "EmptyBatchRequest", "There should be at least one entry in the request."
            )
        if len(entries) > 10:
            raise sqs_error(
                "TooManyEntriesInBatchRequest",
                f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
            )
        ids = [e.get("Id") for e in entries]
        for i in ids:
            if not isinstance(i, str) or not _BATCH_ID.match(i):
                raise sqs_error(
                    "InvalidBatchEntryId",
                    "A batch entry id can only contain alphanumeric characters, hyphens and "
                    "underscores. It can be at most 80 letters long.",
                )
        if len(set(ids)) != len(ids):
            raise sqs_error(
                "BatchEntryIdsNotDistinct", "Two or more batch entries have the same Id."
            )
        return list(entries)

    async def send_message_batch(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        entries = self._entries(body)
        attrs = await self._attrs(name)
        good: list[tuple[str, NewMessage]] = []
        failed: list[dict[str, Any]] = []
        total = 0
        for e in entries:
            try:
                msg = self._new_message(e, attrs, caller)
            except Exception as exc:
                code = getattr(exc, "code", "InternalError")
                failed.append(
                    {"Id": e["Id"], "SenderFault": True, "Code": code, "Message": str(exc)}
                )
                continue
            total += len(msg.body.encode())
            good.append((e["Id"], msg))
        if total > number(attrs, "MaximumMessageSize"):
            raise sqs_error(
                "BatchRequestTooLong",
                f"Batch requests cannot be longer than {number(attrs, 'MaximumMessageSize')} bytes.",
            )
        ids = await self.store.send(name, [m for _, m in good], self._clock()) if good else []
        self._wake(name)
        ok = []
        for (eid, msg), mid in zip(good, ids, strict=True):
            entry = {"Id": eid, "MessageId": mid, "MD5OfMessageBody": msg.md5_body}
            if msg.md5_attributes:
                entry["MD5OfMessageAttributes"] = msg.md5_attributes
            ok.append(entry)
        return {"Successful": ok, "Failed": failed}

    # -- receiving ----------------------------------------------------------------------
    async def receive(
        self, name: str, limit: int, visibility_s: float, wait_s: float
    ) -> list[ReceivedMessage]:
        """Receive with long polling: return as soon as anything is there, or after wait_s."""
        deadline = self._clock() + wait_s
        while True:
            try:
                got, nxt = await self.store.receive(name, limit, visibility_s, self._clock())
            except KeyError:
                raise not_found() from None
            remaining = deadline - self._clock()
            if got or remaining <= 0:
                return got
            event = self._waiters.setdefault(name, asyncio.Event())
            timeout = remaining if nxt is None else min(remaining, max(0.0, nxt - self._clock()))
            await wait_event(event, timeout)
            event.clear()

    async def receive_message(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        attrs = with_defaults(await self._attrs(name))
        limit = _int(body, "MaxNumberOfMessages", 1, 10, 1) or 1
        wait = _int(body, "WaitTimeSeconds", 0, 20, int(attrs["ReceiveMessageWaitTimeSeconds"]))
        visibility = _int(body, "VisibilityTimeout", 0, 43_200, int(attrs["VisibilityTimeout"]))
        got = await self.receive(name, limit, float(visibility or 0), float(wait or 0))
        system = list(body.get("MessageSystemAttributeNames") or []) + list(
            body.get("AttributeNames") or []
        )
        names = list(body.get("MessageAttributeNames") or [])
        if not got:
            return {}
        return {"Messages": [message_shape(m, system, names) for m in got]}

    async def delete_message(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        (ok,) = await self.store.delete(name, [str(body.get("ReceiptHandle", ""))])
        if not ok:
            raise sqs_error(
                "ReceiptHandleIsInvalid",
                f'The input receipt handle "{body.get("ReceiptHandle")}" is not a valid receipt handle.',
            )
        return {}

    async def delete_message_batch(self, body: dict[str, Any], caller: Caller) -> dict[str, Any]:
        name = await self._queue_from(body)
        entries = self._entries(body)
        results = await self.store.delete(name, [str(e.get("ReceiptHandle", "")) for e in entries])
        ok = [{"Id": e["Id"]} for e, r in zip(entries, results, strict=True) if r]
        failed = [
            {
                "Id": e["Id"],
                "SenderFault": True,
                "Code": "ReceiptHandleIsInvalid",
                "Message": "The input receipt handle is invalid.",
            }
            for e, r in zip(entries, results, strict=True)
            if not r
        ]
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility(
        self, body: dict[str, Any], caller: Caller
    ) -> dict[str, Any]:
        name = await self._queue_from(body)
        timeout = _int(body, "VisibilityTimeout", 0, 43_200, None)
        if timeout is None:
            raise sqs_error(
                "MissingParameter", "The request must contain the parameter VisibilityTimeout."
            )
        (err,) = await self.store.change_visibility(
            name, [(str(body.get("ReceiptHandle", "")), timeout)], self._clock()
        )
        if err == "MessageNotInflight":
            raise sqs_error("MessageNotInflight", "The message referred to isn't in flight.")
        if err:
            raise sqs_error("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        if timeout == 0:
            self._wake(name)
        return {}

    async def change_message_visibility_batch(
        self, body: dict[str, Any], caller: Caller
    ) -> dict[str, Any]:
        name = await self._queue_from(body)
        entries = self._entries(body)
        changes = [
            (str(e.get("ReceiptHandle", "")), _int(e, "VisibilityTimeout", 0, 43_200, 0) or 0)
            for e in entries
        ]
        errors = await self.store.change_visibility(name, changes, self._clock())
        self._wake(name)
        ok = [{"Id": e["Id"]} for e, err in zip(entries, errors, strict=True) if err is None]
        failed = [
            {"Id": e["Id"], "SenderFault": True, "Code": err, "Message": err}
            for e, err in zip(entries, errors, strict=True)
            if err is not None
        ]
        return {"Successful": ok, "Failed": failed}

    # -- for Lamina's own components ----------------------------------------------------------
    async def send_to_arn(self, arn: str, body: str, attrs: dict[str, tuple[str, str]]) -> None:
        """Deliver a destination record / DLQ message / scheduled event to a queue by ARN."""
        name = self.name_from_arn(arn)
        if name is None or await self.store.get_queue(name) is None:
            raise not_found()
        shaped = {k: {"DataType": t, "StringValue": v} for k, (t, v) in attrs.items() if v != ""}
        msg = self._new_message(
            {"MessageBody": body, "MessageAttributes": shaped or None},
            await self._attrs(name),
            Caller("localhost", "AROALAMINA:lambda"),
        )
        await self.store.send(name, [msg], self._clock())
        self._wake(name)
