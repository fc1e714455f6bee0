from __future__ import annotations

import json

import pytest

from lamina.cluster.frames import (
    HEAD,
    MAX_BODY,
    RECORD_FIELDS,
    FrameDecoder,
    FrameError,
    LogEvent,
    NodeState,
    answer_frame,
    encode,
    invoke_header,
    invoke_prefix,
    record_from_json,
    record_to_json,
    state_from_json,
    state_to_json,
)
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.scheduler.driver import InvokeRequest


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
    queued = rec._replace(request_id="r3", trigger="datasource")
    state = NodeState(
        256,
        {"f:$LATEST:r": 2},
        idle_mb=128,
        records=(rec, restored, queued),
        logs=(LogEvent("f", "s", 7, "line"),),
        codes=("a",),
    )
    back = state_from_json(state_to_json(state))
    assert back == state
    assert [r.trigger for r in back.records] == ["other", "other", "datasource"]


def test_a_bad_record_in_a_state_is_a_frame_error() -> None:
    with pytest.raises(FrameError):
        state_from_json({"records": [{"request_id": "r"}]})


def test_an_invoke_header_is_flat_json_with_only_the_fields_set() -> None:
    cfg = FunctionConfig("f", "python3.12", "app.handler", "a" * 64, 10, revision_id="r")
    plain = InvokeRequest(cfg, b'{"x":"\\u00e9"}', "arn:f", 'rid-"1"')
    rich = InvokeRequest(
        cfg, b"{}", "arn:f", "rid-2", "ctx", tail=True, trace_header="Root=1", trigger="pubsub"
    )
    data = b"".join(
        invoke_header(i, req, creds, 0, i == 1, invoke_prefix(req)) + req.payload
        for i, (req, creds) in enumerate([(plain, None), (rich, ("k", "s", "t"))])
    )
    first, second = FrameDecoder().feed(data)
    assert first.header == {
        "op": "invoke", "key": cfg.cache_key, "arn": "arn:f", "id": 0, "request_id": 'rid-"1"'
    }  # fmt: skip
    assert first.body == plain.payload
    assert second.header["client_context"] == "ctx" and second.header["tail"] is True
    assert second.header["trace"] == "Root=1" and second.header["credentials"] == ["k", "s", "t"]
    assert "cfg" in second.header and second.header["request_id"] == "rid-2"
    assert second.header["trigger"] == "pubsub"  # "other" (the default) is not sent


def test_a_plain_answer_is_its_id_and_payload() -> None:
    plain, told = FrameDecoder().feed(
        answer_frame(7, b"out", None) + answer_frame(8, b"", {"function_error": "Unhandled"})
    )
    assert (plain.op, plain.header, plain.body) == ("answer", {"op": "answer", "id": 7}, b"out")
    assert told.header == {"op": "answer", "id": 8, "function_error": "Unhandled"}


@pytest.mark.parametrize(
    "header",
    [
        b'{"op":"answer","id":12}',  # the warm answer, read without JSON
        b'{"op":"answer","id":12,"function_error":"Unhandled"}',
        b'{"op":"answer","id":-3}',
        b'{"op":"answer","id":1e3}',
        b'{"op":"answer","id":"12"}',
        b'{"op":"answer","id":12 }',
        b'{"op":"failed","id":12,"message":"\\u00e9 \\"q\\""}',
        b'{"op":"welcome","node_id":"n","state":{"idle":{"k":1}}}',
    ],
)
def test_every_header_reads_as_json_loads_reads_it(header: bytes) -> None:
    (frame,) = FrameDecoder().feed(HEAD.pack(len(header), 3) + header + b"abc")
    assert frame.header == json.loads(header)
    assert (frame.op, frame.body) == (json.loads(header)["op"], b"abc")


@pytest.mark.parametrize(
    "header",
    [
        b'{"op":"answer","id":12}x',
        b'{"op":"answer","id":12}{}',
        b' {"op":"answer"}',
        b'{"op":"answer","id":12',
        b'{"op":"answer","id":}',
        b'{"op":"\xff"}',
        b'{"op":1}',
        b"",
    ],
)
def test_a_header_with_anything_but_one_op_object_is_refused(header: bytes) -> None:
    with pytest.raises(FrameError):
        FrameDecoder().feed(HEAD.pack(len(header), 0) + header)


def test_a_record_travels_as_a_row_and_an_earlier_workers_object_is_read() -> None:
    rec = InvocationRecord(
        "r1", "f", "$LATEST", 1.5, 2.25, 3, 128, 40, 9.5, "arm64", Outcome.TIMEOUT, 1024
    )
    row = record_to_json(rec)
    assert isinstance(row, list) and len(row) == len(RECORD_FIELDS)
    assert record_from_json(row) == rec
    earlier = dict(zip(RECORD_FIELDS[:-3], row[:-3], strict=True))  # no restored, trace...
    assert record_from_json(earlier) == rec
    # A row from a worker that did not send triggers yet: "other".
    assert record_from_json(row[:-1]) == rec
    timed = rec._replace(trigger="timer")
    assert record_from_json(record_to_json(timed)) == timed
    # A node's trigger outside the conventions' values is not believed.
    assert record_from_json([*row[:-1], "cron"]).trigger == "other"
    # Read with the node whose connection carried it (the ledger says where it ran).
    assert record_from_json(row, "n1") == rec._replace(node="n1")
    (carried,) = state_from_json({"records": [row]}, "n1").records
    assert carried.node == "n1"
    not_an_outcome = [*row[:10], "Nope", *row[11:]]
    for bad in ([None, *row[1:]], row[:-2], {"request_id": "r"}, "r1", not_an_outcome):
        with pytest.raises(FrameError):
            record_from_json(bad)


def test_a_log_line_carries_its_functions_name_only_when_its_folder_is_not_it() -> None:
    own = LogEvent("~%2Fcustom%2Fgroup", "s", 7, "line", name="f")
    plain = LogEvent("f", "s", 8, "line")
    rows = state_to_json(NodeState(0, {}, logs=(own, plain)))["logs"]
    assert rows == [["~%2Fcustom%2Fgroup", "s", 7, "line", "f"], ["f", "s", 8, "line"]]
    back = state_from_json({"logs": rows}).logs
    assert back == (own, plain)
    assert [e.function_name for e in back] == ["f", "f"]


def test_a_log_row_of_an_earlier_worker_still_reads() -> None:
    (event,) = state_from_json({"logs": [["~x", "s", 1, "m"]]}).logs
    assert (event.function, event.name, event.function_name) == ("~x", "", "~x")
    with pytest.raises(FrameError):
        state_from_json({"logs": [["~x", "s"]]})
