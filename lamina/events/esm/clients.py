"""Where a mapping's messages come from: the embedded queue, or any SQS-compatible endpoint.

Both sides look the same to the poller (:class:`QueueClient`). An external endpoint is
read with boto3 (in a worker thread, so the event loop never blocks), which works against
AWS itself or anything speaking SQS's protocol.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Protocol

from lamina.arns import parse_arn
from lamina.events.esm.event import QueueMessage
from lamina.services.sqs.md5 import md5_of_attributes
from lamina.services.sqs.service import SqsService


class QueueClient(Protocol):
    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]: ...

    async def delete(self, receipt_handles: list[str]) -> None: ...

    async def release(self, receipt_handles: list[str]) -> None:
        """Make messages visible again at once (they did not fit in a batch)."""

    async def close(self) -> None: ...


class EmbeddedQueueClient:
    def __init__(self, service: SqsService, queue: str) -> None:
        self.service = service
        self.queue = queue

    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]:
        visibility = await self.service.visibility_timeout(self.queue)
        got = await self.service.receive(self.queue, max_messages, visibility, wait_s)
        out = []
        for m in got:
            system = {
                "ApproximateReceiveCount": str(m.receive_count),
                "SentTimestamp": str(m.sent_ms),
                "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms),
                **m.system_attributes,
            }
            out.append(
                QueueMessage(
                    m.message_id,
                    m.receipt_handle,
                    m.body,
                    m.md5_body,
                    system,
                    m.attributes,
                    md5_of_attributes(m.attributes) if m.attributes else None,
                )
            )
        return out

    async def delete(self, receipt_handles: list[str]) -> None:
        await self.service.delete_messages(self.queue, receipt_handles)

    async def release(self, receipt_handles: list[str]) -> None:
        await self.service.release(self.queue, receipt_handles)

    async def close(self) -> None:
        return None


class Boto3QueueClient:
    """An external queue, by ARN, at ``endpoint_url`` (None: AWS's own endpoint)."""

    # Short polls keep a stopping mapping responsive: a boto3 call cannot be cancelled.
    MAX_WAIT_S = 5

    def __init__(
        self, arn: str, endpoint_url: str | None, credentials: dict[str, str] | None = None
    ) -> None:
        import boto3  # only when an external queue is mapped

        queue = parse_arn(arn)  # validated when the mapping was made
        assert queue is not None
        region, account, name = queue.region, queue.account, queue.resource
        self._client: Any = boto3.client(
            "sqs", endpoint_url=endpoint_url, region_name=region, **(credentials or {})
        )
        self._name = name
        self._account = account
        self._url: str | None = None

    async def _queue_url(self) -> str:
        if self._url is None:
            out = await asyncio.to_thread(
                self._client.get_queue_url,
                QueueName=self._name,
                QueueOwnerAWSAccountId=self._account,
            )
            self._url = str(out["QueueUrl"])
        return self._url

    async def receive(self, max_messages: int, wait_s: float) -> list[QueueMessage]:
        url = await self._queue_url()
        out = await asyncio.to_thread(
            self._client.receive_message,
            QueueUrl=url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=int(min(wait_s, self.MAX_WAIT_S)),
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        msgs = []
        for m in out.get("Messages", []):
            attrs = {}
            for k, v in (m.get("MessageAttributes") or {}).items():
                entry = {"DataType": v["DataType"]}
                if "StringValue" in v:
                    entry["StringValue"] = v["StringValue"]
                if "BinaryValue" in v:
                    entry["BinaryValue"] = base64.b64encode(v["BinaryValue"]).decode()
                attrs[k] = entry
            msgs.append(
                QueueMessage(
                    m["MessageId"],
                    m["ReceiptHandle"],
                    m["Body"],
                    m["MD5OfBody"],
                    dict(m.get("Attributes") or {}),
                    attrs,
                    m.get("MD5OfMessageAttributes"),
                )
            )
        return msgs

    async def delete(self, receipt_handles: list[str]) -> None:
        url = await self._queue_url()
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            await asyncio.to_thread(
                self._client.delete_message_batch,
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(chunk)],
            )

    async def release(self, receipt_handles: list[str]) -> None:
        url = await self._queue_url()
        for start in range(0, len(receipt_handles), 10):
            chunk = receipt_handles[start : start + 10]
            await asyncio.to_thread(
                self._client.change_message_visibility_batch,
                QueueUrl=url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
                    for i, h in enumerate(chunk)
                ],
            )

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
