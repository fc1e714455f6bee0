"""Workflow prices, with the examples of AWS's Step Functions pricing page."""

from __future__ import annotations

from decimal import Decimal

from lamina.workflows.cost import express_cost, load_workflow_prices, standard_cost, transitions

PRICES = load_workflow_prices()


def test_standard_bills_transitions_beyond_the_free_tier() -> None:
    # 100,000 executions x 10 transitions a month: (1,000,000 - 4,000) x $0.000025
    assert standard_cost(1_000_000, PRICES) == Decimal("24.90")
    assert standard_cost(3_000, PRICES) == 0
    assert standard_cost(3_000, PRICES, free_tier=False) == Decimal("0.075")


def test_express_bills_requests_and_rounded_gb_seconds() -> None:
    # 1 million requests of 30 s at 64 MB: $1.00 + 1,875,000 GB-s x $0.00001667
    assert express_cost(1_000_000, [30_000.0] * 1_000_000, 64, PRICES) == Decimal("32.25625")
    # 1 ms rounds up to 100 ms, 65 MB up to 128 MB
    one = express_cost(1, [1.0], 65, PRICES)
    assert one == Decimal("0.000001") + Decimal(128) / 1024 * Decimal("0.1") * Decimal("0.00001667")


def test_transitions_count_states_entered_and_task_retries() -> None:
    kinds = ["ExecutionStarted", "PassStateEntered", "PassStateExited", "TaskStateEntered",
             "TaskScheduled", "TaskFailed", "TaskScheduled", "TaskFailed", "TaskScheduled",
             "TaskSucceeded", "TaskStateExited", "SucceedStateEntered", "ExecutionSucceeded"]  # fmt: skip
    assert transitions([{"type": k} for k in kinds]) == 3 + 2
