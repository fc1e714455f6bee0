"""A recent invocation's log lines, picked from the ends of its function's log streams."""

from __future__ import annotations

from pathlib import Path

from lamina.console.invocation_logs import lines_of
from lamina.logs.store import LogEvent, LogStore, read_tail


def ev(stream: str, message: str, ts: int = 0) -> LogEvent:
    return LogEvent(ts, message, stream)


EVENTS = [
    ev("a", "START RequestId: r1 Version: $LATEST"),
    ev("a", "one"),
    ev("b", "START RequestId: r2 Version: $LATEST"),
    ev("b", "other environment"),
    ev("a", "END RequestId: r1"),
    ev("a", "REPORT RequestId: r1\tDuration: 1.00 ms\t"),
    ev("a", "START RequestId: r3 Version: $LATEST"),
    ev("a", "three"),
    ev("b", "REPORT RequestId: r2\tDuration: 2.00 ms\t"),
    ev("a", "START RequestId: r4 Version: $LATEST"),
]


def test_an_invocations_lines_are_its_streams_from_start_to_report() -> None:
    assert lines_of(EVENTS, "r1") == [
        "START RequestId: r1 Version: $LATEST",
        "one",
        "END RequestId: r1",
        "REPORT RequestId: r1\tDuration: 1.00 ms\t",
    ]
    assert lines_of(EVENTS, "r2")[1:] == [
        "other environment",
        "REPORT RequestId: r2\tDuration: 2.00 ms\t",
    ]
    # No REPORT (the environment ended): up to the stream's next START.
    assert lines_of(EVENTS, "r3") == ["START RequestId: r3 Version: $LATEST", "three"]
    assert lines_of(EVENTS, "r1x") == []  # a prefix of another id is not it


def test_the_read_is_bounded_to_the_streams_ends(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    for i in range(2000):
        store.append("fn", "2026/12/05/[$LATEST]abc", 1000 + i, f"line {i:04d}")
    store.flush()
    [path] = (tmp_path / "fn").iterdir()
    tail = read_tail(path, 200)
    assert 0 < len(tail) < 20 and tail[-1] == (2999, "line 1999")
    assert all(m.startswith("line ") and len(m) == 9 for _, m in tail)  # no cut first line
    found = store.recent("fn", max_bytes=10**6)
    assert [e.message for e in found] == [f"line {i:04d}" for i in range(2000)]
    assert store.recent("nobody") == []
