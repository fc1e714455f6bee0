"""What workflows cost on AWS Step Functions (pure; prices are data in ``prices.json``).

Standard workflows are billed per state transition — every state entered, and every retry
of a task — with a monthly free tier. Express workflows are billed per request plus
duration: memory in 64 MB steps, time rounded up to 100 ms, at tiered GB-second prices.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from typing import Any

_RETRYABLE_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled")


@dataclass(frozen=True, slots=True)
class WorkflowPrices:
    per_1000_transitions: Decimal
    free_transitions: int
    per_million_requests: Decimal
    memory_step_mb: int
    duration_step_ms: int
    duration_tiers: tuple[tuple[Decimal | None, Decimal], ...]  # (GB-hours in tier, $/GB-s)


def load_workflow_prices() -> WorkflowPrices:
    raw = json.loads(resources.files("lamina.workflows").joinpath("prices.json").read_text())
    std, exp = raw["standard"], raw["express"]
    tiers = []
    for tier in exp["duration"]:
        size = None if tier["size_gb_hours"] is None else Decimal(tier["size_gb_hours"])
        tiers.append((size, Decimal(tier["price_per_gb_s"])))
    return WorkflowPrices(
        Decimal(std["price_per_1000_transitions"]),
        int(std["free_transitions_per_month"]),
        Decimal(exp["price_per_million_requests"]),
        int(exp["memory_step_mb"]),
        int(exp["duration_step_ms"]),
        tuple(tiers),
    )


def transitions(events: list[dict[str, Any]]) -> int:
    """State transitions in one history: states entered plus task retries."""
    entered = sum(1 for e in events if str(e["type"]).endswith("StateEntered"))
    task_entries = sum(1 for e in events if e["type"] == "TaskStateEntered")
    attempts = sum(1 for e in events if e["type"] in _RETRYABLE_SCHEDULED)
    return entered + max(0, attempts - task_entries)


def standard_cost(
    total_transitions: int, prices: WorkflowPrices, free_tier: bool = True
) -> Decimal:
    billable = max(0, total_transitions - (prices.free_transitions if free_tier else 0))
    return prices.per_1000_transitions * billable / 1000


def billed_memory_mb(memory_mb: float, prices: WorkflowPrices) -> int:
    """Memory in whole 64 MB steps, at least one step."""
    step_mb = prices.memory_step_mb
    return max(step_mb, math.ceil(memory_mb / step_mb) * step_mb)


def billed_duration_ms(duration_ms: float, prices: WorkflowPrices) -> int:
    """One Express execution's duration, rounded up to the next 100 ms (at least 100)."""
    step_ms = prices.duration_step_ms
    return max(step_ms, math.ceil(duration_ms / step_ms) * step_ms)


def express_memory_mb(*texts: str) -> float:
    """The memory an Express execution is billed for, estimated from what it holds: its
    definition and its input and output documents (AWS: "based on the size of the
    workflow definition ... and the execution payload"). A workflow of ordinary size
    is one 64 MB step."""
    return sum(len(t.encode()) for t in texts) / (1024 * 1024)


def express_cost(
    requests: int, durations_ms: list[float], memory_mb: float, prices: WorkflowPrices
) -> Decimal:
    """``durations_ms`` of each execution; ``memory_mb`` used (billed in 64 MB steps)."""
    billed_mb = billed_memory_mb(memory_mb, prices)
    billed_ms = sum(billed_duration_ms(d, prices) for d in durations_ms)
    return express_cost_of(requests, billed_mb * billed_ms, prices)


def express_cost_of(requests: int, mb_ms: int, prices: WorkflowPrices) -> Decimal:
    """Express executions' cost from their billed MB-milliseconds (each execution's
    memory step * its rounded duration, summed)."""
    gb_s = Decimal(mb_ms) / 1024 / 1000
    cost = prices.per_million_requests * requests / 1_000_000
    remaining = gb_s
    for size_gb_hours, price in prices.duration_tiers:
        if remaining <= 0:
            break
        in_tier = remaining if size_gb_hours is None else min(remaining, size_gb_hours * 3600)
        cost += in_tier * price
        remaining -= in_tier
    return cost
