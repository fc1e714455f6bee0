"""History events and cursors as the store writes them (JSON text), and back.

A JSON document the history shows as text (a state's input or output) is stored as itself
under ``{"$doc": ...}``, not as an escaped string: its text is already made, and embedding
it costs nothing.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.services.stepfunctions.records import HistoryEntry
from lamina.workflows.steps import JsonDoc


def _doc_text(value: Any) -> str:
    if isinstance(value, JsonDoc):
        return value.text()
    raise TypeError(f"{type(value).__name__} is not JSON")


# One encoder for every write (json.dumps would build one per call, on the hot path).
dumps = json.JSONEncoder(separators=(",", ":"), default=_doc_text).encode


def details_text(details: dict[str, Any]) -> str:
    """An event's details as JSON (documents embedded under ``$doc``)."""
    if not details:
        return "{}"
    parts = []
    for key, value in details.items():
        if isinstance(value, JsonDoc):
            parts.append(f'{dumps(key)}:{{"$doc":{value.text()}}}')
        else:
            parts.append(f"{dumps(key)}:{dumps(value)}")
    return "{" + ",".join(parts) + "}"


def details_value(details: dict[str, Any]) -> dict[str, Any]:
    return {
        k: JsonDoc(v["$doc"]) if isinstance(v, dict) and set(v) == {"$doc"} else v
        for k, v in details.items()
    }


def events_text(events: list[HistoryEntry]) -> str:
    """Events as one JSON array of ``[id, type, timestamp, previous, details]``."""
    rows = ",".join(
        f"[{e.id},{dumps(e.type)},{e.timestamp!r},{e.previous},{details_text(e.details)}]"
        for e in events
    )
    return f"[{rows}]"


def events_value(text: str) -> list[HistoryEntry]:
    return [
        HistoryEntry(id_, type_, ts, previous, details_value(details))
        for id_, type_, ts, previous, details in json.loads(text)
    ]


def cursor_text(cursor: dict[str, Any]) -> str:
    """A cursor as JSON; an input already encoded for the history is reused as it is."""
    value = cursor.get("input")
    if isinstance(value, JsonDoc):
        rest = dumps({k: v for k, v in cursor.items() if k != "input"})
        return rest[:-1] + ',"input":' + value.text() + "}"
    return dumps(cursor)
