"""Validation of messages and message attributes, and what ReceiveMessage returns (pure)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from lamina.services.sqs.errors import invalid_parameter, sqs_error
from lamina.services.sqs.md5 import md5_of_attributes, md5_of_body
from lamina.services.sqs.store import AttributeMap, NewMessage, ReceivedMessage

_ATTR_NAME = re.compile(r"^[A-Za-z0-9_\-.]{1,256}$")
# XML 1.0's characters, which SQS allows in bodies and string attribute values.
_BAD_CHARS = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
SYSTEM_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SentTimestamp",
    "SenderId",
    "AWSTraceHeader",
    "MessageGroupId",
    "MessageDeduplicationId",
    "SequenceNumber",
)


@dataclass(frozen=True, slots=True)
class Message:
    """One message to send, checked: SendMessage's members or one batch entry's."""

    body: str
    attributes: AttributeMap
    delay_s: int
    trace_header: str | None
    group_id: str | None = None
    dedup_id: str | None = None

    def stored(self, sender_id: str) -> NewMessage:
        """The message as the store keeps it, with the digests SQS answers with."""
        system = {"SenderId": sender_id}
        if self.trace_header is not None:
            system["AWSTraceHeader"] = self.trace_header
        return NewMessage(
            self.body,
            self.attributes,
            md5_of_body(self.body),
            md5_of_attributes(self.attributes) if self.attributes else None,
            system,
            self.delay_s,
            self.group_id,
            self.dedup_id,
        )


def check_body(body: object) -> str:
    if not isinstance(body, str) or not body:
        raise sqs_error("MissingParameter", "The request must contain the parameter MessageBody.")
    if _BAD_CHARS.search(body):
        raise sqs_error(
            "InvalidMessageContents",
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | "
            "#x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF",
        )
    return body


def check_attributes(raw: object) -> tuple[AttributeMap, int]:
    """Validate MessageAttributes; returns them (JSON shape) and their size in bytes."""
    if raw is None:
        return {}, 0
    if not isinstance(raw, dict):
        raise invalid_parameter("MessageAttributes", raw, "must be a map")
    if len(raw) > 10:
        raise invalid_parameter(
            "MessageAttributes", len(raw), "Number of message attributes exceeds 10."
        )
    out: AttributeMap = {}
    size = 0
    for name, value in raw.items():
        lowered = name.lower()
        if (
            not _ATTR_NAME.match(name)
            or lowered.startswith(("aws.", "amazon."))
            or name.startswith(".")
            or name.endswith(".")
            or ".." in name
        ):
            raise invalid_parameter("MessageAttributes", name, "Invalid message attribute name.")
        if not isinstance(value, dict):
            raise invalid_parameter("MessageAttributes", name, "must be a structure")
        data_type = value.get("DataType")
        if not isinstance(data_type, str) or not data_type.startswith(
            ("String", "Number", "Binary")
        ):
            raise invalid_parameter(
                "MessageAttributes",
                name,
                "The type of message attribute must be String, Number or Binary.",
            )
        entry = {"DataType": data_type}
        if data_type.startswith("Binary"):
            b = value.get("BinaryValue")
            try:
                raw_bytes = b if isinstance(b, bytes) else base64.b64decode(str(b), validate=True)
            except (binascii.Error, ValueError):
                raise invalid_parameter(
                    "MessageAttributes", name, "Invalid binary value."
                ) from None
            if b is None or not raw_bytes:
                raise invalid_parameter(
                    "MessageAttributes",
                    name,
                    f"Message attribute '{name}' must contain a non-empty value of message attribute type '{data_type}'.",
                )
            entry["BinaryValue"] = base64.b64encode(raw_bytes).decode()
            size += len(raw_bytes)
        else:
            s = value.get("StringValue")
            if not isinstance(s, str) or not s:
                raise invalid_parameter(
                    "MessageAttributes",
                    name,
                    f"Message attribute '{name}' must contain a non-empty value of message "
                    f"attribute type '{data_type}'.",
                )
            if data_type.startswith("Number"):
                try:
                    float(s)
                except ValueError:
                    raise invalid_parameter(
                        "MessageAttributes",
                        name,
                        f"Could not cast message attribute '{name}' value to number.",
                    ) from None
            if _BAD_CHARS.search(s):
                raise sqs_error("InvalidMessageContents", f"Invalid characters in attribute {name}")
            entry["StringValue"] = s
            size += len(s.encode())
        size += len(name.encode()) + len(data_type.encode())
        out[name] = entry
    return out, size


def _wanted_system(names: list[str]) -> set[str]:
    if "All" in names:
        return set(SYSTEM_ATTRIBUTES)
    return set(names)


def _wanted_attribute(name: str, patterns: list[str]) -> bool:
    for p in patterns:
        if p in ("All", ".*") or p == name or (p.endswith(".*") and name.startswith(p[:-1])):
            return True
    return False


def message_shape(
    m: ReceivedMessage, system_names: list[str], attribute_names: list[str]
) -> dict[str, Any]:
    """One ``Message`` of a ReceiveMessage answer, with only the attributes asked for."""
    out: dict[str, Any] = {
        "MessageId": m.message_id,
        "ReceiptHandle": m.receipt_handle,
        "MD5OfBody": m.md5_body,
        "Body": m.body,
    }
    wanted = _wanted_system(system_names)
    every = {
        "ApproximateReceiveCount": str(m.receive_count),
        "ApproximateFirstReceiveTimestamp": str(m.first_receive_ms),
        "SentTimestamp": str(m.sent_ms),
        **m.system_attributes,
    }
    attrs = {k: v for k, v in every.items() if k in wanted}
    if attrs:
        out["Attributes"] = attrs
    chosen = {k: v for k, v in m.attributes.items() if _wanted_attribute(k, attribute_names)}
    if chosen:
        out["MD5OfMessageAttributes"] = md5_of_attributes(chosen)
        out["MessageAttributes"] = chosen
    return out
