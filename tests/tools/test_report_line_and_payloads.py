"""REPORT lines, payloads and their weighted order, progress bars, config differences."""

from __future__ import annotations

import io
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from lamina.client.report_line import parse_report
from lamina.errors import InvalidParameterValue
from lamina.tools.payloads import parse_weighted, read_payload_arg, read_weighted_file, schedule
from lamina.tools.preserve import differences
from lamina.tools.progress import Progress, render

COLD = (
    "START RequestId: 9db781ca-0000-4000-8000-000000000000 Version: $LATEST\n"
    "END RequestId: 9db781ca-0000-4000-8000-000000000000\n"
    "REPORT RequestId: 9db781ca-0000-4000-8000-000000000000\tDuration: 4157.16 ms\t"
    "Billed Duration: 4999 ms\tMemory Size: 256 MB\tMax Memory Used: 99 MB\t"
    "Init Duration: 841.60 ms\t\n"
)
WARM = (
    "REPORT RequestId: edd6ce3c-0000-4000-8000-000000000000\tDuration: 0.12 ms\t"
    "Billed Duration: 1 ms\tMemory Size: 128 MB\tMax Memory Used: 3 MB\t\n"
)


def test_a_cold_report_line() -> None:
    report = parse_report(COLD)
    assert report is not None
    assert report.request_id == "9db781ca-0000-4000-8000-000000000000"
    assert (report.duration_ms, report.billed_ms, report.memory_mb) == (4157.16, 4999, 256)
    assert (report.max_memory_mb, report.init_ms, report.cold) == (99, 841.6, True)


def test_a_warm_report_line_and_the_last_of_several() -> None:
    report = parse_report(COLD + "some output\n" + WARM)
    assert report is not None
    assert (report.billed_ms, report.init_ms, report.cold) == (1, None, False)
    assert parse_report("START RequestId: x\nno report here\n") is None


def test_schedule_follows_the_weights_and_spreads_them() -> None:
    order = schedule([1, 3, 6], 20)
    assert Counter(order) == {0: 2, 1: 6, 2: 12}  # exact at a multiple of the total weight
    longest = max(len(list(run)) for _, run in itertools.groupby(order))
    assert longest <= 2  # interleaved, not six 1s then twelve 2s
    assert schedule([1], 3) == [0, 0, 0]
    assert schedule([5, 5], 4) == [0, 1, 0, 1]
    with pytest.raises(ValueError):
        schedule([], 3)


def test_weighted_payloads_in_power_tunings_format(tmp_path: Path) -> None:
    path = tmp_path / "payloads.json"
    path.write_text(json.dumps([{"payload": {"n": 1}, "weight": 3}, {"payload": "text"}]))
    a, b = read_weighted_file(path)
    assert (json.loads(a.body), a.weight) == ({"n": 1}, 3)
    assert (json.loads(b.body), b.weight) == ("text", 1)
    bad: object
    for bad in (
        [],
        [{"weight": 1}],
        [{"payload": 1, "weight": 0}],
        [{"payload": 1, "weight": True}],
        {},
    ):
        with pytest.raises(InvalidParameterValue):
            parse_weighted(bad)


def test_payload_argument_is_json_text_or_a_file(tmp_path: Path) -> None:
    assert read_payload_arg(None) == b"{}"
    assert read_payload_arg('{"a": 1}') == b'{"a": 1}'
    (tmp_path / "e.json").write_text("[1, 2]")
    assert read_payload_arg(f"@{tmp_path / 'e.json'}") == b"[1, 2]"
    with pytest.raises(InvalidParameterValue):
        read_payload_arg("{not json")


def test_progress_renders_a_bar_and_an_eta() -> None:
    line = render("tune fn 512 MB", 21, 42, 10.0, 80)
    assert line.startswith("tune fn 512 MB [")
    assert "21/42" in line and "00:10" in line and "<00:10" in line
    assert len(line) <= 80
    assert render("x" * 100, 1, 2, 1.0, 40) == ("x" * 100)[:40]


def test_progress_draws_only_when_enabled() -> None:
    ticks = iter(float(t) for t in range(100))
    shown = io.StringIO()
    with Progress(3, "work", stream=shown, enabled=True, clock=lambda: next(ticks)) as bar:
        for _ in range(3):
            bar.advance()
    assert "3/3" in shown.getvalue()
    assert shown.getvalue().endswith("\r\033[2K")  # erased at the end
    hidden = io.StringIO()
    with Progress(3, "work", stream=hidden) as bar:  # a StringIO is no terminal
        bar.advance(3)
    assert hidden.getvalue() == ""


def test_config_differences_name_what_changed() -> None:
    before = {"MemorySize": 128, "Environment": {"Variables": {"A": "1"}}, "Timeout": 3,
              "CodeSha256": "abc", "RevisionId": "r1"}  # fmt: skip
    same = {**before, "RevisionId": "r2", "LastModified": "later"}
    assert differences(before, same) == []
    changed = {**before, "MemorySize": 512, "Environment": {"Variables": {"A": "2"}}}
    assert [d.split(":")[0] for d in differences(before, changed)] == ["MemorySize", "Environment"]
    assert differences(before, changed, ignore=("MemorySize", "Environment")) == []
    # No Environment and an empty one are the same thing.
    assert differences({"MemorySize": 1}, {"MemorySize": 1, "Environment": {"Variables": {}}}) == []


def test_restored_cold_starts_and_json_reports() -> None:
    restored = parse_report(
        "REPORT RequestId: r1\tDuration: 2.00 ms\tBilled Duration: 9 ms\tMemory Size: 128 MB\t"
        "Max Memory Used: 20 MB\tRestore Duration: 3.50 ms\tBilled Restore Duration: 7 ms\t"
    )
    assert restored is not None
    assert (restored.init_ms, restored.restore_ms, restored.cold) == (None, 3.5, True)
    record = {"time": "2026-11-26T10:00:00.000Z", "type": "platform.report",
              "record": {"requestId": "r2", "status": "success",
                         "metrics": {"durationMs": 1.5, "billedDurationMs": 9, "memorySizeMB": 256,
                                     "maxMemoryUsedMB": 30, "initDurationMs": 7.25}}}  # fmt: skip
    tail = '{"type": "platform.start"}\nnot json {\n' + json.dumps(record) + "\n"
    report = parse_report(tail)
    assert report is not None
    assert (report.request_id, report.billed_ms, report.memory_mb) == ("r2", 9, 256)
    assert (report.init_ms, report.cold) == (7.25, True)
