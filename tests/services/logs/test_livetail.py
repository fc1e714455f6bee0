"""StartLiveTail: the request's checks, the cursor over stream files, the sampling, the
event stream as botocore decodes it, and a session that reaches its time limit."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.eventstream import EventStreamBuffer, EventStreamMessage

from lamina.errors import AwsServiceError
from lamina.logs.store import LogStore, group_folder
from lamina.services.logs import livetail
from lamina.services.logs.groups import GroupSettings
from lamina.services.logs.operations import LogsOperations
from lamina.services.logs.retention import RetentionKeeper
from lamina.services.logs.service import LogsService
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Streamed

GROUP = "/aws/lambda/fn"
ARN = f"arn:aws:logs:us-east-1:000000000000:log-group:{GROUP}"


def spec(**body: Any) -> livetail.TailSpec:
    return livetail.parse_spec({"logGroupIdentifiers": [GROUP], **body})


def refused(body: dict[str, Any]) -> str:
    with pytest.raises(AwsServiceError) as info:
        livetail.parse_spec(body)
    assert info.value.code == "InvalidParameterException"
    return info.value.message


def test_the_request_is_checked_as_cloudwatch_checks_it() -> None:
    parsed = livetail.parse_spec({"logGroupIdentifiers": [ARN, "/other"]})
    assert parsed.groups == (GROUP, "/other") and parsed.identifiers == (ARN, "/other")
    assert "between 1 and 10" in refused({"logGroupIdentifiers": []})
    assert "between 1 and 10" in refused({"logGroupIdentifiers": [f"/g{i}" for i in range(11)]})
    assert "required" in refused({})
    assert "regular expression" in refused({"logGroupIdentifiers": [ARN + ":*"]})
    both = {"logGroupIdentifiers": [GROUP], "logStreamNames": ["a"], "logStreamNamePrefixes": ["b"]}
    assert "mutually exclusive" in refused(both)
    two = {"logGroupIdentifiers": [GROUP, "/other"], "logStreamNames": ["a"]}
    assert "exactly one" in refused(two)
    assert refused({"logGroupIdentifiers": [GROUP], "logEventFilterPattern": "{ $.a = "})


def test_streams_are_picked_by_name_or_prefix() -> None:
    assert spec(logStreamNames=["a", "b"]).wants("b") and not spec(logStreamNames=["a"]).wants("ab")
    by_prefix = spec(logStreamNamePrefixes=["2026/12/05", "x"])
    assert by_prefix.wants("2026/12/05/[$LATEST]abc") and not by_prefix.wants("2026/12/06/a")
    assert spec().wants("anything")


def test_session_start_echoes_the_request() -> None:
    fields = spec(logStreamNamePrefixes=["p"], logEventFilterPattern="ERROR").start_fields("r", "s")
    assert fields == {
        "requestId": "r",
        "sessionId": "s",
        "logGroupIdentifiers": [GROUP],
        "logStreamNamePrefixes": ["p"],
        "logEventFilterPattern": "ERROR",
    }


def events(messages: list[str]) -> list[livetail.TailEvent]:
    return [livetail.TailEvent(GROUP, "s", i, m) for i, m in enumerate(messages)]


def test_matching_events_are_sampled_down_to_500() -> None:
    few, sampled = livetail.select(
        events(["ERROR a", "INFO b", "ERROR c"]), spec(logEventFilterPattern="ERROR").matcher
    )
    assert [e.message for e in few] == ["ERROR a", "ERROR c"] and not sampled
    many, sampled = livetail.select(events([f"line {i}" for i in range(1_200)]), spec().matcher)
    assert sampled and len(many) == 400
    assert [e.timestamp_ms for e in many[:3]] == [0, 3, 6]  # spread over the second, in order
    exact, sampled = livetail.select(events(["x"] * 500), spec().matcher)
    assert len(exact) == 500 and not sampled


def test_lines_are_parsed_whole_and_malformed_ones_skipped() -> None:
    data = b"1\tfirst\n2\tsecond\twith tab\nnot a line\nx\tbad stamp\n3\t\n"
    assert livetail.parse_lines(data) == [(1, "first"), (2, "second\twith tab"), (3, "")]


def test_the_cursor_reads_what_was_written_after_the_session_started(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    folder = group_folder(GROUP)
    store.append(folder, "old", 1, "before the session")
    store.flush()
    cursor = livetail.TailCursor(store, spec())
    assert cursor.poll() == ([], False)
    store.append(folder, "old", 5, "after, in an old stream")
    store.append(folder, "new", 4, "after, in a new stream")  # still in the store's buffer
    assert [(e.stream, e.timestamp_ms, e.message) for e in cursor.poll()[0]] == [
        ("new", 4, "after, in a new stream"),
        ("old", 5, "after, in an old stream"),
    ]
    path = store.stream_path(folder, "old")
    with path.open("ab") as fh:
        fh.write(b"6\thalf a li")  # a line still being written waits for its end
    assert cursor.poll()[0] == []
    with path.open("ab") as fh:
        fh.write(b"ne\n")
    assert [e.message for e in cursor.poll()[0]] == ["half a line"]
    path.write_bytes(b"7\tkept\n")  # rewritten shorter (a retention trim): resume at its end
    assert cursor.poll()[0] == []
    store.append(folder, "old", 8, "after the trim")
    assert [e.message for e in cursor.poll()[0]] == ["after the trim"]


def test_the_cursor_keeps_to_the_streams_asked_for(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    folder = group_folder(GROUP)
    cursor = livetail.TailCursor(store, spec(logStreamNamePrefixes=["2026/"]))
    store.append(folder, "2026/a", 1, "wanted")
    store.append(folder, "2025/a", 2, "not wanted")
    store.append(group_folder("/other"), "2026/a", 3, "another group")
    assert [e.message for e in cursor.poll()[0]] == ["wanted"]


def decode(data: bytes) -> list[EventStreamMessage]:
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_the_stream_is_what_botocore_decodes() -> None:
    parsed = spec(logEventFilterPattern="ERROR")
    data = (
        livetail.initial_response()
        + livetail.session_start(parsed, "req", "sess")
        + livetail.session_update(events(["ERROR a"]), False)
        + livetail.session_timeout()
    )
    initial, start, update, timeout = decode(data)
    assert initial.headers[":event-type"] == "initial-response" and initial.payload == b"{}"
    assert start.headers[":event-type"] == "sessionStart"
    assert json.loads(start.payload)["logEventFilterPattern"] == "ERROR"
    assert update.headers[":event-type"] == "sessionUpdate"
    assert json.loads(update.payload) == {
        "sessionMetadata": {"sampled": False},
        "sessionResults": [
            {
                "logStreamName": "s",
                "logGroupIdentifier": GROUP,
                "message": "ERROR a",
                "timestamp": 0,
                "ingestionTime": 0,
            }
        ],
    }
    assert timeout.headers[":message-type"] == "exception"
    assert timeout.headers[":exception-type"] == "SessionTimeoutException"


class Conn:
    """What a live tail session uses of its connection, recording what it writes."""

    def __init__(self) -> None:
        self.closed = False
        self.head: list[tuple[str, str]] = []
        self.chunks: list[bytes] = []

    def start_stream(self, status: int, headers: list[tuple[str, str]]) -> bool:
        self.head = [("status", str(status)), *headers]
        return True

    def write_chunk(self, data: bytes) -> None:
        self.chunks.append(data)

    async def drain(self) -> None:
        return None


def service(tmp_path: Path) -> LogsService:
    store = LogStore(tmp_path / "logs")
    groups = GroupSettings(tmp_path / "groups.json")
    keeper = RetentionKeeper(store, groups, 1 << 30, 60.0, time.time)
    svc = LogsService(LogsOperations(store, groups, "us-east-1", "000000000000"), keeper)
    svc.tail_interval_s = 0.001
    return svc


def live_tail_request(body: dict[str, Any]) -> Request:
    return Request(
        "POST",
        "/",
        {"x-amz-target": "Logs_20140328.StartLiveTail"},
        json.dumps(body).encode(),
    )


def test_a_session_streams_updates_then_ends_at_its_time_limit(tmp_path: Path) -> None:
    svc = service(tmp_path)
    svc.operations.store.create(group_folder(GROUP), "s")
    svc.tail_limit_s = 0.2
    conn = Conn()
    answer = svc.handle(
        live_tail_request({"logGroupIdentifiers": [GROUP]}), cast(HttpConnection, conn)
    )
    assert not isinstance(answer, Streamed) and asyncio.iscoroutine(answer)
    assert isinstance(asyncio.run(answer), Streamed)
    assert ("Content-Type", "application/vnd.amazon.eventstream") in conn.head
    messages = decode(b"".join(conn.chunks))
    kinds = [m.headers.get(":event-type") or m.headers[":exception-type"] for m in messages]
    assert kinds[:2] == ["initial-response", "sessionStart"]
    assert set(kinds[2:-1]) == {"sessionUpdate"} and kinds[-1] == "SessionTimeoutException"


def test_a_missing_group_is_refused_before_the_stream_starts(tmp_path: Path) -> None:
    conn = Conn()
    answer = service(tmp_path).handle(
        live_tail_request({"logGroupIdentifiers": ["/nope"]}), cast(HttpConnection, conn)
    )
    assert asyncio.iscoroutine(answer)
    response = asyncio.run(answer)
    assert response.status == 400 and b"ResourceNotFoundException" in response.body
    assert conn.head == [] and conn.chunks == []


def test_a_call_without_a_connection_is_refused(tmp_path: Path) -> None:
    answer = service(tmp_path).handle(live_tail_request({"logGroupIdentifiers": [GROUP]}))
    assert not asyncio.iscoroutine(answer)
    assert answer.status == 400 and b"InvalidOperationException" in answer.body


def test_a_flood_is_read_from_its_newest_lines_and_said_to_be_sampled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(livetail, "MAX_READ_BYTES", 100)
    store = LogStore(tmp_path)
    folder = group_folder(GROUP)
    cursor = livetail.TailCursor(store, spec())
    for i in range(10, 50):
        store.append(folder, "s", i, f"line {i}")  # "<i>\tline <i>\n": 11 bytes on disk
    found, skipped = cursor.poll()
    # The newest 100 bytes: 9 whole lines and the end of a tenth, which is left out.
    assert skipped and [e.message for e in found] == [f"line {i}" for i in range(41, 50)]
    for i in range(50, 61):  # 121 bytes; the newest 110 are 10 whole lines, all kept
        store.append(folder, "s", i, f"line {i}")
    monkeypatch.setattr(livetail, "MAX_READ_BYTES", 110)
    found, skipped = cursor.poll()
    assert skipped and [e.message for e in found] == [f"line {i}" for i in range(51, 61)]
    store.append(folder, "s", 61, "line 61")
    assert cursor.poll() == ([livetail.TailEvent(GROUP, "s", 61, "line 61")], False)
