"""Retention and the size cap: which stream files go, and a trim that loses no append."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from lamina.logs.store import MAX_EVENT_CHARS, LogStore, folder_group, group_folder, read_events
from lamina.services.logs.groups import GroupInfo, GroupSettings
from lamina.services.logs.retention import (
    DAY_MS,
    Delete,
    RetentionKeeper,
    StreamFile,
    Trim,
    plan_sweep,
)

NOW = 1_700_000_000_000


def f(name: str, size: int, age_days: float) -> StreamFile:
    return StreamFile(Path(name), size, int(NOW - age_days * DAY_MS))


def test_retention_deletes_streams_last_written_before_it() -> None:
    files = [f("old", 10, 8), f("new", 10, 1)]
    assert plan_sweep(files, 7, 1_000, NOW) == [Delete(Path("old"))]
    assert plan_sweep(files, None, 1_000, NOW) == []


def test_the_cap_deletes_oldest_streams_first_then_trims_the_last_one() -> None:
    files = [f("a", 600, 3), f("b", 600, 2), f("c", 300, 1)]
    assert plan_sweep(files, None, 1_000, NOW) == [Delete(Path("a"))]
    assert plan_sweep([f("big", 5_000, 0)], None, 1_000, NOW) == [Trim(Path("big"), 500)]


def test_group_names_map_to_folders_and_back() -> None:
    for group in ("/aws/lambda/fn-1", "/my/app.log", "plain", "/aws/lambda/has.dot"):
        folder = group_folder(group)
        assert "/" not in folder and folder not in (".", "..")
        assert folder_group(folder) == group
    assert group_folder("/aws/lambda/fn-1") == "fn-1"  # where Lamina always kept it


def test_custom_stream_names_come_back_exactly(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    names = ["2024/01/02/[$LATEST]abc", "app_1", "a/b/c/d/e", "50%", "..", "x.y"]
    for name in names:
        store.append("~g", name, 1, "m")
    store.flush()
    assert sorted(s for s, _ in store.stream_paths("~g")) == sorted(names)


def test_a_sweep_enforces_retention_and_trims_without_losing_lines(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs")
    groups = GroupSettings(tmp_path / "logs" / ".groups.json")
    for i in range(2000):
        store.append("fn", "s1", NOW + i, f"line {i:05d} " + "x" * 40)
    store.flush()
    groups.set("/aws/lambda/fn", GroupInfo(retention_days=1))
    keeper = RetentionKeeper(store, groups, 20_000, 60, clock=lambda: NOW / 1000)
    assert asyncio.run(keeper.sweep()) == 1
    path = store.stream_paths("fn")[0][1]
    kept = path.read_text().splitlines()
    assert path.stat().st_size <= 10_000
    assert kept[-1].endswith("line 01999 " + "x" * 40)
    assert all(line.count("\t") == 1 for line in kept)  # whole lines only
    # A day later the stream is past its retention and goes.
    later = RetentionKeeper(store, groups, 20_000, 60, clock=lambda: NOW / 1000 + 2 * 86_400)
    os.utime(path, (NOW / 1000, NOW / 1000))
    assert asyncio.run(later.sweep()) == 1
    assert store.stream_paths("fn") == []
    assert GroupSettings(tmp_path / "logs" / ".groups.json").retention("/aws/lambda/fn") == 1


def test_a_line_longer_than_an_event_is_cut_and_the_next_lines_still_read(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.append("fn", "s", 1, "x" * (MAX_EVENT_CHARS * 3))
    store.append("fn", "s", 2, "after")
    store.flush()
    events = list(read_events(store.stream_paths("fn")[0][1]))
    assert [ts for ts, _ in events] == [1, 2]
    assert len(events[0][1]) < MAX_EVENT_CHARS and events[1][1] == "after"
