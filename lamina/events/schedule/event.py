"""The event a schedule delivers to its targets (pure)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from lamina.services.eventbridge.input_path import select
from lamina.services.eventbridge.input_transformer import InputTransformer, transform


def scheduled_event(
    rule_arn: str, tick: datetime, region: str, account: str, *, source: str = "aws.events"
) -> dict[str, Any]:
    """``{"version":"0","detail-type":"Scheduled Event","source":"aws.events",...}``
    (``aws.scheduler`` and the schedule's ARN for EventBridge Scheduler's default event)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": source,
        "account": account,
        "time": tick.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def target_payload(
    event: dict[str, Any],
    input_text: str | None,
    input_path: str | None,
    transformer: str | None = None,
    *,
    rule_arn: str = "",
    rule_name: str = "",
) -> bytes:
    """What a target receives: the event, a constant ``Input``, the ``InputPath`` part, or
    the ``InputTransformer``'s template filled from the event (as JSON text)."""
    if input_text is not None:
        return input_text.encode()
    if transformer is not None:
        return transform(
            event, InputTransformer.from_json(transformer), rule_arn=rule_arn, rule_name=rule_name
        )
    return json.dumps(select(event, input_path), separators=(",", ":")).encode()
