"""Map Runs kept in memory stay bounded: the oldest ended runs are forgotten (pure)."""

from __future__ import annotations

import json

import pytest

from lamina.services.stepfunctions import map_runs
from lamina.workflows.parse import parse_definition
from lamina.workflows.steps import Branch, Frame, RunBranches

SM = "arn:aws:states:us-east-1:123456789012:stateMachine:test"
CHILD = parse_definition(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}))


def test_map_runs_forget_the_oldest_ended_runs_past_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(map_runs, "MAX_CHILDREN", 4)
    runs = map_runs.MapRuns()
    for i in range(3):
        step = RunBranches(
            Frame("Each", {}, {}), "Map",
            tuple(Branch(CHILD, {"i": j}, {}) for j in range(2)), 0, 0, 0,
            map_run_arn=f"{SM.replace(':stateMachine:', ':mapRun:')}/Each:{i}",
        )  # fmt: skip
        tracker = runs.tracker(f"{SM}:ex{i}", SM, step)
        if i < 2:
            tracker.finished(True)
    # 6 children made, at most 4 kept: the first (ended) run was forgotten.
    assert len(runs.children) == 4
    assert sorted(a.rsplit(":", 1)[-1] for a in runs.runs) == ["1", "2"]
    assert runs.list_runs(f"{SM}:ex0") == []
