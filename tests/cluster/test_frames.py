from __future__ import annotations

import pytest

from lamina.cluster.frames import (
    HEAD,
    MAX_BODY,
    FrameDecoder,
    FrameError,
    LogEvent,
    NodeState,
    encode,
    state_from_json,
    state_to_json,
)
from lamina.models.invocation import InvocationRecord, Outcome


def test_frames_split_anywhere_come_out_whole_and_in_order() -> None:
    data = encode("invoke", {"id": 1}, b"\x00payload\xff") + encode("drain", {"function": "f"})
    decoder = FrameDecoder()
    out = []
    for i in range(len(data)):
        out += decoder.feed(data[i : i + 1])
    assert [(f.op, f.body) for f in out] == [("invoke", b"\x00payload\xff"), ("drain", b"")]
    assert out[0].header["id"] == 1


def test_an_oversized_frame_is_refused_before_it_is_buffered() -> None:
    with pytest.raises(FrameError, match="too large"):
        FrameDecoder().feed(HEAD.pack(10, MAX_BODY + 1))


@pytest.mark.parametrize("header", [b"not json", b"[1]", b'{"no":"op"}'])
def test_a_header_that_is_not_an_op_object_is_refused(header: bytes) -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(HEAD.pack(len(header), 0) + header)


def test_node_state_round_trips() -> None:
    rec = InvocationRecord(
        "r1", "f", "$LATEST", 1.5, 2.25, 3, 128, 40, None, "x86_64", Outcome.SUCCESS, 512
    )
    restored = rec._replace(request_id="r2", restored=True, trace_header="Root=1-a-b")
    state = NodeState(
        256,
        {"f:$LATEST:r": 2},
        idle_mb=128,
        records=(rec, restored),
        logs=(LogEvent("f", "s", 7, "line"),),
        codes=("a",),
    )
    assert state_from_json(state_to_json(state)) == state


def test_a_bad_record_in_a_state_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        state_from_json({"records": [{"request_id": "r"}]})
