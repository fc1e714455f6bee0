"""The console's Cost and Workflows pages (pure parts)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from lamina.billing.ledger_queries import GroupTotals
from lamina.billing.prices import load_prices
from lamina.billing.projection import Workload, break_even, parse_server_price, project
from lamina.console import cost, workflows
from lamina.errors import InvalidParameterValue
from tests.workflows.test_picture import DEFINITION, HISTORY


def test_cost_query_parses_the_form_and_refuses_bad_values() -> None:
    q = cost.CostQuery.parse({"by": "day", "days": "7", "rate": "10/s", "server": "40$/month"})
    assert q.by == "day" and q.days == 7 and q.rate is not None and q.server is not None
    assert q.rate.per_month == 10 * 730 * 3600
    assert cost.CostQuery.parse({}) == cost.CostQuery()
    for bad in ({"by": "week"}, {"days": "0"}, {"days": "x"}, {"rate": "fast"}):
        with pytest.raises(InvalidParameterValue):
            cost.CostQuery.parse(bad)


def test_the_bill_by_node_names_each_node() -> None:
    q = cost.CostQuery.parse({"by": "node"})
    zero = Decimal(0)
    groups = [
        cost.BillRow.of_totals(
            GroupTotals(
                "api", None, None, 2, 1, 0, 0, 1.0, 0.5, 2, 256, zero, zero, zero, zero, node=node
            )
        )
        for node in ("", "n1")
    ]
    page = cost.cost_html(q, groups, [])
    assert "<option value=node selected>" in page and "<th>Node</th><th>Function" in page
    assert "<td>(control plane)</td><td>api</td>" in page and "<td>n1</td><td>api</td>" in page


def test_outlooks_are_lamina_costs_projection_and_break_even() -> None:
    prices = load_prices()
    w = Workload.from_samples(512, [120, 80, 100], "x86_64", table=prices)
    q = cost.CostQuery.parse({"rate": "5/s", "server": "40$/month"})
    (o,) = cost.outlooks([("fn", w)], q, prices)
    assert o.projection == project(w, q.rate.per_month if q.rate else 0, prices)
    assert o.break_even == break_even(w, parse_server_price("40$/month"), prices)
    page = cost.cost_html(q, [], [o])
    assert 'data-function="fn"' in page and f"{o.projection.total:.2f}" in page
    assert f"{o.break_even.requests_per_month} / month" in page


def test_an_execution_page_colours_states_from_its_history() -> None:
    row = workflows.ExecutionRow("order-17", "arn:x", "FAILED", 100.0, 100.3)
    page = workflows.execution_html(row, DEFINITION, HISTORY)
    assert page.count("<svg") == 1 and "caught · 250 ms" in page
    states = json.loads(page.split('data-states="', 1)[1].split('"', 1)[0].replace("&quot;", '"'))
    assert states == {"Charge": "caught", "Refund": "failed"}
    assert "CardDeclined: no funds" in page and "300 ms" in page
    listing = workflows.machines_html(
        [workflows.MachineRow("orders", "arn:m", "STANDARD", 0.0, {"FAILED": 1, "SUCCEEDED": 2})]
    )
    assert "<td class=executions>3</td>" in listing and "<td class=failed>1</td>" in listing
