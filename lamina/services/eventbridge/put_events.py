"""PutEvents' entries checked and turned into events, with EventBridge's answers (pure).

A request is refused whole (ValidationException) when it has no entries, more than 10, or
more than 256 KB of them; otherwise each entry is accepted (an event with a fresh UUID)
or failed on its own (``ErrorCode``/``ErrorMessage``), as EventBridge answers.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lamina.services.eventbridge.requests import Members, bus_of, validation

MAX_ENTRIES = 10
MAX_BYTES = 256 * 1024
_TIME_BYTES = 14  # EventBridge counts a Time as 14 bytes whether it is given or not


@dataclass(frozen=True, slots=True)
class Failed:
    code: str
    message: str


Outcome = dict[str, Any] | Failed  # the event's envelope, or why the entry failed


def entry_size(entry: Mapping[str, Any]) -> int:
    """An entry's size as EventBridge counts it toward the 256 KB."""
    size = _TIME_BYTES
    for field in ("Source", "DetailType", "Detail"):
        value = entry.get(field)
        if isinstance(value, str):
            size += len(value.encode())
    resources = entry.get("Resources")
    if isinstance(resources, list):
        size += sum(len(r.encode()) for r in resources if isinstance(r, str))
    return size


def parse_entries(members: Members) -> list[Mapping[str, Any]]:
    raw = members.get("Entries")
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_ENTRIES:
        count = len(raw) if isinstance(raw, list) else 0
        raise validation(
            f"1 validation error detected: Value with {count} entries at 'entries' failed to "
            f"satisfy constraint: Member must have length between 1 and {MAX_ENTRIES}"
        )
    if not all(isinstance(e, Mapping) for e in raw):
        raise validation("Each entry must be an object")
    if sum(entry_size(e) for e in raw) > MAX_BYTES:
        raise validation("Total size of the entries in the request is over the limit.")
    return raw


def _required(field: str) -> Failed:
    return Failed(
        "InvalidArgument",
        f"Parameter {field} is not valid. Reason: {field} is a required argument.",
    )


def _time(value: object, now: float) -> str | None:
    """The event's time: the entry's ``Time`` (epoch seconds on the wire) or now."""
    if value is None:
        value = now
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_event(
    entry: Mapping[str, Any],
    *,
    region: str,
    account: str,
    now: float,
    exists: Callable[[str], bool] = lambda bus: bus == "default",
) -> Outcome:
    """One entry as the event rules see: ``{version, id, detail-type, source, ...}``.

    Its ``EventBusName`` (a name or an ARN, ``default`` when left out) must name a bus
    that ``exists``; which bus it is, is :func:`lamina.services.eventbridge.requests.bus_of`'s
    answer."""
    bus = entry.get("EventBusName")
    name = bus_of(bus)
    if name is None or not exists(name):
        return Failed("ResourceNotFoundException", f"Event bus {bus} does not exist.")
    source, detail_type, detail = entry.get("Source"), entry.get("DetailType"), entry.get("Detail")
    for field, value in (("Source", source), ("DetailType", detail_type), ("Detail", detail)):
        if not isinstance(value, str) or not value:
            return _required(field)
    assert isinstance(detail, str)
    try:
        body = json.loads(detail)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return Failed("MalformedDetail", "Detail is malformed.")
    resources = entry.get("Resources") or []
    if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
        return Failed("InvalidArgument", "Parameter Resources is not valid.")
    time = _time(entry.get("Time"), now)
    if time is None:
        return Failed("InvalidArgument", "Parameter Time is not valid.")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": time,
        "region": region,
        "resources": resources,
        "detail": body,
    }


def answer(outcomes: list[Outcome]) -> dict[str, Any]:
    """PutEvents' response: ``FailedEntryCount`` and one result per entry, in order."""
    entries: list[dict[str, str]] = [
        {"ErrorCode": o.code, "ErrorMessage": o.message}
        if isinstance(o, Failed)
        else {"EventId": o["id"]}
        for o in outcomes
    ]
    return {
        "FailedEntryCount": sum(isinstance(o, Failed) for o in outcomes),
        "Entries": entries,
    }
