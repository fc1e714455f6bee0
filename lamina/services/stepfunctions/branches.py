"""Durable Parallel and Map states, at any depth, in Standard executions.

Each Parallel branch, inline Map iteration and distributed Map child is a *scope* that
commits as the top level does: the events written under it since its last commit (its
own and those of the branches nested in it) and the cursor of its latest transition go to
``branch_progress`` in a group commit — every 64 pure transitions, and before anything
with an outside effect (a task, nested branches, the end), for which it waits; a Wait
commits when it begins. Transitions not yet committed are pure: a resumed branch computes
them again the same way. When a branch ends, its last
events and its outcome (``branch_ends``) are queued too. After a crash the resumed state
writes each branch's committed events again (same types, details and timestamps; new ids
in the new order) and the branch goes on from its last committed cursor: ended branches
are not run again, a branch in flight re-runs only from its last committed transition (a
Task in flight runs again: at-least-once). So the finished history has every state's
events once, as without the crash.

Scopes are named by a path: ``<at>/<i>`` for branch ``i`` of the top-level state entered
when ``at`` history events were committed (a resumed execution re-enters it at the same
count), and ``<scope>@<n>/<j>`` for branch ``j`` of a state entered inside ``<scope>``
after ``n`` of its events were committed (the same on resume, for the same reason). Events
are stored with scope-local ids (1, 2, ... in the scope; a ``previous`` outside it is 0).
Every row of an execution goes when it ends.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lamina.services.stepfunctions.cursors import cursor, from_cursor, sleep_cursor
from lamina.services.stepfunctions.history_text import cursor_text, dumps, events_text, events_value
from lamina.services.stepfunctions.records import HistoryEntry
from lamina.workflows.jsonpath import Json
from lamina.workflows.runner import MapRunHook, Record
from lamina.workflows.steps import Err, Event, Frame, Move, Ok, Outcome, RunBranches, Sleep

BRANCHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS branch_results (
    execution TEXT NOT NULL, at INTEGER NOT NULL, idx INTEGER NOT NULL, ok INTEGER NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (execution, at, idx)
);
CREATE TABLE IF NOT EXISTS branch_ends (
    execution TEXT NOT NULL, scope TEXT NOT NULL, idx INTEGER NOT NULL, ok INTEGER NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (execution, scope, idx)
);
CREATE TABLE IF NOT EXISTS branch_progress (
    execution TEXT NOT NULL, scope TEXT NOT NULL, seq INTEGER NOT NULL, events TEXT NOT NULL,
    cursor TEXT, PRIMARY KEY (execution, scope, seq)
);
"""
# branch_results is where Lamina before scoped branches kept top-level outcomes (scope
# "<at>"); it is still read, and emptied as its executions end.

# queue(table, row): add ``row`` to ``table`` (branch_progress or branch_ends) in the next
# group commit; the future is done once it is committed.
Queue = Callable[[str, tuple[Any, ...]], "asyncio.Future[None]"]
_GROUP = 64  # pure transitions of a branch queued together


@dataclass
class Saved:
    """What one branch had committed: its events (scope-local ids), the cursor of its last
    committed transition (None once it ended) and how many chunks they came in."""

    events: list[HistoryEntry]
    cursor: dict[str, Any] | None
    chunks: int


@dataclass
class KeptBranches:
    """Everything kept of the branches of running executions, read once at start-up."""

    ends: dict[tuple[str, str], dict[int, Outcome]]  # (execution, state scope) → outcomes
    saved: dict[tuple[str, str], Saved]  # (execution, branch scope) → its progress

    def forget(self, execution: str) -> None:
        for key in [k for k in self.ends if k[0] == execution]:
            del self.ends[key]
        for key in [k for k in self.saved if k[0] == execution]:
            del self.saved[key]


def _outcome(ok: int, value: str) -> Outcome:
    parsed = json.loads(value)
    return Ok(parsed) if ok else Err(str(parsed["error"]), str(parsed["cause"]))


def load_branches(c: sqlite3.Connection) -> KeptBranches:
    kept = KeptBranches({}, {})
    for execution, at, idx, ok, value in c.execute(
        "SELECT execution, at, idx, ok, value FROM branch_results"
    ).fetchall():
        kept.ends.setdefault((str(execution), str(at)), {})[int(idx)] = _outcome(ok, value)
    for execution, scope, idx, ok, value in c.execute(
        "SELECT execution, scope, idx, ok, value FROM branch_ends"
    ).fetchall():
        kept.ends.setdefault((str(execution), str(scope)), {})[int(idx)] = _outcome(ok, value)
    for execution, scope, events, saved_cursor in c.execute(
        "SELECT execution, scope, events, cursor FROM branch_progress"
        " ORDER BY execution, scope, seq"
    ).fetchall():
        saved = kept.saved.setdefault((str(execution), str(scope)), Saved([], None, 0))
        saved.events.extend(events_value(events))
        saved.cursor = None if saved_cursor is None else json.loads(saved_cursor)
        saved.chunks += 1
    return kept


def forget_op(execution: str) -> Callable[[sqlite3.Connection], object]:
    def op(c: sqlite3.Connection) -> None:
        for table in ("branch_results", "branch_ends", "branch_progress"):
            c.execute(f"DELETE FROM {table} WHERE execution = ?", (execution,))

    return op


@dataclass
class ExecutionLink:
    """What the scopes of one execution share: its history and how it records, the store's
    queue, what is kept, and a check run at each transition (the history's limit)."""

    arn: str
    history: list[HistoryEntry]
    record: Record
    queue: Queue
    kept: KeptBranches
    check: Callable[[], None]


class StoredBranches:
    """The :class:`~lamina.workflows.runner.BranchLog` of one entry of a Parallel or Map
    state; ``scope`` names it (see the module's docstring)."""

    def __init__(
        self,
        link: ExecutionLink,
        scope: str,
        parent: BranchScope | None,
        history: list[HistoryEntry] | None = None,
        record: Record | None = None,
    ) -> None:
        self.link = link
        self.scope = scope
        self.parent = parent
        # The history its branches write to: the execution's, or a Map Run child's.
        self.history = history if history is not None else link.history
        self.record = record if record is not None else link.record
        self.scopes: dict[int, BranchScope] = {}

    def known(self) -> dict[int, Outcome]:
        return dict(self.link.kept.ends.get((self.link.arn, self.scope), {}))

    def branch(self, index: int) -> BranchScope:
        made = self.scopes[index] = BranchScope(
            self.link, f"{self.scope}/{index}", self.parent, self.history, self.record
        )
        return made

    def child(self, index: int, run: MapRunHook) -> BranchScope | None:
        """A distributed Map's child: its own history, not the execution's (so nothing it
        writes is written in an enclosing branch); None for an Express child (not kept)."""
        history: list[HistoryEntry] | None = run.history(index)
        if history is None:
            return None
        made = self.scopes[index] = BranchScope(
            self.link, f"{self.scope}/{index}", None, history, run.record(index)
        )
        return made

    def done(self, index: int, outcome: Outcome) -> None:
        """Branch ``index`` ended: its last events and its outcome, in the next commit (not
        waited for: a crash before it runs the branch again from its last transition)."""
        value: Json = (
            outcome.value
            if isinstance(outcome, Ok)
            else {"error": outcome.error, "cause": outcome.cause}
        )
        end = (self.link.arn, self.scope, index, int(isinstance(outcome, Ok)), dumps(value))
        scope = self.scopes.get(index)
        chunk = scope.chunk(None) if scope is not None else None
        if chunk is not None:  # the same commit as the end: rows of one batch go together
            self.link.queue("branch_progress", chunk)
        self.link.queue("branch_ends", end)


class BranchScope:
    """The :class:`~lamina.workflows.runner.BranchScope` of one branch or iteration."""

    def __init__(
        self,
        link: ExecutionLink,
        scope: str,
        parent: BranchScope | None,
        history: list[HistoryEntry],
        record: Record,
    ) -> None:
        self.link = link
        self.scope = scope
        self.parent = parent
        self.history = history
        self._record = record
        self.local: dict[int, int] = {}  # history id → id in this scope
        self.pending: list[HistoryEntry] = []  # written under it since its last commit
        self.committed = 0  # events committed (or queued) in this scope
        self.chunks = 0
        self.last: asyncio.Future[None] | None = None
        # The latest transition not yet queued: how many pending events lead to it, and
        # its cursor. Pure transitions are queued in groups (_GROUP); anything with an
        # outside effect queues the latest first (``settled``), so a crash loses only
        # transitions that are computed again the same way.
        self.mark: tuple[int, dict[str, Any]] | None = None
        self.moves = 0

    def start(self, parent: int | None) -> tuple[int | None, Move | Sleep | None]:
        saved = self.link.kept.saved.get((self.link.arn, self.scope))
        if saved is None or not saved.events:
            return None, None
        history = self.history
        last = parent if parent is not None else len(history)
        # A saved previousEventId 0 is an event outside the branch (written again chained
        # to ``parent``) — or, in a child execution's own history (no parent), a real 0:
        # its ExecutionStarted's and its first state's Entered event's.
        ids: dict[int, int] = {} if parent is not None else {0: 0}
        again = []
        for e in saved.events:
            n = len(history) + 1
            entry = HistoryEntry(n, e.type, e.timestamp, ids.get(e.previous, last), e.details)
            history.append(entry)
            again.append(entry)
            ids[e.id] = n
            self.local[n] = e.id
            last = n
        self.committed = len(saved.events)
        self.chunks = saved.chunks
        if self.parent is not None:  # not yet committed in the enclosing branch
            self.parent.capture(again)
        return last, None if saved.cursor is None else from_cursor(saved.cursor)

    def record(self, events: tuple[Event, ...], previous: int | None) -> int:
        last = self._record(events, previous)
        self.capture(self.history[len(self.history) - len(events) :])
        return last

    def capture(self, entries: list[HistoryEntry]) -> None:
        for entry in entries:
            self.local[entry.id] = self.committed + len(self.pending) + 1
            self.pending.append(entry)
        if self.parent is not None:
            self.parent.capture(entries)

    def chunk(self, at: dict[str, Any] | None, upto: int | None = None) -> tuple[Any, ...] | None:
        """The row committing the first ``upto`` pending events (all: None) with cursor
        ``at`` (None: the branch ended); None if there is nothing to commit."""
        n = len(self.pending) if upto is None else upto
        self.mark = None
        if n == 0:
            return None
        local = self.local
        events = [
            HistoryEntry(local[e.id], e.type, e.timestamp, local.get(e.previous, 0), e.details)
            for e in self.pending[:n]
        ]
        self.committed += n
        del self.pending[:n]
        row = (self.link.arn, self.scope, self.chunks, events_text(events),
               None if at is None else cursor_text(at))  # fmt: skip
        self.chunks += 1
        return row

    def _queue(self, row: tuple[Any, ...] | None) -> None:
        if row is not None:
            self.last = self.link.queue("branch_progress", row)

    async def moved(self, frame: Frame) -> None:
        self.link.check()
        self.mark = (len(self.pending), cursor(frame))
        if self.mark[0] >= _GROUP:
            self._queue(self.chunk(self.mark[1], self.mark[0]))
        self.moves += 1
        if self.moves % _GROUP == 0:
            await asyncio.sleep(0)  # a looping branch never holds the loop

    async def sleeping(self, step: Sleep) -> None:
        self._queue(self.chunk(sleep_cursor(step)))  # with it, what led to the Wait
        if self.last is not None:
            await asyncio.shield(self.last)

    async def settled(self) -> None:
        if self.mark is not None:
            self._queue(self.chunk(self.mark[1], self.mark[0]))
        if self.last is not None:
            await asyncio.shield(self.last)  # commits are in order: the last one is enough

    def nested(self, step: RunBranches) -> StoredBranches:
        return StoredBranches(
            self.link, f"{self.scope}@{self.committed}", self, self.history, self._record
        )
