"""Archive and replay requests parsed into typed values, with EventBridge's messages (pure)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from lamina.services.eventbridge.pattern import invalid as invalid_pattern
from lamina.services.eventbridge.pattern import parse_pattern
from lamina.services.eventbridge.requests import Members, bus_of, validation

_ARCHIVE_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,48}$")
_REPLAY_NAME = re.compile(r"^[\.\-_A-Za-z0-9]{1,64}$")
_BUS_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]*:\d{12}:event-bus/.+$")
_RULE_ARN = re.compile(r"^arn:aws[a-z-]*:events:[a-z0-9-]*:\d{12}:rule/.+$")
ARCHIVE_STATES = ("ENABLED", "DISABLED", "CREATING", "UPDATING", "CREATE_FAILED", "UPDATE_FAILED")
REPLAY_STATES = ("STARTING", "RUNNING", "CANCELLING", "COMPLETED", "CANCELLED", "FAILED")
MAX_DESCRIPTION = 512


def _pattern_error(value: object, field: str, pattern: str, limit: int) -> Exception:
    return validation(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: Member must satisfy regular expression pattern: {pattern} "
        f"and have length between 1 and {limit}"
    )


def archive_name(members: Members) -> str:
    value = members.get("ArchiveName")
    if not isinstance(value, str) or not _ARCHIVE_NAME.match(value):
        raise _pattern_error(value, "archiveName", "[\\.\\-_A-Za-z0-9]+", 48)
    return value


def replay_name(members: Members) -> str:
    value = members.get("ReplayName")
    if not isinstance(value, str) or not _REPLAY_NAME.match(value):
        raise _pattern_error(value, "replayName", "[\\.\\-_A-Za-z0-9]+", 64)
    return value


def source_bus(members: Members) -> str:
    """CreateArchive's ``EventSourceArn``: an event bus ARN, as the bus's name."""
    value = members.get("EventSourceArn")
    name = bus_of(value) if isinstance(value, str) and _BUS_ARN.match(value) else None
    if name is None:
        raise validation(
            f"Parameter EventSourceArn is not valid. Reason: {value} is not an event bus ARN."
        )
    return name


def description(members: Members) -> str | None:
    value = members.get("Description")
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_DESCRIPTION:
        raise validation(
            "1 validation error detected: Value at 'description' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_DESCRIPTION}"
        )
    return value


def event_pattern(members: Members) -> str | None:
    """An archive's optional ``EventPattern``, checked (InvalidEventPatternException)."""
    value = members.get("EventPattern")
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid_pattern("the pattern must be JSON text")
    parse_pattern(value)
    return value


def retention_days(members: Members) -> int | None:
    value = members.get("RetentionDays")
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise validation(
            f"1 validation error detected: Value '{value}' at 'retentionDays' failed to "
            "satisfy constraint: Member must have value greater than or equal to 0"
        )
    return value


def timestamp(members: Members, field: str) -> float:
    """A ``Timestamp`` member: epoch seconds on the JSON wire (an ISO text is accepted)."""
    value = members.get(field)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            pass
    raise validation(f"Parameter {field} is not valid. Reason: {field} is a required timestamp.")


@dataclass(frozen=True, slots=True)
class StartReplay:
    name: str
    description: str
    archive_arn: str
    start: float
    end: float
    destination: str  # an event bus ARN
    filter_arns: tuple[str, ...]


def parse_start_replay(members: Members, now: float) -> StartReplay:
    """StartReplay's members, checked as EventBridge checks them before it looks anything up:
    a window that starts before it ends and does not end in the future, a bus destination,
    rule ARNs as filters."""
    name = replay_name(members)
    text = description(members) or ""
    source = members.get("EventSourceArn")
    if not isinstance(source, str) or not source:
        raise validation("Parameter EventSourceArn is not valid. Reason: it is required.")
    start, end = timestamp(members, "EventStartTime"), timestamp(members, "EventEndTime")
    if start >= end:
        raise validation(
            "Parameter EventStartTime is not valid. "
            "Reason: EventStartTime must be before EventEndTime."
        )
    if end > now:
        raise validation(
            "Parameter EventEndTime is not valid. Reason: EventEndTime cannot be in the future."
        )
    destination = members.get("Destination")
    if not isinstance(destination, Mapping):
        raise validation("Parameter Destination is not valid. Reason: it is required.")
    arn = destination.get("Arn")
    if not isinstance(arn, str) or not _BUS_ARN.match(arn):
        raise validation(
            f"Parameter Destination.Arn is not valid. Reason: {arn} is not an event bus ARN."
        )
    filters = destination.get("FilterArns") or []
    if not isinstance(filters, list) or not all(
        isinstance(f, str) and _RULE_ARN.match(f) for f in filters
    ):
        raise validation("Parameter Destination.FilterArns is not valid. Reason: rule ARNs only.")
    return StartReplay(name, text, source, start, end, arn, tuple(filters))


@dataclass(frozen=True, slots=True)
class ListQuery:
    prefix: str
    state: str | None
    source_arn: str | None
    limit: int
    next_token: str | None


def parse_list(members: Members, states: tuple[str, ...]) -> ListQuery:
    """ListArchives' and ListReplays' filters (a prefix, a state, a source ARN) and page."""
    prefix = members.get("NamePrefix") or ""
    state = members.get("State")
    if state is not None and state not in states:
        raise validation(
            f"1 validation error detected: Value '{state}' at 'state' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(states)}]"
        )
    limit = members.get("Limit") or 100
    if not isinstance(limit, int) or not 1 <= limit <= 100:
        raise validation("Limit must be between 1 and 100")
    source = members.get("EventSourceArn")
    token = members.get("NextToken")
    return ListQuery(
        str(prefix),
        state,
        source if isinstance(source, str) else None,
        limit,
        str(token) if token else None,
    )
