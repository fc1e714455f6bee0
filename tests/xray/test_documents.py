"""What a function's X-Ray SDK sends is parsed; what hostile code sends is refused with a reason."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_xray_sdk.core.emitters.udp_emitter import PROTOCOL_DELIMITER, PROTOCOL_HEADER
from aws_xray_sdk.core.models.segment import Segment
from aws_xray_sdk.core.models.subsegment import Subsegment

from lamina.xray.documents import (
    MAX_CONTAINERS,
    MAX_DATAGRAM,
    MAX_DEPTH,
    MAX_ENTITIES,
    parse,
    walk,
)

TRACE = "1-6b151031-e7b9ed85fbe14103ac015b76"
PARENT = "ac015b766c04743d"


def datagram(body: object) -> bytes:
    return (str(PROTOCOL_HEADER) + str(PROTOCOL_DELIMITER) + json.dumps(body)).encode()


def sdk_subsegment() -> bytes:
    """A subsegment as the SDK streams it from Lambda: alone, with trace and parent ids."""
    facade = Segment("facade", entityid=PARENT, traceid=TRACE)
    sub = Subsegment("work", "local", facade)
    facade.add_subsegment(sub)
    sub.put_annotation("kind", "test")
    child = Subsegment("inner", "local", facade)
    sub.add_subsegment(child)
    child.close()
    sub.close()
    message = str(PROTOCOL_HEADER) + str(PROTOCOL_DELIMITER) + str(sub.serialize())
    return message.encode()


def test_the_sdks_own_serialization_parses_with_its_ids() -> None:
    raw = sdk_subsegment()
    doc = parse(raw)
    assert not isinstance(doc, str), doc
    assert (doc.trace_id, doc.parent_id, doc.name, doc.subsegment) == (TRACE, PARENT, "work", True)
    assert doc.end is not None and doc.end >= doc.start
    assert doc.size == len(raw)
    names = [(entity["name"], parent) for entity, parent in walk(doc.body)]
    assert names == [("work", PARENT), ("inner", doc.id)]


def minimal(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "s", "id": "0123456789abcdef", "trace_id": TRACE, "start_time": 1.0,
        "end_time": 2.0, "type": "subsegment", "parent_id": PARENT,
    }  # fmt: skip
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def tiny() -> dict[str, Any]:
    return {"name": "s", "id": "0123456789abcdef", "start_time": 1, "end_time": 2}


def nested(depth: int) -> dict[str, Any]:
    body = minimal()
    inner = body
    for _ in range(depth):
        child = minimal(type=None, parent_id=None, trace_id=None)
        inner["subsegments"] = [child]
        inner = child
    return body


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"x" * (MAX_DATAGRAM + 1), "too large"),
        (json.dumps(minimal()).encode(), "no header"),
        (b'{"format":"json","version":2}\n' + json.dumps(minimal()).encode(), "unknown header"),
        (str(PROTOCOL_HEADER).encode() + b"\n{not json", "not JSON"),
        (str(PROTOCOL_HEADER).encode() + b"\n\xff\xfe", "not JSON"),
        # Nesting deep enough to exhaust the parser's recursion; more containers than a
        # document may hold are refused before parsing (what parsing costs grows with).
        (str(PROTOCOL_HEADER).encode() + b"\n" + b"[" * 3000, "not JSON"),
        (str(PROTOCOL_HEADER).encode() + b"\n" + b"[" * (MAX_CONTAINERS + 1), "too many objects"),
        (datagram({**minimal(), "metadata": [{}] * MAX_CONTAINERS}), "too many objects"),
        (datagram([minimal()]), "not a segment document"),
        (datagram(minimal(trace_id="1-xyz")), "bad trace_id"),
        (datagram(minimal(trace_id=TRACE.upper())), "bad trace_id"),
        (datagram(minimal(id="short")), "bad id"),
        (datagram(minimal(parent_id=None)), "subsegment without parent_id"),
        (datagram(minimal(parent_id=7)), "bad parent_id"),
        (datagram(minimal(name="")), "bad name"),
        (datagram(minimal(name="n" * 201)), "bad name"),
        (datagram(minimal(start_time=True)), "bad start_time"),
        (datagram(minimal(start_time="1")), "bad start_time"),
        (datagram(minimal(end_time=None)), "neither end_time nor in_progress"),
        (datagram(minimal(end_time=-1)), "bad end_time"),
        (datagram(minimal(subsegments={"a": 1})), "bad subsegments"),
        (datagram(minimal(subsegments=[minimal(id="nothex!!nothex!!")])), "bad id"),
        (datagram(nested(MAX_DEPTH + 1)), "subsegments nested too deep"),
        (datagram(minimal(subsegments=[tiny()] * (MAX_ENTITIES + 1))), "too many subsegments"),
    ],
)
def test_what_x_ray_would_not_take_is_refused_with_its_reason(raw: bytes, reason: str) -> None:
    assert parse(raw) == reason


def test_in_progress_nesting_at_the_limit_and_whole_segments_are_taken() -> None:
    doc = parse(datagram(minimal(end_time=None, in_progress=True)))
    assert not isinstance(doc, str) and doc.end is None
    deep = parse(datagram(nested(MAX_DEPTH)))
    assert not isinstance(deep, str)
    assert len(walk(deep.body)) == MAX_DEPTH + 1
    segment = parse(datagram(minimal(type=None, parent_id=None)))
    assert not isinstance(segment, str) and not segment.subsegment and segment.parent_id is None
