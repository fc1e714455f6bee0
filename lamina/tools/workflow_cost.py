"""Workflows in ``lamina cost``: each state machine's usage priced as Step Functions bills it.

Standard: per state transition (``prices.json`` of :mod:`lamina.workflows`: $0.025 per
1,000 in us-east-1), the monthly free tier of 4,000 transitions applied to the total only
(it is per account). Express: per request plus GB-seconds (each execution's memory in
64 MB steps times its duration rounded up to 100 ms, summed when it ended).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lamina.services.stepfunctions.usage import WorkflowUsage
from lamina.tools.formatting import plain
from lamina.workflows.cost import WorkflowPrices, express_cost_of, standard_cost


@dataclass(frozen=True, slots=True)
class WorkflowBill:
    usage: WorkflowUsage
    transition_cost: Decimal
    request_cost: Decimal
    duration_cost: Decimal

    @property
    def total(self) -> Decimal:
        return self.transition_cost + self.request_cost + self.duration_cost

    @property
    def gb_s(self) -> Decimal:
        return Decimal(self.usage.mb_ms) / 1024 / 1000


def workflow_bills(usage: list[WorkflowUsage], prices: WorkflowPrices) -> list[WorkflowBill]:
    """One bill per state machine, without the free tier (see :func:`workflows_total`)."""
    out = []
    for u in usage:
        if u.type == "EXPRESS":
            requests = prices.per_million_requests * u.executions / 1_000_000
            duration = express_cost_of(0, u.mb_ms, prices)
            out.append(WorkflowBill(u, Decimal(0), requests, duration))
        else:
            transitions = standard_cost(u.transitions, prices, free_tier=False)
            out.append(WorkflowBill(u, transitions, Decimal(0), Decimal(0)))
    return out


def workflows_total(bills: list[WorkflowBill], prices: WorkflowPrices, free_tier: bool) -> Decimal:
    """All workflows together; with ``free_tier`` the Standard transitions' free tier is
    taken off the total once."""
    standard = sum(b.usage.transitions for b in bills if b.usage.type == "STANDARD")
    express = sum((b.request_cost + b.duration_cost for b in bills), Decimal(0))
    return standard_cost(standard, prices, free_tier=free_tier) + express


def workflow_row(bill: WorkflowBill) -> dict[str, Any]:
    """``lamina cost --json``: a workflow row (``"kind": "workflow"``; function rows have
    no ``kind``)."""
    u = bill.usage
    return {
        "kind": "workflow",
        "state_machine": u.name,
        "state_machine_arn": u.machine_arn,
        "type": u.type,
        "executions": u.executions,
        "transitions": u.transitions,
        "billed_ms": u.billed_ms,
        "gb_s": plain(bill.gb_s),
        "transition_cost": plain(bill.transition_cost),
        "request_cost": plain(bill.request_cost),
        "duration_cost": plain(bill.duration_cost),
        "total_cost": plain(bill.total),
    }
