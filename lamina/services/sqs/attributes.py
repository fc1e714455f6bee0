"""Queue attributes: defaults, validation with SQS's messages, the redrive policy (pure)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from lamina.arns import parse_arn
from lamina.errors import AwsServiceError
from lamina.services.sqs.errors import sqs_error

# name -> (default, lo, hi) for the numeric attributes.
NUMERIC: dict[str, tuple[int, int, int]] = {
    "DelaySeconds": (0, 0, 900),
    "MaximumMessageSize": (1_048_576, 1024, 1_048_576),
    "MessageRetentionPeriod": (345_600, 60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 0, 20),
    "VisibilityTimeout": (30, 0, 43_200),
}
# Stored and returned as given; they change nothing here.
OPAQUE = {
    "Policy",
    "RedriveAllowPolicy",
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
}
# The FIFO-only attributes, their values, and a FIFO queue's defaults (first of each).
FIFO_CHOICES: dict[str, tuple[str, ...]] = {
    "FifoQueue": ("true", "false"),
    "ContentBasedDeduplication": ("false", "true"),
    "DeduplicationScope": ("queue", "messageGroup"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
COMPUTED = {
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
}


def _invalid_value(name: str, why: str = "") -> AwsServiceError:
    return sqs_error(
        "InvalidAttributeValue",
        f"Invalid value for the parameter {name}.{' ' + why if why else ''}",
    )


@dataclass(frozen=True, slots=True)
class RedrivePolicy:
    dead_letter_arn: str
    max_receive_count: int


def parse_redrive(raw: str) -> RedrivePolicy:
    try:
        d = json.loads(raw)
        arn = d["deadLetterTargetArn"]
        count = int(d["maxReceiveCount"])
    except (ValueError, KeyError, TypeError):
        raise _invalid_value(
            "RedrivePolicy",
            "Redrive policy is not a valid JSON map with deadLetterTargetArn and maxReceiveCount.",
        ) from None
    parsed = parse_arn(arn) if isinstance(arn, str) else None
    if parsed is None or ":" in parsed.resource:
        raise _invalid_value("RedrivePolicy", "Dead-letter target ARN is not valid.")
    if not 1 <= count <= 1000:
        raise _invalid_value(
            "RedrivePolicy", "Value of maxReceiveCount must be between 1 and 1000."
        )
    return RedrivePolicy(arn, count)


def validate(attrs: dict[str, Any]) -> dict[str, str]:
    """Check settable attributes; return them as strings (SQS's representation)."""
    out: dict[str, str] = {}
    for name, value in attrs.items():
        text = str(value)
        if name in NUMERIC:
            _, lo, hi = NUMERIC[name]
            if not text.lstrip("-").isdigit() or not lo <= int(text) <= hi:
                raise _invalid_value(name)
            out[name] = str(int(text))
        elif name == "RedrivePolicy":
            if text:
                parse_redrive(text)
            out[name] = text
        elif name in FIFO_CHOICES:
            # Whether the queue is FIFO at all is checked with its name (check_queue_type).
            lowered = (
                text if name in ("DeduplicationScope", "FifoThroughputLimit") else text.lower()
            )
            if lowered not in FIFO_CHOICES[name]:
                raise _invalid_value(name)
            out[name] = lowered
        elif name in OPAQUE:
            out[name] = text
        else:
            raise sqs_error("InvalidAttributeName", f"Unknown Attribute {name}.")
    return out


def is_fifo(attrs: dict[str, str]) -> bool:
    return attrs.get("FifoQueue") == "true"


def check_queue_type(name: str, attrs: dict[str, str]) -> dict[str, str]:
    """CreateQueue's rules tying the name to the type: a FIFO queue's name ends ``.fifo``,
    and only a FIFO queue takes the FIFO attributes. Returns the attributes to store
    (``FifoQueue: false`` is the default and not kept)."""
    fifo = attrs.get("FifoQueue") == "true"
    if fifo != name.endswith(".fifo"):
        raise sqs_error(
            "InvalidParameterValue",
            "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
            "underscores, must end with .fifo suffix and be 1 to 80 in length."
            if fifo
            else "Can only include alphanumeric characters, hyphens, or underscores. "
            "1 to 80 in length",
        )
    out = {k: v for k, v in attrs.items() if not (k == "FifoQueue" and v == "false")}
    if not fifo:
        for key in FIFO_CHOICES:
            if key in out:
                raise sqs_error("InvalidAttributeName", f"Unknown Attribute {key}.")
    check_throughput(out)
    return out


def check_set_fifo(current: dict[str, str], changes: dict[str, str]) -> None:
    """SetQueueAttributes: a queue's type never changes; FIFO settings only on FIFO queues."""
    if "FifoQueue" in changes and changes["FifoQueue"] != current.get("FifoQueue", "false"):
        raise _invalid_value("FifoQueue", "Reason: Modifying queue type is not supported.")
    if not is_fifo(current):
        for key in FIFO_CHOICES:
            if key in changes and key != "FifoQueue":
                raise sqs_error("InvalidAttributeName", f"Unknown Attribute {key}.")
    check_throughput({**current, **changes})


def check_throughput(attrs: dict[str, str]) -> None:
    # High throughput (perMessageGroupId) needs deduplication per message group.
    if (
        attrs.get("FifoThroughputLimit") == "perMessageGroupId"
        and attrs.get("DeduplicationScope", "queue") != "messageGroup"
    ):
        raise _invalid_value(
            "FifoThroughputLimit",
            "Reason: The perMessageGroupId value is allowed only when the value for "
            "DeduplicationScope is messageGroup.",
        )


def with_defaults(stored: dict[str, str]) -> dict[str, str]:
    out = {name: str(default) for name, (default, _, _) in NUMERIC.items()}
    out["SqsManagedSseEnabled"] = "false"
    if is_fifo(stored):
        out.update({name: choices[0] for name, choices in FIFO_CHOICES.items()})
    out.update(stored)
    return out


def number(attrs: dict[str, str], name: str) -> int:
    return int(with_defaults(attrs)[name])


def message_limits(attrs: dict[str, str]) -> tuple[int, int]:
    """(MaximumMessageSize, DelaySeconds) of a queue, for checking a message sent to it."""
    return number(attrs, "MaximumMessageSize"), number(attrs, "DelaySeconds")
