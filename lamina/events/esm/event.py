"""The SQS event Lambda hands a function, and what its answer says failed (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """A received message, from the embedded queue or an external SQS endpoint."""

    message_id: str
    receipt_handle: str
    body: str
    md5_of_body: str
    attributes: dict[str, str]  # system attributes
    message_attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    md5_of_message_attributes: str | None = None


def _attribute(value: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        out["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        out["binaryValue"] = value["BinaryValue"]
    return out


def sqs_record(m: QueueMessage, source_arn: str, region: str) -> dict[str, Any]:
    attrs = {
        k: m.attributes[k]
        for k in (
            "ApproximateReceiveCount",
            "SentTimestamp",
            "SequenceNumber",
            "MessageGroupId",
            "SenderId",
            "MessageDeduplicationId",
            "ApproximateFirstReceiveTimestamp",
            "AWSTraceHeader",
        )
        if k in m.attributes
    }
    record: dict[str, Any] = {
        "messageId": m.message_id,
        "receiptHandle": m.receipt_handle,
        "body": m.body,
        "attributes": attrs,
        "messageAttributes": {k: _attribute(v) for k, v in m.message_attributes.items()},
        "md5OfBody": m.md5_of_body,
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }
    if m.md5_of_message_attributes:
        record["md5OfMessageAttributes"] = m.md5_of_message_attributes
    return record


def sqs_event(messages: list[QueueMessage], source_arn: str, region: str) -> bytes:
    return json.dumps(
        {"Records": [sqs_record(m, source_arn, region) for m in messages]},
        separators=(",", ":"),
    ).encode()


def held_back_in_groups(batch: list[QueueMessage], failed: set[str]) -> set[str]:
    """On a FIFO queue, the records a failure holds back: each failed record and every
    later record of its message group, so a group is never processed out of order (what
    Lambda asks a function to report itself: all records after its first failure)."""
    stopped: set[str] = set()
    out: set[str] = set()
    for m in batch:
        group = m.attributes.get("MessageGroupId", "")
        if m.message_id in failed or group in stopped:
            stopped.add(group)
            out.add(m.message_id)
    return out


def failed_message_ids(payload: bytes, batch_ids: set[str]) -> set[str] | None:
    """The ids a ReportBatchItemFailures answer marks failed; None means the whole batch.

    Lambda's rules: an empty or null ``batchItemFailures`` (or an answer without it) is
    a full success; an entry whose ``itemIdentifier`` is missing, empty, or not in the
    batch makes the whole batch a failure.
    """
    try:
        answer = json.loads(payload) if payload else None
    except ValueError:
        return None  # an answer that is not JSON fails the whole batch
    if not isinstance(answer, dict):
        return set()
    items = answer.get("batchItemFailures")
    if items is None:
        return set()
    if not isinstance(items, list):
        return None
    failed: set[str] = set()
    for item in items:
        ident = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not isinstance(ident, str) or ident not in batch_ids:
            return None
        failed.add(ident)
    return failed
