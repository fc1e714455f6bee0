"""Durable Parallel and Map states: each ended branch of a top-level Parallel or Map state
of a Standard execution is kept (``branch_results``), so after a crash the resumed state
runs only the branches and iterations that had not ended.

A branch is keyed by the execution, the number of history events committed when its state
was entered (a resumed execution re-enters the state at the same count: what follows the
last committed transition is recomputed identically) and its index. Its outcome is queued
for the next group commit when it ends, not waited for: a crash before that commit runs it
again (at-least-once, as for a Task). The rows go when the execution ends.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

from lamina.workflows.jsonpath import Json
from lamina.workflows.steps import Err, Ok, Outcome

BRANCHES_SCHEMA = """
CREATE TABLE IF NOT EXISTS branch_results (
    execution TEXT NOT NULL, at INTEGER NOT NULL, idx INTEGER NOT NULL, ok INTEGER NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (execution, at, idx)
);
"""
Key = tuple[str, int]  # (execution ARN, committed history events at the state's entry)
Known = dict[Key, dict[int, Outcome]]


def load_branches(c: sqlite3.Connection) -> Known:
    known: Known = {}
    for execution, at, idx, ok, value in c.execute(
        "SELECT execution, at, idx, ok, value FROM branch_results"
    ).fetchall():
        parsed = json.loads(value)
        outcome: Outcome = Ok(parsed) if ok else Err(str(parsed["error"]), str(parsed["cause"]))
        known.setdefault((str(execution), int(at)), {})[int(idx)] = outcome
    return known


def forget_op(execution: str) -> Callable[[sqlite3.Connection], object]:
    return lambda c: c.execute("DELETE FROM branch_results WHERE execution = ?", (execution,))


class StoredBranches:
    """The :class:`~lamina.workflows.runner.BranchLog` of one state entry."""

    def __init__(
        self,
        key: Key,
        known: Known,
        queue: Callable[[Callable[[sqlite3.Connection], object]], None],
        dumps: Callable[[Any], str],
    ) -> None:
        self.key = key
        self._known = known
        self._queue = queue
        self._dumps = dumps

    def known(self) -> dict[int, Outcome]:
        return dict(self._known.get(self.key, {}))

    def done(self, index: int, outcome: Outcome) -> None:
        self._known.setdefault(self.key, {})[index] = outcome
        value: Json = (
            outcome.value
            if isinstance(outcome, Ok)
            else {"error": outcome.error, "cause": outcome.cause}
        )
        row = (*self.key, index, int(isinstance(outcome, Ok)), self._dumps(value))
        self._queue(lambda c: c.execute("INSERT OR REPLACE INTO branch_results VALUES (?,?,?,?,?)",
                                        row))  # fmt: skip
