"""SQS message move tasks (dead-letter queue redrive): the pure decisions.

``StartMessageMoveTask`` moves a dead-letter queue's messages to a destination queue, or,
without ``DestinationArn``, each back to the queue it was dead-lettered from. A task is
RUNNING until the source has nothing left of what it held at the start (COMPLETED), until
``CancelMessageMoveTask`` (CANCELLED at once: Lamina never shows CANCELLING) or until a message cannot be moved
(FAILED, with a ``FailureReason``). One task per source queue runs at a time.

The task handle is opaque to clients; Lamina's is ``<task id>:<source queue ARN>``
base64-encoded, so that a cancel can name the source queue it concerns.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.services.sqs.errors import invalid_parameter, sqs_error

MAX_RATE = 500  # SQS's limit on MaxNumberOfMessagesPerSecond
DEFAULT_RATE = 500  # Lamina's when none is given (SQS chooses by backlog)
MAX_LIST = 10  # ListMessageMoveTasks' MaxResults upper limit
RUNNING, COMPLETED, CANCELLING, CANCELLED, FAILED = (
    "RUNNING",
    "COMPLETED",
    "CANCELLING",
    "CANCELLED",
    "FAILED",
)


@dataclass(frozen=True, slots=True)
class StartRequest:
    source_arn: str
    destination_arn: str | None
    rate: int | None


@dataclass(frozen=True, slots=True)
class MoveTask:
    task_id: str
    source_arn: str
    destination_arn: str | None
    rate: int | None
    status: str
    moved: int
    to_move: int
    failure: str | None
    started_ms: int


def _text(members: Mapping[str, Any], name: str, required: bool) -> str | None:
    value = members.get(name)
    if value is None or value == "":
        if required:
            raise sqs_error("MissingParameter", f"The request must contain the parameter {name}.")
        return None
    if not isinstance(value, str):
        raise invalid_parameter(name, value, "it must be a string.")
    return value


def _int(members: Mapping[str, Any], name: str) -> int | None:
    value = members.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_parameter(name, value, "it must be an integer.") from None


def parse_start(members: Mapping[str, Any]) -> StartRequest:
    """StartMessageMoveTask's members; InvalidParameterValue for a rate outside 1-500."""
    source = _text(members, "SourceArn", True)
    assert source is not None
    rate = _int(members, "MaxNumberOfMessagesPerSecond")
    if rate is not None and not 1 <= rate <= MAX_RATE:
        raise invalid_parameter(
            "MaxNumberOfMessagesPerSecond", rate, f"it must be between 1 and {MAX_RATE}."
        )
    return StartRequest(source, _text(members, "DestinationArn", False), rate)


def parse_list(members: Mapping[str, Any]) -> tuple[str, int]:
    """ListMessageMoveTasks' (SourceArn, MaxResults): MaxResults 1-10, 1 when absent."""
    source = _text(members, "SourceArn", True)
    assert source is not None
    limit = _int(members, "MaxResults")
    if limit is None:
        return source, 1
    if not 1 <= limit <= MAX_LIST:
        raise invalid_parameter("MaxResults", limit, f"it must be between 1 and {MAX_LIST}.")
    return source, limit


def task_handle(task_id: str, source_arn: str) -> str:
    return base64.urlsafe_b64encode(f"{task_id}:{source_arn}".encode()).decode()


def parse_handle(handle: str) -> tuple[str, str] | None:
    """(task id, source ARN) of a handle; None when it is not one of Lamina's."""
    try:
        text = base64.urlsafe_b64decode(handle.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    task_id, colon, source = text.partition(":")
    if not colon or not task_id or not source.startswith("arn:"):
        return None
    return task_id, source


def batch_size(rate: int | None) -> int:
    """How many messages a task moves per second-long step (one transaction per step)."""
    return DEFAULT_RATE if rate is None else rate


def is_active(status: str) -> bool:
    return status in (RUNNING, CANCELLING)


def after_step(left: int) -> str:
    """A running task's status after a step that left ``left`` messages to move (a cancel
    ends a task at once, CANCELLED, without a step)."""
    return COMPLETED if left <= 0 else RUNNING


def entry(task: MoveTask) -> dict[str, Any]:
    """A ListMessageMoveTasks result entry, as SQS shapes it: the handle only while the
    task runs, the destination and rate only when given, the reason only when FAILED."""
    out: dict[str, Any] = {
        "Status": task.status,
        "SourceArn": task.source_arn,
        "ApproximateNumberOfMessagesMoved": task.moved,
        "ApproximateNumberOfMessagesToMove": task.to_move,
        "StartedTimestamp": task.started_ms,
    }
    if task.status == RUNNING:
        out["TaskHandle"] = task_handle(task.task_id, task.source_arn)
    if task.destination_arn is not None:
        out["DestinationArn"] = task.destination_arn
    if task.rate is not None:
        out["MaxNumberOfMessagesPerSecond"] = task.rate
    if task.status == FAILED and task.failure:
        out["FailureReason"] = task.failure
    return out
