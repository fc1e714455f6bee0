"""FIFO queues' rules: message group and deduplication ids, and which messages a receive
may take (pure).

A FIFO queue keeps each message group in the order it was sent and hands out one group's
messages only while none of that group is in flight: a receive skips a group that has a
message received and neither deleted nor visible again. Within one receive, SQS first
returns as many messages of one group as it can, oldest group first. A message whose
deduplication id (given, or the SHA-256 of its body with ``ContentBasedDeduplication``)
was accepted in the last five minutes, in the same queue or (``DeduplicationScope:
messageGroup``) the same group, is accepted again but not stored.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.sqs.attributes import is_fifo, with_defaults
from lamina.services.sqs.errors import invalid_parameter, sqs_error

DEDUP_WINDOW_S = 300.0
# Group and deduplication ids: 1-128 of alphanumerics and ASCII punctuation.
_TOKEN = re.compile(r"^[A-Za-z0-9!\"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~]{1,128}$")
# Sequence numbers are 20-digit strings that grow with every message a queue stores.
_SEQUENCE_BASE = 18_000_000_000_000_000_000


@dataclass(frozen=True, slots=True)
class FifoSettings:
    """What sending to a FIFO queue depends on."""

    content_based: bool  # ContentBasedDeduplication
    per_group: bool  # DeduplicationScope: messageGroup


def fifo_settings(attrs: dict[str, str]) -> FifoSettings | None:
    """The queue's FIFO settings; None for a standard queue."""
    if not is_fifo(attrs):
        return None
    full = with_defaults(attrs)
    return FifoSettings(
        full["ContentBasedDeduplication"] == "true",
        full["DeduplicationScope"] == "messageGroup",
    )


def checked_id(members: Mapping[str, Any], name: str) -> str | None:
    """A group, deduplication or receive attempt id, checked; None when absent."""
    value = members.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not _TOKEN.match(value):
        raise invalid_parameter(
            name,
            value,
            f"{name} can only include alphanumeric and punctuation characters. 1 to 128 in length.",
        )
    return value


def _wrong_queue_type(name: str, value: object) -> AwsServiceError:
    return invalid_parameter(
        name, value, "The request include parameter that is not valid for this queue type."
    )


@dataclass(frozen=True, slots=True)
class MessageIds:
    group_id: str | None
    dedup_id: str | None


def message_ids(members: Mapping[str, Any], body: str, fifo: FifoSettings | None) -> MessageIds:
    """A message's group and deduplication ids, with SQS's refusals.

    A standard queue takes a ``MessageGroupId`` (fair queues) but no deduplication id.
    A FIFO queue needs a group id, a deduplication id unless it deduplicates by content,
    and refuses a per-message ``DelaySeconds`` other than 0 (FIFO delays are the queue's).
    """
    group = checked_id(members, "MessageGroupId")
    dedup = checked_id(members, "MessageDeduplicationId")
    if fifo is None:
        if dedup is not None:
            raise _wrong_queue_type("MessageDeduplicationId", dedup)
        return MessageIds(group, None)
    if members.get("DelaySeconds") not in (None, 0, "0"):  # 0 asks for nothing: accepted
        raise _wrong_queue_type("DelaySeconds", members.get("DelaySeconds"))
    if group is None:
        raise sqs_error(
            "MissingParameter", "The request must contain the parameter MessageGroupId."
        )
    if dedup is None:
        if not fifo.content_based:
            raise sqs_error(
                "InvalidParameterValue",
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly",
            )
        dedup = hashlib.sha256(body.encode()).hexdigest()
    return MessageIds(group, dedup)


def dedup_scope(per_group: bool, group_id: str) -> str:
    """The key deduplication ids are unique within: the group's, or the queue's ("")."""
    return group_id if per_group else ""


def sequence_number(seq: int) -> str:
    return str(_SEQUENCE_BASE + seq)


@dataclass(frozen=True, slots=True)
class Candidate:
    """A visible message of a FIFO queue, as the receive sees it."""

    seq: int
    group_id: str


def pick(
    visible: Iterable[Candidate],
    locked: set[str],
    limit: int,
    of_group: Callable[[str, int], list[Candidate]],
) -> list[Candidate]:
    """Which visible messages one receive takes, in the order it returns them.

    ``visible`` are the visible messages in the order they were sent (read lazily: the
    scan stops once the receive is full); ``locked`` are the groups with a message in
    flight; ``of_group(group, n)`` is a group's first ``n`` visible messages. The oldest
    unlocked group's messages come first, as many as fit, then the next group's.
    """
    out: list[Candidate] = []
    seen: set[str] = set()
    for c in visible:
        if c.group_id in locked or c.group_id in seen:
            continue
        seen.add(c.group_id)
        out.extend(of_group(c.group_id, limit - len(out)))
        if len(out) >= limit:
            break
    return out
