"""Workflow usage rows and their prices (pure, and the usage table in SQLite)."""

from __future__ import annotations

import sqlite3
from decimal import Decimal

from lamina.services.stepfunctions.records import ExecutionRecord, HistoryEntry
from lamina.services.stepfunctions.usage import (
    UPSERT,
    USAGE_SCHEMA,
    WorkflowUsage,
    query_usage,
    usage_row,
)
from lamina.tools.workflow_cost import workflow_bills, workflow_row, workflows_total
from lamina.workflows.cost import load_workflow_prices
from lamina.workflows.parse import parse_definition

PRICES = load_workflow_prices()
DEFINITION = '{"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}'
DAY = 1_780_000_000.0  # 2026-05-28 UTC


def execution(express: bool, events: list[str], seconds: float = 0.01) -> ExecutionRecord:
    ex = ExecutionRecord(
        "arn:aws:states:us-east-1:000000000000:execution:m:e",
        "arn:aws:states:us-east-1:000000000000:stateMachine:m",
        "e",
        "{}",
        DAY,
        DEFINITION,
        "arn:aws:iam::000000000000:role/r",
        parse_definition(DEFINITION),
        express=express,
    )
    ex.history = [HistoryEntry(i + 1, t, DAY, i, {}) for i, t in enumerate(events)]
    ex.stopped, ex.output = DAY + seconds, "{}"
    return ex


def test_standard_rows_count_transitions_and_a_redrive_only_its_new_ones() -> None:
    first = ["ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered",
             "TaskScheduled", "TaskFailed", "ExecutionFailed"]  # fmt: skip
    ex = execution(False, first)
    assert usage_row(ex, PRICES)[2:] == ("STANDARD", 1, 2, 0, 0)
    ex.history += [HistoryEntry(8, t, DAY, 7, {}) for t in
                   ("ExecutionRedriven", "TaskStateEntered", "TaskScheduled", "TaskSucceeded",
                    "TaskStateExited", "SucceedStateEntered", "ExecutionSucceeded")]  # fmt: skip
    assert usage_row(ex, PRICES)[2:] == ("STANDARD", 0, 2, 0, 0)


def test_express_rows_round_duration_and_memory() -> None:
    assert usage_row(execution(True, [], 0.001), PRICES)[2:] == ("EXPRESS", 1, 0, 100, 6400)
    assert usage_row(execution(True, [], 0.2501), PRICES)[2:] == ("EXPRESS", 1, 0, 300, 19200)


def test_rows_add_up_per_machine_and_day() -> None:
    c = sqlite3.connect(":memory:")
    c.executescript(USAGE_SCHEMA)
    for row in [usage_row(execution(True, [], 0.01), PRICES, wall=DAY)] * 3:
        c.execute(UPSERT, row)
    c.execute(UPSERT, (*row[:1], "2026-06-01", *row[2:]))
    (all_days,) = query_usage(c)
    assert (all_days.executions, all_days.billed_ms, all_days.mb_ms) == (4, 400, 25600)
    (first_day,) = query_usage(c, until=DAY)
    assert first_day.executions == 3
    assert c.execute("SELECT COUNT(*) FROM usage").fetchone() == (2,)


def test_bills() -> None:
    usage = [
        WorkflowUsage("arn:aws:states:us-east-1:1:stateMachine:s", "STANDARD", 10, 5000, 0, 0),
        WorkflowUsage("arn:aws:states:us-east-1:1:stateMachine:x", "EXPRESS", 2, 0, 200, 12800),
    ]
    std, exp = workflow_bills(usage, PRICES)
    assert std.total == Decimal("0.125")  # 5,000 x $0.000025
    assert exp.request_cost == Decimal("0.000002")
    assert exp.gb_s == Decimal("0.0125")
    assert exp.duration_cost == Decimal("0.0125") * Decimal("0.00001667")
    # The free tier takes 4,000 transitions off the total once.
    assert workflows_total([std, exp], PRICES, free_tier=True) == (
        Decimal("0.025") + exp.request_cost + exp.duration_cost
    )
    row = workflow_row(exp)
    assert (row["kind"], row["state_machine"], row["gb_s"]) == ("workflow", "x", "0.0125")
