"""Map Runs kept in memory stay bounded: the oldest ended runs are forgotten (pure)."""

from __future__ import annotations

import json

import pytest

from lamina.services.stepfunctions import map_runs
from lamina.workflows.parse import parse_definition
from lamina.workflows.steps import Branch, Err, Event, Frame, JsonDoc, Ok, RunBranches

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


def test_an_ended_map_run_round_trips_through_its_stored_document() -> None:
    runs = map_runs.MapRuns()
    step = RunBranches(
        Frame("Each", {}, {}), "Map", (Branch(CHILD, {"i": 1}, {}), Branch(CHILD, {"i": 2}, {})),
        2, 0, 0, map_run_arn=f"{SM.replace(':stateMachine:', ':mapRun:')}/Each:r",
    )  # fmt: skip
    saved: list[str] = []
    runs.save = lambda run: saved.append(map_runs.run_doc(run))
    tracker = runs.tracker(f"{SM}:ex", SM, step)
    record = tracker.record(0)
    record((Event("ExecutionStarted", {"input": JsonDoc({"i": 1})}),), None)
    tracker.started(0)
    tracker.ended(0, Ok({"done": 1}))
    tracker.started(1)
    tracker.ended(1, Err("Bad", "why"))
    tracker.finished(False)
    (doc,) = saved
    loaded = map_runs.MapRuns()
    loaded.load([doc])
    run = loaded.get(step.map_run_arn or "")
    assert run.describe() == runs.get(step.map_run_arn or "").describe()
    first, second = run.children
    assert (first.status, first.output, second.status, second.error) == (
        "SUCCEEDED", {"done": 1}, "FAILED", "Bad",
    )  # fmt: skip
    assert [e.render()["type"] for e in first.history] == ["ExecutionStarted"]
    assert first.history[0].render()["executionStartedEventDetails"]["input"] == '{"i":1}'
    assert loaded.events == 1 and set(loaded.children) == {first.arn, second.arn}
