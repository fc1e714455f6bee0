"""Event invoke configuration (retries, maximum age, destinations) as a value, parsed at the edge.

One configuration per function *and* qualifier, as on Lambda: an unqualified invoke
uses ``$LATEST``'s. Members left out keep Lambda's defaults (two retries, six hours).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from lamina.arns import parse_arn
from lamina.errors import InvalidParameterValue
from lamina.events.validation import Violations, object_member, string_member

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE_S = 21_600
LATEST = "$LATEST"


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    function: str
    qualifier: str  # "$LATEST", a version number or an alias
    maximum_retry_attempts: int | None = None
    maximum_event_age_s: int | None = None
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def retries(self) -> int:
        return (
            DEFAULT_RETRIES if self.maximum_retry_attempts is None else self.maximum_retry_attempts
        )

    @property
    def max_age_s(self) -> int:
        return DEFAULT_MAX_AGE_S if self.maximum_event_age_s is None else self.maximum_event_age_s

    def shape(self, function_arn: str) -> dict[str, Any]:
        """The ``FunctionEventInvokeConfig`` shape of Lambda's API."""
        out: dict[str, Any] = {"LastModified": self.last_modified, "FunctionArn": function_arn}
        if self.maximum_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.maximum_retry_attempts
        if self.maximum_event_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.maximum_event_age_s
        out["DestinationConfig"] = {
            "OnSuccess": {"Destination": self.on_success} if self.on_success else {},
            "OnFailure": {"Destination": self.on_failure} if self.on_failure else {},
        }
        return out

    def to_json(self) -> str:
        return json.dumps(
            {
                "MaximumRetryAttempts": self.maximum_retry_attempts,
                "MaximumEventAgeInSeconds": self.maximum_event_age_s,
                "OnSuccess": self.on_success,
                "OnFailure": self.on_failure,
            }
        )

    @classmethod
    def from_json(
        cls, function: str, qualifier: str, raw: str, last_modified: float
    ) -> EventInvokeConfig:
        d = json.loads(raw)
        return cls(
            function,
            qualifier,
            d.get("MaximumRetryAttempts"),
            d.get("MaximumEventAgeInSeconds"),
            d.get("OnSuccess"),
            d.get("OnFailure"),
            last_modified,
        )


def destination_kind(arn: str) -> str:
    """``lambda``, ``sqs``, ``sns`` or ``events`` (an event bus): the destinations Lamina
    delivers to; anything else is refused."""
    parsed = parse_arn(arn)
    if parsed is not None:
        service = parsed.service
        if parsed.is_function():
            return "lambda"
        if parsed.is_queue():
            return "sqs"
        if service == "events" and parsed.resource.startswith("event-bus/"):
            return "events"
        if service == "sns" and parsed.resource and ":" not in parsed.resource:
            return "sns"
        if service in ("events", "s3"):
            raise InvalidParameterValue(
                f"The destination ARN {arn} is a {service} destination, which Lamina does not "
                "deliver to; use a Lambda function, an SQS queue, an SNS topic or an event bus."
            )
    raise InvalidParameterValue(f"The destination ARN {arn} is invalid.")


def _destination(dc: dict[str, Any], which: str) -> tuple[bool, str | None]:
    """(present, arn) for OnSuccess / OnFailure; an empty Destination clears it."""
    if which not in dc:
        return False, None
    member = dc[which]
    if member is None:
        return True, None
    if not isinstance(member, dict):
        raise InvalidParameterValue(f"DestinationConfig.{which} must be an object")
    arn = string_member(member, "Destination")
    if not arn:
        return True, None
    if len(arn) > 350:
        raise InvalidParameterValue(
            f"1 validation error detected: Value '{arn}' at "
            f"'destinationConfig.{which[0].lower() + which[1:]}.destination' failed to satisfy "
            "constraint: Member must have length less than or equal to 350"
        )
    destination_kind(arn)
    return True, arn


def parse_config(
    function: str,
    qualifier: str,
    body: dict[str, Any],
    now: float,
    base: EventInvokeConfig | None = None,
) -> EventInvokeConfig:
    """Validate a Put (``base`` None: replace everything) or Update (merge into ``base``)."""
    v = Violations()
    retries = v.integer(body, "MaximumRetryAttempts", 0, 2)
    age = v.integer(body, "MaximumEventAgeInSeconds", 60, 21_600)
    v.raise_if_any()
    dc = object_member(body, "DestinationConfig") or {}
    has_ok, on_success = _destination(dc, "OnSuccess")
    has_fail, on_failure = _destination(dc, "OnFailure")
    if base is None:
        return EventInvokeConfig(
            function, qualifier, retries, age, on_success, on_failure, last_modified=now
        )
    return replace(
        base,
        maximum_retry_attempts=retries
        if "MaximumRetryAttempts" in body
        else base.maximum_retry_attempts,
        maximum_event_age_s=age if "MaximumEventAgeInSeconds" in body else base.maximum_event_age_s,
        on_success=on_success if has_ok else base.on_success,
        on_failure=on_failure if has_fail else base.on_failure,
        last_modified=now,
    )
