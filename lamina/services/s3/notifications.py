"""Bucket notification configuration and the S3 event records it produces (pure).

A configuration routes ``s3:ObjectCreated:*`` / ``s3:ObjectRemoved:*`` (or exact event
names) with optional ``prefix`` / ``suffix`` key filters to Lambda functions, SQS queues
or SNS topics. The records follow S3's event shape (``eventVersion`` 2.1): the key URL-encoded
with spaces as ``+``, the object's size and ETag, and a ``sequencer`` that orders events
for the same key.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote_plus

from lamina.arns import bucket_arn
from lamina.errors import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
EVENT_NAMES = {
    "s3:ObjectCreated:*",
    "s3:ObjectCreated:Put",
    "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy",
    "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete",
    "s3:ObjectRemoved:DeleteMarkerCreated",
}


@dataclass(frozen=True, slots=True)
class NotificationRoute:
    id: str
    kind: str  # "lambda" | "queue" | "topic"
    target: str  # function, queue or topic ARN
    events: tuple[str, ...]
    prefix: str = ""
    suffix: str = ""

    def matches(self, event_name: str, key: str) -> bool:
        """``event_name`` like ``ObjectCreated:Put``."""
        full = f"s3:{event_name}"
        family = full.split(":")[1]
        if not any(e == full or e == f"s3:{family}:*" for e in self.events):
            return False
        return key.startswith(self.prefix) and key.endswith(self.suffix)


class NotificationSink(Protocol):
    """Where the S3 service hands a bucket's events (:class:`lamina.events.s3.dispatch.Notifier`):
    to every route whose events and key filters match, ``make_record(configuration_id)``."""

    async def notify(
        self,
        routes: list[NotificationRoute],
        event_name: str,
        key: str,
        make_record: Callable[[str], dict[str, Any]],
    ) -> int: ...


def _text(el: ET.Element, name: str) -> str:
    child = el.find(f"{{{NS}}}{name}")
    if child is None:
        child = el.find(name)
    return (child.text or "").strip() if child is not None else ""


def _all(el: ET.Element, name: str) -> list[ET.Element]:
    return el.findall(f"{{{NS}}}{name}") + el.findall(name)


def parse_configuration(xml: bytes) -> list[NotificationRoute]:
    """Parse PutBucketNotificationConfiguration's body; raise S3Error for bad input."""
    try:
        root = ET.fromstring(xml) if xml.strip() else ET.Element("NotificationConfiguration")
    except ET.ParseError:
        raise S3Error("MalformedXML", "The XML you provided was not well-formed", 400) from None
    routes: list[NotificationRoute] = []
    for tag, target_tag, kind in (
        ("CloudFunctionConfiguration", "CloudFunction", "lambda"),
        ("QueueConfiguration", "Queue", "queue"),
        ("TopicConfiguration", "Topic", "topic"),
    ):
        for el in _all(root, tag):
            target = _text(el, target_tag)
            events = tuple(e.text.strip() for e in _all(el, "Event") if e.text)
            if not target or not events:
                raise S3Error("InvalidArgument", f"{tag} needs a target ARN and events", 400)
            for e in events:
                if e not in EVENT_NAMES:
                    raise S3Error(
                        "InvalidArgument", f"The event {e} is not supported for notifications", 400
                    )
            if kind == "queue" and target.endswith(".fifo"):
                # S3's rule ("FIFO queues are not allowed when enabling an SQS queue as the
                # event notification destination") and its refusal of a destination.
                raise S3Error(
                    "InvalidArgument",
                    "Unable to validate the following destination configurations",
                    400,
                )
            prefix = suffix = ""
            for rule in el.iter():
                if rule.tag.endswith("FilterRule"):
                    name = _text(rule, "Name").lower()
                    if name == "prefix":
                        prefix = _text(rule, "Value")
                    elif name == "suffix":
                        suffix = _text(rule, "Value")
                    else:
                        raise S3Error(
                            "InvalidArgument",
                            "filter rule name must be either prefix or suffix",
                            400,
                        )
            routes.append(
                NotificationRoute(
                    _text(el, "Id") or str(uuid.uuid4()), kind, target, events, prefix, suffix
                )
            )
    return routes


def render_configuration(routes: list[NotificationRoute]) -> bytes:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><NotificationConfiguration xmlns="{NS}">']
    for r in routes:
        tag, target_tag = {
            "lambda": ("CloudFunctionConfiguration", "CloudFunction"),
            "topic": ("TopicConfiguration", "Topic"),
        }.get(r.kind, ("QueueConfiguration", "Queue"))
        rules = "".join(
            f"<FilterRule><Name>{n}</Name><Value>{v}</Value></FilterRule>"
            for n, v in (("prefix", r.prefix), ("suffix", r.suffix))
            if v
        )
        filt = f"<Filter><S3Key>{rules}</S3Key></Filter>" if rules else ""
        events = "".join(f"<Event>{e}</Event>" for e in r.events)
        parts.append(
            f"<{tag}><Id>{r.id}</Id><{target_tag}>{r.target}</{target_tag}>{events}{filt}</{tag}>"
        )
    parts.append("</NotificationConfiguration>")
    return "".join(parts).encode()


def s3_record(
    *,
    event_name: str,
    bucket: str,
    key: str,
    size: int | None,
    etag: str | None,
    sequencer: str,
    configuration_id: str,
    region: str,
    principal: str,
    source_ip: str,
    request_id: str,
    when: float,
) -> dict[str, Any]:
    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if size is not None:
        obj["size"] = size
    if etag is not None:
        obj["eTag"] = etag
    t = datetime.fromtimestamp(when, UTC)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z",
        "eventName": event_name,
        "userIdentity": {"principalId": principal},
        "requestParameters": {"sourceIPAddress": source_ip},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": request_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id,
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": principal},
                "arn": bucket_arn(bucket),
            },
            "object": obj,
        },
    }
