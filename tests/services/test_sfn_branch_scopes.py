"""A branch's progress as the durable executor keeps it (``branches.py``), without a server:
transitions queued in groups and before effects, and a restart that writes the committed
events again (ids renumbered, chains kept) and resumes at the last committed cursor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from lamina.services.stepfunctions.branches import (
    ExecutionLink,
    KeptBranches,
    Saved,
    StoredBranches,
)
from lamina.services.stepfunctions.history_text import events_value
from lamina.services.stepfunctions.records import HistoryEntry
from lamina.workflows.steps import Event, Frame, Move, Ok

ARN = "arn:aws:states:us-east-1:123456789012:execution:m:x"


def _link(kept: KeptBranches, rows: list[tuple[str, tuple[Any, ...]]]) -> ExecutionLink:
    history: list[HistoryEntry] = [HistoryEntry(1, "ExecutionStarted", 0.0, 0, {})]

    def record(events: tuple[Event, ...], previous: int | None) -> int:
        last = len(history) if previous is None else previous
        for e in events:
            history.append(HistoryEntry(len(history) + 1, e.type, 1.0 + len(history), last,
                                        e.details))  # fmt: skip
            last = len(history)
        return last

    def queue(table: str, row: tuple[Any, ...]) -> asyncio.Future[None]:
        rows.append((table, row))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    return ExecutionLink(ARN, history, record, queue, kept, lambda: None)


def _reload(rows: list[tuple[str, tuple[Any, ...]]]) -> KeptBranches:
    """What load_branches reads back from these rows."""
    kept = KeptBranches({}, {})
    for table, row in rows:
        if table == "branch_progress":
            _, scope, _, events, cursor = row
            saved = kept.saved.setdefault((ARN, scope), Saved([], None, 0))
            saved.events.extend(events_value(events))
            saved.cursor = None if cursor is None else json.loads(cursor)
            saved.chunks += 1
    return kept


def test_a_long_branch_commits_in_groups_and_resumes_where_it_was() -> None:
    rows: list[tuple[str, tuple[Any, ...]]] = []

    async def first_run() -> list[HistoryEntry]:
        link = _link(KeptBranches({}, {}), rows)
        scope = StoredBranches(link, "3", None).branch(0)
        chain = scope.record((Event("MapIterationStarted", {"index": 0}),), 1)
        for i in range(100):  # 100 pure transitions, each with one event
            await scope.moved(Frame(f"S{i}", {"i": i}, {}))
            chain = scope.record((Event("PassStateEntered", {"name": f"S{i}"}),), chain)
        await scope.moved(Frame("Work", {"i": 100}, {"v": 1}))
        await scope.settled()  # a task is next: everything up to it is queued
        scope.record((Event("TaskStateEntered", {"name": "Work"}),), chain)  # then: crash
        return link.history

    before = asyncio.run(first_run())
    progress = [row for table, row in rows if table == "branch_progress"]
    assert len(progress) == 2  # one group of 64 transitions' events, then the rest
    kept = _reload(rows)
    saved = kept.saved[(ARN, "3/0")]
    assert [e.id for e in saved.events] == list(range(1, 102))  # scope-local ids
    assert saved.cursor == {"state": "Work", "input": {"i": 100}, "variables": {"v": 1}}

    async def resumed() -> tuple[int | None, Any, list[HistoryEntry]]:
        link = _link(kept, [])
        link.record((Event("MapStateStarted", {}),), None)  # the state entered again
        scope = StoredBranches(link, "3", None).branch(0)
        last, step = scope.start(2)
        return last, step, link.history

    last, step, after = asyncio.run(resumed())
    again = after[2:]
    assert [e.type for e in again] == [e.type for e in before[1:102]]
    assert [e.timestamp for e in again] == [e.timestamp for e in before[1:102]]
    assert again[0].previous == 2  # chained from where the state started now
    assert all(e.previous == e.id - 1 for e in again[1:])
    assert last == again[-1].id
    assert isinstance(step, Move) and step.frame == Frame("Work", {"i": 100}, {"v": 1})


def test_an_ended_branch_is_known_with_its_outcome_and_all_its_events() -> None:
    rows: list[tuple[str, tuple[Any, ...]]] = []

    async def run() -> None:
        log = StoredBranches(_link(KeptBranches({}, {}), rows), "5", None)
        scope = log.branch(2)
        chain = scope.record((Event("PassStateEntered", {"name": "A"}),), 1)
        await scope.moved(Frame("B", 1, {}))
        scope.record((Event("PassStateExited", {"name": "A"}),), chain)
        log.done(2, Ok({"out": 1}))

    asyncio.run(run())
    assert [t for t, _ in rows] == ["branch_progress", "branch_ends"]
    (_, ended), (_, end) = rows
    assert ended[4] is None and end[1:4] == ("5", 2, 1)
    assert [e.type for e in _reload(rows).saved[(ARN, "5/2")].events] == [
        "PassStateEntered", "PassStateExited"]  # fmt: skip
