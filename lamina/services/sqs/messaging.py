"""SQS's message operations: send, receive, delete and change visibility, one or a batch.

Each looks its queue up first, then parses the request (:mod:`lamina.services.sqs.requests`),
so a missing queue is reported before anything else wrong with the request, as SQS does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from lamina.errors import AwsServiceError
from lamina.services.sqs.attributes import message_limits, with_defaults
from lamina.services.sqs.errors import not_found, sqs_error
from lamina.services.sqs.fifo import FifoSettings, fifo_settings
from lamina.services.sqs.messages import Message, message_shape
from lamina.services.sqs.requests import (
    MAX_VISIBILITY_S,
    Caller,
    Members,
    integer,
    parse_entries,
    parse_message,
    parse_receive,
    receipt_handle,
    visibility_timeout,
)
from lamina.services.sqs.store import NewMessage, ReceivedMessage, SqsStore
from lamina.tracing import INCOMING

Operation = Callable[[Members, Caller], Awaitable[dict[str, Any]]]


class Queues(Protocol):
    """What the message operations need of the service that holds the queues
    (:class:`lamina.services.sqs.service.SqsService`): its store and clock, queue lookup,
    long polling and the wake-up that ends it. A protocol, so that the service can build
    its operation table from this module without the two importing each other."""

    @property
    def store(self) -> SqsStore: ...

    def now(self) -> float: ...

    async def queue(self, members: Members) -> str: ...

    async def attributes(self, name: str) -> dict[str, str]: ...

    def wake(self, queue: str) -> None: ...

    async def receive(
        self,
        name: str,
        limit: int,
        visibility_s: float,
        wait_s: float,
        attempt_id: str | None = None,
    ) -> list[ReceivedMessage]: ...


class MessageOperations:
    def __init__(self, service: Queues) -> None:
        self.service = service
        self.store = service.store

    def table(self) -> dict[str, Operation]:
        return {
            "SendMessage": self.send_message,
            "SendMessageBatch": self.send_message_batch,
            "ReceiveMessage": self.receive_message,
            "DeleteMessage": self.delete_message,
            "DeleteMessageBatch": self.delete_message_batch,
            "ChangeMessageVisibility": self.change_message_visibility,
            "ChangeMessageVisibilityBatch": self.change_message_visibility_batch,
        }

    async def _limits(self, name: str) -> tuple[int, int, FifoSettings | None]:
        """What a message sent to the queue is checked against: its size limit, default
        delay and FIFO settings."""
        attrs = await self.service.attributes(name)
        return (*message_limits(attrs), fifo_settings(attrs))

    # -- sending ------------------------------------------------------------------------
    async def send_message(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        max_size, delay, fifo = await self._limits(name)
        message = parse_message(members, max_size, delay, INCOMING.get(), fifo=fifo)
        stored = message.stored(caller.sender_id)
        try:
            (sent,) = await self.store.send(name, [stored], self.service.now())
        except KeyError:
            raise not_found() from None
        self.service.wake(name)
        out = {"MessageId": sent.message_id, "MD5OfMessageBody": stored.md5_body}
        if stored.md5_attributes:
            out["MD5OfMessageAttributes"] = stored.md5_attributes
        if sent.sequence_number is not None:
            out["SequenceNumber"] = sent.sequence_number
        return out

    async def send_message_batch(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        entries = parse_entries(members)
        max_size, delay, fifo = await self._limits(name)
        good: list[tuple[str, NewMessage]] = []
        failed: list[dict[str, Any]] = []
        total = 0
        for e in entries:
            try:
                message: Message = parse_message(
                    e.members, max_size, delay, INCOMING.get(), fifo=fifo
                )
            except AwsServiceError as exc:
                # One bad entry fails alone; the others are sent.
                failed.append(
                    {"Id": e.id, "SenderFault": True, "Code": exc.code, "Message": exc.message}
                )
                continue
            total += len(message.body.encode())
            good.append((e.id, message.stored(caller.sender_id)))
        if total > max_size:
            raise sqs_error(
                "BatchRequestTooLong", f"Batch requests cannot be longer than {max_size} bytes."
            )
        now = self.service.now()
        sent = await self.store.send(name, [m for _, m in good], now) if good else []
        self.service.wake(name)
        ok = []
        for (eid, msg), s in zip(good, sent, strict=True):
            entry = {"Id": eid, "MessageId": s.message_id, "MD5OfMessageBody": msg.md5_body}
            if msg.md5_attributes:
                entry["MD5OfMessageAttributes"] = msg.md5_attributes
            if s.sequence_number is not None:
                entry["SequenceNumber"] = s.sequence_number
            ok.append(entry)
        return {"Successful": ok, "Failed": failed}

    # -- receiving ----------------------------------------------------------------------
    async def receive_message(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        attrs = with_defaults(await self.service.attributes(name))
        req = parse_receive(
            members, int(attrs["ReceiveMessageWaitTimeSeconds"]), int(attrs["VisibilityTimeout"])
        )
        got = await self.service.receive(
            name, req.limit, float(req.visibility_s), float(req.wait_s), req.attempt_id
        )
        if not got:
            return {}
        shaped = [message_shape(m, req.system_names, req.attribute_names) for m in got]
        return {"Messages": shaped}

    # -- deleting and changing visibility -------------------------------------------------
    async def delete_message(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        handle = receipt_handle(members)
        (ok,) = await self.store.delete(name, [handle or ""])
        if not ok:
            raise sqs_error(
                "ReceiptHandleIsInvalid",
                f'The input receipt handle "{handle}" is not a valid receipt handle.',
            )
        self.service.wake(name)  # a FIFO group may be free now
        return {}

    async def delete_message_batch(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        entries = parse_entries(members)
        handles = [receipt_handle(e.members) or "" for e in entries]
        results = await self.store.delete(name, handles)
        self.service.wake(name)
        ok = [{"Id": e.id} for e, r in zip(entries, results, strict=True) if r]
        failed = [
            {
                "Id": e.id,
                "SenderFault": True,
                "Code": "ReceiptHandleIsInvalid",
                "Message": "The input receipt handle is invalid.",
            }
            for e, r in zip(entries, results, strict=True)
            if not r
        ]
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility(self, members: Members, caller: Caller) -> dict[str, Any]:
        name = await self.service.queue(members)
        timeout = visibility_timeout(members)
        (err,) = await self.store.change_visibility(
            name, [(receipt_handle(members) or "", timeout)], self.service.now()
        )
        if err == "MessageNotInflight":
            raise sqs_error("MessageNotInflight", "The message referred to isn't in flight.")
        if err:
            raise sqs_error("ReceiptHandleIsInvalid", "The input receipt handle is invalid.")
        if timeout == 0:
            self.service.wake(name)
        return {}

    async def change_message_visibility_batch(
        self, members: Members, caller: Caller
    ) -> dict[str, Any]:
        name = await self.service.queue(members)
        entries = parse_entries(members)
        changes = [
            (
                receipt_handle(e.members) or "",
                integer(e.members, "VisibilityTimeout", 0, MAX_VISIBILITY_S, 0) or 0,
            )
            for e in entries
        ]
        errors = await self.store.change_visibility(name, changes, self.service.now())
        self.service.wake(name)
        ok = [{"Id": e.id} for e, err in zip(entries, errors, strict=True) if err is None]
        failed = [
            {"Id": e.id, "SenderFault": True, "Code": err, "Message": err}
            for e, err in zip(entries, errors, strict=True)
            if err is not None
        ]
        return {"Successful": ok, "Failed": failed}
