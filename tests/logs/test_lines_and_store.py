"""Platform log lines exactly as Lambda writes them, and the on-disk log store."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from lamina.logs import lines
from lamina.logs.store import LogEvent, LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord, Outcome

RID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
# 2024-03-05T06:07:08.912Z
NOW = 1709618828.912


def record(
    duration_ms: float = 4157.156,
    billed_ms: int = 4158,
    init_ms: float | None = 841.6,
    outcome: Outcome = Outcome.SUCCESS,
) -> InvocationRecord:
    return InvocationRecord(
        request_id=RID,
        function_name="fn",
        version="$LATEST",
        started_at=NOW,
        duration_ms=duration_ms,
        billed_ms=billed_ms,
        memory_mb=256,
        max_memory_used_mb=99,
        init_ms=init_ms,
        architecture="x86_64",
        outcome=outcome,
    )


# -- text lines --------------------------------------------------------------------------
def test_start_and_end_lines_match_lambda() -> None:
    assert lines.start_line(RID, "$LATEST") == f"START RequestId: {RID} Version: $LATEST"
    assert lines.start_line(RID, "3") == f"START RequestId: {RID} Version: 3"
    assert lines.end_line(RID) == f"END RequestId: {RID}"


ARN = "arn:aws:lambda:eu-south-1::runtime:" + "7b" * 32


def test_init_start_line_matches_lambda() -> None:
    # As in AWS's runtime-management docs: one tab between the two fields.
    assert lines.init_start_line("python:3.13.v14", ARN) == (
        f"INIT_START Runtime Version: python:3.13.v14\tRuntime Version ARN: {ARN}"
    )


def test_init_start_json_is_the_platform_init_start_record() -> None:
    cfg = FunctionConfig(
        name="fn", runtime="python3.13", handler="app.handler", code_sha256="x", code_size=1
    )
    record = lines.init_start_record(cfg, "python:3.13.v14", ARN)
    assert json.loads(lines.init_start_json(record, now=NOW)) == {
        "time": "2024-03-05T06:07:08.912Z",
        "type": "platform.initStart",
        "record": {
            "initializationType": "on-demand",
            "phase": "init",
            "runtimeVersion": "python:3.13.v14",
            "runtimeVersionArn": ARN,
            "functionName": "fn",
            "functionVersion": "$LATEST",
        },
    }


def test_cold_report_line_matches_lambda_byte_for_byte() -> None:
    expected = (
        f"REPORT RequestId: {RID}\tDuration: 4157.16 ms\tBilled Duration: 4158 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 99 MB\tInit Duration: 841.60 ms\t"
    )
    assert lines.report_line(record()) == expected


def test_warm_report_line_has_no_init_duration_and_keeps_the_trailing_tab() -> None:
    line = lines.report_line(record(duration_ms=0.4, billed_ms=1, init_ms=None))
    assert line == (
        f"REPORT RequestId: {RID}\tDuration: 0.40 ms\tBilled Duration: 1 ms\t"
        "Memory Size: 256 MB\tMax Memory Used: 99 MB\t"
    )
    assert "Init Duration" not in line
    assert line.endswith("\t")


def test_report_durations_always_have_two_decimals() -> None:
    for duration, text in [(1.0, "1.00"), (12.345, "12.35"), (99.999, "100.00"), (0.0, "0.00")]:
        line = lines.report_line(record(duration_ms=duration, init_ms=duration))
        assert f"\tDuration: {text} ms\t" in line
        assert f"\tInit Duration: {text} ms\t" in line


def test_timeout_line_has_utc_timestamp_request_id_and_two_decimals() -> None:
    assert (
        lines.timeout_line(RID, 3, now=NOW)
        == f"2024-03-05T06:07:08Z {RID} Task timed out after 3.00 seconds"
    )
    assert lines.timeout_line(RID, 900.0, now=NOW).endswith("Task timed out after 900.00 seconds")


def test_json_platform_report_record() -> None:
    cold = json.loads(lines.report_json(record(), now=NOW))
    assert cold == {
        "time": "2024-03-05T06:07:08.912Z",
        "type": "platform.report",
        "record": {
            "requestId": RID,
            "metrics": {
                "durationMs": 4157.156,
                "billedDurationMs": 4158,
                "memorySizeMB": 256,
                "maxMemoryUsedMB": 99,
                "initDurationMs": 841.6,
            },
            "status": "success",
        },
    }
    warm = json.loads(lines.report_json(record(init_ms=None, outcome=Outcome.TIMEOUT), now=NOW))
    assert "initDurationMs" not in warm["record"]["metrics"]
    assert warm["record"]["status"] == "timeout"
    error = json.loads(lines.report_json(record(outcome=Outcome.ERROR), now=NOW))
    assert error["record"]["status"] == "error"


def test_json_report_time_has_millisecond_precision() -> None:
    stamp = json.loads(lines.report_json(record()))["time"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z", stamp)


def test_log_stream_name_is_date_version_and_32_hex() -> None:
    name = lines.log_stream("$LATEST", now=NOW)
    assert re.fullmatch(r"2024/03/05/\[\$LATEST\][0-9a-f]{32}", name), name
    assert re.fullmatch(r"2024/03/05/\[7\][0-9a-f]{32}", lines.log_stream("7", now=NOW))
    today = time.strftime("%Y/%m/%d", time.gmtime())
    assert lines.log_stream("$LATEST").startswith(f"{today}/[$LATEST]")
    assert lines.log_stream("$LATEST", now=NOW) != name  # one per environment
    # On a cluster node the stream names the node, before the environment's own id.
    on_node = lines.log_stream("$LATEST", now=NOW, node="ab12")
    assert re.fullmatch(r"2024/03/05/\[\$LATEST\]ab12\.[0-9a-f]{32}", on_node), on_node


def test_log_group_name() -> None:
    assert lines.log_group("my-fn") == "/aws/lambda/my-fn"


# -- the store ---------------------------------------------------------------------------
STREAM_A = "2024/03/05/[$LATEST]" + "a" * 32
STREAM_B = "2024/03/05/[$LATEST]" + "b" * 32


def test_append_is_buffered_until_flush(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    store.append("fn", STREAM_A, 1000, "hello")
    assert not (tmp_path / "logs" / "fn").exists(), "append must not touch the disk"
    store.flush()
    files = list((tmp_path / "logs" / "fn").iterdir())
    assert len(files) == 1
    assert files[0].read_text() == "1000\thello\n"
    store.flush()  # nothing pending: no duplicate write
    assert files[0].read_text() == "1000\thello\n"


def test_read_merges_streams_in_time_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("fn", STREAM_A, 1000, "a1")
    store.append("fn", STREAM_B, 1500, "b1")
    store.append("fn", STREAM_A, 2000, "a2")
    store.flush()
    store.append("fn", STREAM_B, 2500, "b2")  # still buffered: read must see it too
    store.append("fn", STREAM_A, 3000, "a3")
    events = store.read("fn")
    assert [e.message for e in events] == ["a1", "b1", "a2", "b2", "a3"]
    assert [e.timestamp_ms for e in events] == [1000, 1500, 2000, 2500, 3000]
    assert events[1] == LogEvent(1500, "b1", STREAM_B)
    assert store.streams("fn") == sorted([STREAM_A, STREAM_B])


def test_read_keeps_the_order_of_events_within_a_stream(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for i in range(5):
        store.append("fn", STREAM_A, 1000, f"same-ms-{i}")
    assert [e.message for e in store.read("fn")] == [f"same-ms-{i}" for i in range(5)]


def test_since_filter_is_inclusive_and_limit_keeps_the_newest(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for ts in (100, 200, 300, 400):
        store.append("fn", STREAM_A, ts, f"at-{ts}")
    assert [e.timestamp_ms for e in store.read("fn", since_ms=200)] == [200, 300, 400]
    assert store.read("fn", since_ms=401) == []
    assert [e.message for e in store.read("fn", limit=2)] == ["at-300", "at-400"]


def test_multiline_messages_become_separate_events_and_tabs_survive(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    report = lines.report_line(record())
    store.append("fn", STREAM_A, 10, "first\nsecond")
    store.append("fn", STREAM_A, 11, report)
    events = store.read("fn")
    assert [e.message for e in events] == ["first", "second", report]
    assert events[-1].message.endswith("\t")


def test_functions_have_separate_groups_and_delete_group_removes_one(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("keep", STREAM_A, 1, "kept")
    store.append("gone", STREAM_A, 1, "flushed")
    store.flush()
    store.append("gone", STREAM_B, 2, "buffered")
    assert [e.message for e in store.read("keep")] == ["kept"]
    store.delete_group("gone")
    assert store.read("gone") == []
    assert store.streams("gone") == []
    assert not (tmp_path / "gone").exists()
    store.flush()  # a buffered event of the deleted group must not come back
    assert store.read("gone") == []
    assert [e.message for e in store.read("keep")] == ["kept"]
    store.delete_group("never-existed")  # harmless


def test_events_persist_for_a_new_store_on_the_same_root(tmp_path: Path) -> None:
    first = LogStore(tmp_path)
    first.append("fn", STREAM_A, 5, "survives")
    first.flush()
    second = LogStore(tmp_path)
    assert second.read("fn") == [LogEvent(5, "survives", STREAM_A)]
    assert second.streams("fn") == [STREAM_A]
    assert second.read("unknown") == []
    assert second.streams("unknown") == []
