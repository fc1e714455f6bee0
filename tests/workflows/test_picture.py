"""The execution picture: states coloured by what the history says happened."""

from __future__ import annotations

import json
from typing import Any

from lamina.workflows.picture import layout, render_html, render_svg, state_runs

DEFINITION = json.dumps({
    "StartAt": "Charge",
    "States": {
        "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Next": "Ship",
                   "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Refund"}]},
        "Ship": {"Type": "Succeed"},
        "Refund": {"Type": "Fail", "Error": "Refunded"},
    },
})  # fmt: skip


def event(i: int, kind: str, t: float, **details: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"id": i, "type": kind, "timestamp": t, "previousEventId": i - 1}
    if kind.endswith("StateEntered"):
        out["stateEnteredEventDetails"] = details
    elif kind.endswith("StateExited"):
        out["stateExitedEventDetails"] = details
    elif details:
        out[kind[0].lower() + kind[1:] + "EventDetails"] = details
    return out


HISTORY = [
    event(1, "ExecutionStarted", 100.0),
    event(2, "TaskStateEntered", 100.0, name="Charge"),
    event(3, "TaskScheduled", 100.0),
    event(4, "TaskFailed", 100.25, error="CardDeclined", cause="no funds"),
    event(5, "TaskStateExited", 100.25, name="Charge"),
    event(6, "FailStateEntered", 100.3, name="Refund"),
    event(7, "ExecutionFailed", 100.3, error="Refunded"),
]


def test_history_gives_each_state_its_status_and_time() -> None:
    runs, status = state_runs(HISTORY)
    assert status == "FAILED"
    assert runs["Charge"].status == "caught" and runs["Charge"].seconds == 0.25
    assert runs["Refund"].status == "failed"
    assert "Ship" not in runs


def test_svg_draws_every_state_with_its_status_and_the_catch_edge() -> None:
    svg = render_svg(DEFINITION, HISTORY, "order-17")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "order-17 — FAILED" in svg
    assert "caught · 250 ms" in svg  # Charge
    assert ">failed<" in svg  # Refund
    assert ">not run<" in svg  # Ship
    assert 'stroke-dasharray="5,4"' in svg  # the Catch edge


def test_html_adds_the_event_list_with_errors() -> None:
    page = render_html(DEFINITION, HISTORY, "order-17")
    assert "<svg" in page and "CardDeclined: no funds" in page and "ExecutionFailed" in page


def test_a_map_box_counts_its_items_and_failures() -> None:
    definition = json.dumps({"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "End": True, "ItemProcessor": {"StartAt": "I", "States": {
            "I": {"Type": "Pass", "End": True}}}}}})  # fmt: skip
    history = [
        event(1, "ExecutionStarted", 1.0),
        event(2, "MapStateEntered", 1.0, name="Each"),
        event(3, "MapIterationSucceeded", 1.1, name="Each", index=0),
        event(4, "MapIterationFailed", 1.2, name="Each", index=1),
        event(5, "MapIterationSucceeded", 1.3, name="Each", index=2),
        event(6, "MapStateExited", 1.5, name="Each"),
        event(7, "ExecutionSucceeded", 1.5),
    ]
    runs, _ = state_runs(history)
    assert (runs["Each"].iterations, runs["Each"].iterations_failed) == (3, 1)
    assert "3 items, 1 failed" in render_svg(definition, history)


PARALLEL = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [
                {"StartAt": "Charge", "States": {"Charge": {"Type": "Task", "End": True,
                                                            "Resource": "arn:aws:states:::lambda:invoke"}}},
                {"StartAt": "Reserve", "States": {"Reserve": {"Type": "Task", "End": True,
                                                              "Resource": "arn:aws:states:::lambda:invoke"}}},
            ],
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Declined"}],
            "Next": "Done",
        },
        "Done": {"Type": "Succeed"},
        "Declined": {"Type": "Fail"},
    },
}  # fmt: skip


def test_branches_are_drawn_inside_their_state_and_a_failure_is_its_branch_s() -> None:
    # Charge and Reserve run at once; Charge fails after Reserve was entered: the failure
    # belongs to the state its events chain back to, not to the latest one entered.
    history = [
        event(1, "ExecutionStarted", 100.0),
        event(2, "ParallelStateEntered", 100.0, name="Both"),
        event(3, "ParallelStateStarted", 100.0),
        event(4, "TaskStateEntered", 100.0, name="Charge"),
        event(5, "TaskStateEntered", 100.0, name="Reserve"),
        event(6, "TaskScheduled", 100.0),
        event(7, "TaskScheduled", 100.0),
        event(8, "TaskSucceeded", 100.1),
        event(9, "TaskStateExited", 100.1, name="Reserve"),
        event(10, "TaskFailed", 100.2, error="PaymentDeclined"),
        event(11, "ParallelStateFailed", 100.2),
        event(12, "ParallelStateExited", 100.2, name="Both"),
        event(13, "FailStateEntered", 100.2, name="Declined"),
        event(14, "ExecutionFailed", 100.2),
    ]
    chain = {4: 3, 5: 3, 6: 4, 7: 5, 8: 7, 9: 8, 10: 6, 11: 10, 12: 11, 13: 12, 14: 13}
    for e in history:
        e["previousEventId"] = chain.get(e["id"], e["id"] - 1)
    runs, status = state_runs(history)
    assert status == "FAILED"
    assert runs["Charge"].status == "failed" and runs["Reserve"].status == "succeeded"
    assert runs["Both"].status == "caught"
    placed = layout(PARALLEL)
    _, by, bw, bh = placed.boxes["Both"]
    branches = placed.inner["Both"]
    assert [list(b.boxes) for _, _, b in branches] == [["Charge"], ["Reserve"]]
    for x, y, branch in branches:  # inside the Parallel's box, side by side
        assert x > 0 and x + branch.width < bw and y > 0 and y + branch.height < bh
    assert branches[0][0] + branches[0][2].width < branches[1][0]
    assert placed.boxes["Done"][1] > by + bh  # the next state is below the whole box
    svg = render_svg(json.dumps(PARALLEL), history, "order-2")
    assert svg.count("<title>Charge: failed</title>") == 1
    assert svg.count("<title>Reserve: succeeded</title>") == 1


def test_an_evaluation_failure_marks_the_state_it_names() -> None:
    # EvaluationFailed is chained past its state's Entered event (as on AWS): its
    # ``state`` detail says whose it is, not the chain
    history = [
        event(1, "ExecutionStarted", 100.0),
        event(2, "PassStateEntered", 100.0, name="Shape"),
        event(3, "PassStateExited", 100.0, name="Shape"),
        event(4, "PassStateEntered", 100.1, name="Render"),
        {**event(5, "EvaluationFailed", 100.1, error="States.QueryEvaluationError",
                 cause="bad", state="Render"), "previousEventId": 3},
        event(6, "ExecutionFailed", 100.1, error="States.QueryEvaluationError"),
    ]  # fmt: skip
    runs, status = state_runs(history)
    assert status == "FAILED"
    assert (runs["Shape"].failed, runs["Render"].failed) == (False, True)
