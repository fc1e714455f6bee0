"""What a function's X-Ray SDK sends to the daemon, checked (pure).

Each UDP datagram is ``{"format":"json","version":1}`` + ``\\n`` + one segment document
(X-Ray's daemon protocol): a whole segment, or (what the SDKs send from Lambda) one
subsegment of the invocation's segment on its own (``"type": "subsegment"``, with its
``trace_id`` and ``parent_id``), its own subsegments nested in ``subsegments``.

Function code is hostile: a datagram is at most 64 KB (X-Ray's limit on a segment
document), must parse, and must have the fields X-Ray requires (``name``, a 16-hex ``id``,
a ``1-<8 hex>-<24 hex>`` ``trace_id``, a numeric ``start_time``, and ``end_time`` or
``in_progress``) in itself and in each nested subsegment, with bounded nesting and count.
Anything else is refused with the reason, which the daemon counts.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_DATAGRAM = 64 * 1024
MAX_NAME = 200  # X-Ray's limit on a segment's name
MAX_DEPTH = 16  # nested subsegments below the document
MAX_ENTITIES = 500  # subsegments in one document, all depths (the SDKs stream at 30)
# Objects and arrays in one document, counted before parsing: what a JSON parser's time
# grows with (~30-75 ns each here), where counting costs well under a nanosecond a byte.
MAX_CONTAINERS = 4096
_HEADER = {"format": "json", "version": 1}
_ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_ID = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class Document:
    """One checked segment document."""

    trace_id: str  # 1-<8 hex>-<24 hex>
    id: str  # 16 hex
    parent_id: str | None  # a subsegment's parent (the invocation's segment, or another)
    name: str
    start: float
    end: float | None  # None: in progress
    subsegment: bool  # sent as a subsegment on its own (type "subsegment")
    body: dict[str, Any]  # the document as sent, parsed
    size: int  # bytes of the datagram it came in


def parse(datagram: bytes) -> Document | str:
    """The document in one datagram, or why it is refused."""
    if len(datagram) > MAX_DATAGRAM:
        return "too large"
    head, newline, rest = datagram.partition(b"\n")
    if not newline:
        return "no header"
    if containers(rest) > MAX_CONTAINERS:
        return "too many objects"
    try:
        header = json.loads(head)
        body = json.loads(rest)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return "not JSON"
    if header != _HEADER:
        return "unknown header"
    if not isinstance(body, dict):
        return "not a segment document"
    return check(body, len(datagram))


def containers(data: bytes) -> int:
    """At least the objects and arrays ``data`` holds, if it is JSON (brackets in strings
    count too): what parsing it would cost, counted without parsing."""
    return data.count(b"{") + data.count(b"[")


def check(body: dict[str, Any], size: int) -> Document | str:
    """``body`` as a :class:`Document`, or why it is not one."""
    trace_id = body.get("trace_id")
    if not isinstance(trace_id, str) or not _ROOT.fullmatch(trace_id):
        return "bad trace_id"
    subsegment = body.get("type") == "subsegment"
    parent = body.get("parent_id")
    if parent is not None and (not isinstance(parent, str) or not _ID.fullmatch(parent)):
        return "bad parent_id"
    if subsegment and parent is None:
        return "subsegment without parent_id"
    problem = _entity(body)
    if problem:
        return problem
    count = [0]
    problem = _children(body, 1, count)
    if problem:
        return problem
    end = body.get("end_time")
    return Document(
        trace_id=trace_id,
        id=body["id"],
        parent_id=parent,
        name=body["name"],
        start=float(body["start_time"]),
        end=None if end is None else float(end),
        subsegment=subsegment,
        body=body,
        size=size,
    )


def _number(value: object) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _entity(entity: dict[str, Any]) -> str:
    """Why ``entity`` (a segment or subsegment) lacks what X-Ray requires ("" if it does not)."""
    name = entity.get("name")
    if not isinstance(name, str) or not name or len(name) > MAX_NAME:
        return "bad name"
    ident = entity.get("id")
    if not isinstance(ident, str) or not _ID.fullmatch(ident):
        return "bad id"
    if not _number(entity.get("start_time")):
        return "bad start_time"
    end = entity.get("end_time")
    if end is None:
        if entity.get("in_progress") is not True:
            return "neither end_time nor in_progress"
    elif not _number(end):
        return "bad end_time"
    return ""


def _children(entity: dict[str, Any], depth: int, count: list[int]) -> str:
    subs = entity.get("subsegments")
    if subs is None:
        return ""
    if not isinstance(subs, list):
        return "bad subsegments"
    if depth > MAX_DEPTH:
        return "subsegments nested too deep"
    for sub in subs:
        count[0] += 1
        if count[0] > MAX_ENTITIES:
            return "too many subsegments"
        if not isinstance(sub, dict):
            return "bad subsegments"
        problem = _entity(sub) or _children(sub, depth + 1, count)
        if problem:
            return problem
    return ""


def walk(body: dict[str, Any]) -> list[tuple[dict[str, Any], str | None]]:
    """Every entity of a checked document with its parent's id (the document's own
    ``parent_id`` for the top one), top first."""
    out: list[tuple[dict[str, Any], str | None]] = []
    stack: list[tuple[dict[str, Any], str | None]] = [(body, body.get("parent_id"))]
    while stack:
        entity, parent = stack.pop()
        out.append((entity, parent))
        for sub in reversed(entity.get("subsegments") or ()):
            stack.append((sub, entity["id"]))
    return out
