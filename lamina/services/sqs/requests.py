"""SQS requests parsed into typed values, with SQS's own error messages (pure).

Both wire protocols hand an operation its members in the JSON protocol's shape (the query
protocol is converted first, :mod:`lamina.services.sqs.query`); these parsers are the only
code that reads those raw members. An operation looks its queue up first and then parses
the rest, because SQS reports a missing queue before anything else wrong with a request.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.services.sqs.attributes import check_queue_type, validate
from lamina.services.sqs.errors import invalid_parameter, sqs_error
from lamina.services.sqs.fifo import FifoSettings, checked_id, message_ids
from lamina.services.sqs.messages import Message, check_attributes, check_body

# A request's members as the JSON protocol shapes them: the wire's values, unchecked.
Members = Mapping[str, Any]

DEFAULT_SENDER = "AIDAIT2UOQQY3AUEKVGXU"
_QUEUE_NAME = re.compile(r"^(?:[A-Za-z0-9_-]{1,80}|[A-Za-z0-9_-]{1,75}\.fifo)$")
_BATCH_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
MAX_DELAY_S = 900
MAX_VISIBILITY_S = 43_200


@dataclass(frozen=True, slots=True)
class Caller:
    """Who sent a request: the host it addressed names queue URLs; its key is the SenderId."""

    host: str  # "127.0.0.1:9000": queue URLs are built from what the client asked for
    sender_id: str = DEFAULT_SENDER


def integer(members: Members, name: str, lo: int, hi: int, default: int | None) -> int | None:
    """An optional integer member (numeric strings too, as the query protocol sends)."""
    value = members.get(name)
    if value is None:
        return default
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(name, value, "must be an integer") from None
    if not lo <= n <= hi:
        raise invalid_parameter(name, n, f"Must be between {lo} and {hi}, if provided.")
    return n


def names(members: Members, name: str) -> list[str]:
    """A list-of-names member (``AttributeNames``, ``MessageAttributeNames``...)."""
    return [str(n) for n in members.get(name) or []]


def queue_url(members: Members) -> str:
    url = members.get("QueueUrl")
    if not isinstance(url, str) or not url:
        raise sqs_error("MissingParameter", "The request must contain the parameter QueueUrl.")
    return url


def queue_name_of(url: str) -> str:
    """The queue a URL names: its last path segment (any host, any account)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def settable_attributes(members: Members) -> dict[str, str]:
    """``Attributes`` checked with SQS's messages, as SQS's strings."""
    raw = members.get("Attributes") or {}
    if not isinstance(raw, Mapping):
        raise sqs_error("InvalidAttributeName", "Attributes must be a map of names to values.")
    return validate(dict(raw))


# -- queues --------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CreateQueue:
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]


def parse_create_queue(members: Members) -> CreateQueue:
    name = members.get("QueueName")
    if not isinstance(name, str) or not _QUEUE_NAME.match(name):
        raise invalid_parameter(
            "QueueName",
            name,
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length",
        )
    attributes = check_queue_type(name, settable_attributes(members))
    tags = members.get("tags") or {}
    if not isinstance(tags, Mapping):
        raise invalid_parameter("tags", tags, "must be a map")
    return CreateQueue(name, attributes, {str(k): str(v) for k, v in tags.items()})


@dataclass(frozen=True, slots=True)
class ListQueues:
    prefix: str
    limit: int | None
    next_token: str | None


def parse_list_queues(members: Members) -> ListQueues:
    prefix = members.get("QueueNamePrefix") or ""
    limit = integer(members, "MaxResults", 1, 1000, None)
    token = members.get("NextToken")
    return ListQueues(str(prefix), limit, str(token) if token else None)


# -- messages ------------------------------------------------------------------------------
def parse_message(
    members: Members,
    max_size: int,
    default_delay_s: int,
    trace_header: str | None = None,
    *,
    fifo: FifoSettings | None = None,
) -> Message:
    """Check a message against SQS's rules and its queue's size limit, default delay and
    (``fifo``, for a FIFO queue) deduplication settings.
    ``trace_header``: the X-Ray trace of the call that sent it (the request's
    ``X-Amzn-Trace-Id``, a notifying service's trace), which an ``AWSTraceHeader`` system
    attribute overrides, as in SQS."""
    body = check_body(members.get("MessageBody"))
    ids = message_ids(members, body, fifo)
    attributes, attributes_size = check_attributes(members.get("MessageAttributes"))
    if len(body.encode()) + attributes_size > max_size:
        raise invalid_parameter(
            "MessageBody", "", f"Message must be shorter than {max_size} bytes."
        )
    delay = integer(members, "DelaySeconds", 0, MAX_DELAY_S, default_delay_s)
    system = members.get("MessageSystemAttributes") or {}
    if not isinstance(system, Mapping):
        raise invalid_parameter("MessageSystemAttributes", system, "must be a map")
    trace = system.get("AWSTraceHeader")
    header = trace_header
    if isinstance(trace, Mapping) and trace.get("StringValue"):
        header = str(trace["StringValue"])
    return Message(body, attributes, delay or 0, header, ids.group_id, ids.dedup_id)


@dataclass(frozen=True, slots=True)
class Receive:
    limit: int
    wait_s: int
    visibility_s: int
    system_names: list[str]  # MessageSystemAttributeNames and the older AttributeNames
    attribute_names: list[str]
    attempt_id: str | None = None  # ReceiveRequestAttemptId (FIFO queues)


def parse_receive(members: Members, default_wait_s: int, default_visibility_s: int) -> Receive:
    limit = integer(members, "MaxNumberOfMessages", 1, 10, 1) or 1
    wait = integer(members, "WaitTimeSeconds", 0, 20, default_wait_s)
    visibility = integer(members, "VisibilityTimeout", 0, MAX_VISIBILITY_S, default_visibility_s)
    return Receive(
        limit,
        wait or 0,
        visibility or 0,
        names(members, "MessageSystemAttributeNames") + names(members, "AttributeNames"),
        names(members, "MessageAttributeNames"),
        checked_id(members, "ReceiveRequestAttemptId"),
    )


def receipt_handle(members: Members) -> str | None:
    """The ``ReceiptHandle`` as text; None when it is absent."""
    value = members.get("ReceiptHandle")
    return None if value is None else str(value)


def visibility_timeout(members: Members) -> int:
    timeout = integer(members, "VisibilityTimeout", 0, MAX_VISIBILITY_S, None)
    if timeout is None:
        raise sqs_error(
            "MissingParameter", "The request must contain the parameter VisibilityTimeout."
        )
    return timeout


# -- batches -------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BatchEntry:
    id: str
    members: Members  # the entry's own members, parsed by the operation


def parse_entries(members: Members) -> list[BatchEntry]:
    """``Entries`` with SQS's batch rules: 1-10 of them, valid and distinct ids."""
    entries = members.get("Entries")
    if not entries:
        raise sqs_error("EmptyBatchRequest", "There should be at least one entry in the request.")
    if not isinstance(entries, list):
        raise invalid_parameter("Entries", "", "must be a list of structures")
    if len(entries) > 10:
        raise sqs_error(
            "TooManyEntriesInBatchRequest",
            f"Maximum number of entries per request are 10. You have sent {len(entries)}.",
        )
    if not all(isinstance(e, Mapping) for e in entries):
        raise invalid_parameter("Entries", "", "must be a list of structures")
    ids = [e.get("Id") for e in entries]
    checked: list[str] = []
    for i in ids:
        if not isinstance(i, str) or not _BATCH_ID.match(i):
            raise sqs_error(
                "InvalidBatchEntryId",
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long.",
            )
        checked.append(i)
    if len(set(checked)) != len(checked):
        raise sqs_error("BatchEntryIdsNotDistinct", "Two or more batch entries have the same Id.")
    return [BatchEntry(i, e) for i, e in zip(checked, entries, strict=True)]
