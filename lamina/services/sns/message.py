"""A published message: its parsing and limits, and what each subscriber is sent (pure).

A ``lambda`` subscriber is invoked with Lambda's SNS event (``Records[0].Sns``); an ``sqs``
subscriber is sent SNS's JSON notification (``SigningCertURL``, ``UnsubscribeURL``) or,
with ``RawMessageDelivery``, the message itself with its attributes as the SQS message's.

Lamina cannot sign as AWS: ``Signature`` is the base64 SHA-256 digest of SNS's string to
sign (the same fields in the same order), which detects a damaged message but proves
nothing, and ``SigningCertUrl`` names no certificate. A consumer that verifies SNS
signatures must skip that check against Lamina.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lamina.services.sns.errors import invalid_parameter, invalid_value
from lamina.services.sns.filter import Attribute

MAX_MESSAGE_BYTES = 262_144  # message, subject and attributes together, as AWS counts
MAX_SUBJECT_CHARS = 99
_ATTRIBUTE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,256}$")
_TYPES = ("String", "Number", "Binary")


@dataclass(frozen=True, slots=True)
class Published:
    """What a ``Publish`` (or one ``PublishBatch`` entry) asked to send."""

    message: str
    subject: str | None
    attributes: dict[str, Attribute]
    per_protocol: dict[str, str] | None  # MessageStructure json: protocol -> message

    def message_for(self, protocol: str) -> str:
        """The message a subscriber of ``protocol`` gets (``default`` unless named)."""
        if self.per_protocol is None:
            return self.message
        return self.per_protocol.get(protocol, self.per_protocol["default"])


def parse_published(members: Mapping[str, Any]) -> Published:
    """A Publish request's message, checked as SNS does; raises InvalidParameter /
    ParameterValueInvalid for what SNS refuses."""
    message = members.get("Message")
    if not isinstance(message, str) or not message:
        raise invalid_parameter("Invalid parameter: Empty message")
    subject = members.get("Subject")
    if subject is not None and (
        not isinstance(subject, str)
        or not subject
        or len(subject) > MAX_SUBJECT_CHARS
        or any(ord(c) < 32 for c in subject)
    ):
        raise invalid_parameter("Invalid parameter: Subject")
    structure = members.get("MessageStructure")
    per_protocol = None
    if structure is not None:
        if structure != "json":
            raise invalid_parameter("Invalid parameter: MessageStructure")
        per_protocol = _per_protocol(message)
    raw_attributes = members.get("MessageAttributes") or {}
    if not isinstance(raw_attributes, dict):
        raise invalid_parameter("Invalid parameter: MessageAttributes")
    attributes = {name: _attribute(name, value) for name, value in raw_attributes.items()}
    size = len(message.encode()) + len((subject or "").encode())
    size += sum(len(k) + len(a.data_type) + len(a.value) for k, a in attributes.items())
    if size > MAX_MESSAGE_BYTES:
        raise invalid_parameter("Invalid parameter: Message too long")
    return Published(message, subject, attributes, per_protocol)


def _per_protocol(message: str) -> dict[str, str]:
    try:
        parsed = json.loads(message)
    except ValueError:
        raise invalid_parameter(
            "Invalid parameter: Message Structure - JSON message body failed to parse"
        ) from None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("default"), str):
        raise invalid_parameter(
            "Invalid parameter: Message Structure - No default entry in JSON message body"
        )
    # Non-string values are ignored, as SNS does.
    return {k: v for k, v in parsed.items() if isinstance(v, str)}


def _attribute(name: str, value: Any) -> Attribute:
    if not _ATTRIBUTE_NAME.match(name) or name.startswith(("AWS.", "Amazon.")) or ".." in name:
        raise invalid_value(f"The message attribute name '{name}' is invalid.")
    if not isinstance(value, dict):
        raise invalid_value(f"The message attribute '{name}' must be a structure.")
    data_type = value.get("DataType")
    if not isinstance(data_type, str) or not data_type.startswith(_TYPES):
        raise invalid_value(
            f"The message attribute '{name}' has an invalid message attribute type, the set "
            "of supported type prefixes is Binary, Number, and String."
        )
    if data_type.startswith("Binary"):
        raw = value.get("BinaryValue")
        try:
            ok = isinstance(raw, str) and bool(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            ok = False
        if not ok:
            raise invalid_value(
                f"The message attribute '{name}' must contain non-empty message attribute "
                f"value for message attribute type '{data_type}'."
            )
        assert isinstance(raw, str)
        return Attribute(data_type, raw)
    text = value.get("StringValue")
    if not isinstance(text, str) or not text:
        raise invalid_value(
            f"The message attribute '{name}' must contain non-empty message attribute value "
            f"for message attribute type '{data_type}'."
        )
    if data_type.startswith("Number"):
        try:
            float(text)
        except ValueError:
            raise invalid_value(
                f"Could not cast message attribute '{name}' value to number."
            ) from None
    if data_type.startswith("String.Array"):
        try:
            ok = isinstance(json.loads(text), list)
        except ValueError:
            ok = False
        if not ok:
            raise invalid_value(
                f"Invalid attribute {name}: the value of a String.Array attribute must be a "
                "JSON array."
            )
    return Attribute(data_type, text)


# -- what subscribers get ---------------------------------------------------------------
def iso_millis(epoch: float) -> str:
    """SNS's timestamps: ISO 8601, UTC, milliseconds (``2019-01-02T12:45:07.000Z``)."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{int(epoch * 1000) % 1000:03d}Z"
    )


@dataclass(frozen=True, slots=True)
class Notification:
    """One published message as a subscriber sees it (its ids, time and links)."""

    message_id: str
    topic_arn: str
    subscription_arn: str
    timestamp: str  # ISO 8601 with milliseconds, Z
    endpoint: str  # Lamina's, for the unsubscribe and certificate links

    @property
    def unsubscribe_url(self) -> str:
        # With SNS's version, so the link reaches SNS on Lamina's shared port (an unsigned
        # GET: served in dev mode, refused once access keys are configured).
        arn = quote(self.subscription_arn, safe=":")
        return f"{self.endpoint}/?Action=Unsubscribe&SubscriptionArn={arn}&Version=2010-03-31"

    @property
    def signing_cert_url(self) -> str:
        return f"{self.endpoint}/SimpleNotificationService-lamina.pem"


def signature(text: str, note: Notification, subject: str | None) -> str:
    """A digest of SNS's string to sign, not a signature (see the module's docstring)."""
    fields = [("Message", text), ("MessageId", note.message_id)]
    if subject is not None:
        fields.append(("Subject", subject))
    fields += [
        ("Timestamp", note.timestamp),
        ("TopicArn", note.topic_arn),
        ("Type", "Notification"),
    ]
    canonical = "".join(f"{k}\n{v}\n" for k, v in fields)
    return base64.b64encode(hashlib.sha256(canonical.encode()).digest()).decode()


def _attributes_json(published: Published) -> dict[str, dict[str, str]]:
    return {k: {"Type": a.data_type, "Value": a.value} for k, a in published.attributes.items()}


def lambda_event(published: Published, note: Notification) -> dict[str, Any]:
    """The event a ``lambda`` subscriber is invoked with, as Lambda's SNS event."""
    text = published.message_for("lambda")
    return {
        "Records": [
            {
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": note.subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": note.message_id,
                    "TopicArn": note.topic_arn,
                    "Subject": published.subject,
                    "Message": text,
                    "Timestamp": note.timestamp,
                    "SignatureVersion": "1",
                    "Signature": signature(text, note, published.subject),
                    "SigningCertUrl": note.signing_cert_url,
                    "UnsubscribeUrl": note.unsubscribe_url,
                    "MessageAttributes": _attributes_json(published),
                },
            }
        ]
    }


def queue_body(published: Published, note: Notification) -> str:
    """The body an ``sqs`` subscriber without raw delivery gets: SNS's JSON notification."""
    text = published.message_for("sqs")
    body: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": note.message_id,
        "TopicArn": note.topic_arn,
    }
    if published.subject is not None:
        body["Subject"] = published.subject
    body |= {
        "Message": text,
        "Timestamp": note.timestamp,
        "SignatureVersion": "1",
        "Signature": signature(text, note, published.subject),
        "SigningCertURL": note.signing_cert_url,
        "UnsubscribeURL": note.unsubscribe_url,
    }
    if published.attributes:
        body["MessageAttributes"] = _attributes_json(published)
    return json.dumps(body, indent=2)


def raw_attributes(published: Published) -> dict[str, tuple[str, str]]:
    """The SQS message attributes of a raw delivery: the published ones, as they are."""
    return {k: (a.data_type, a.value) for k, a in published.attributes.items()}
