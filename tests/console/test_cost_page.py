"""The console's Cost page reads the rollups and agrees with the raw ledger (what
``lamina cost`` reads): the same invocations, errors and exact cost per function and day."""

from __future__ import annotations

import re
import time
from decimal import Decimal
from pathlib import Path

from lamina.billing.ledger import Ledger
from lamina.billing.ledger_reader import LedgerReader
from lamina.billing.meter import EXACT
from lamina.console.cost import BillRow, cost_page
from lamina.models.invocation import Outcome
from tests.billing.test_ledger import TABLE, make_record


def test_the_bill_from_rollups_matches_the_raw_ledger(tmp_path: Path) -> None:
    now = time.time()
    ledger = Ledger.open(tmp_path, TABLE)
    shapes = [("a", 128, 12, "x86_64"), ("b", 1024, 250, "arm64"), ("a", 128, 3, "x86_64")]
    for i in range(60):
        name, memory, billed, arch = shapes[i % 3]
        ledger.record(
            make_record(
                i, name, now - 3600 * (i % 30), billed_ms=billed, memory_mb=memory,
                architecture=arch, outcome=Outcome.ERROR if i % 7 == 0 else Outcome.SUCCESS,
            )
        )  # fmt: skip
    ledger.close()

    since = (int(now // 86_400) - 1) * 86_400  # the page's span: yesterday and today (UTC)
    raw = LedgerReader(tmp_path / "ledger.db").groups("function", None, since, None)
    html = cost_page(tmp_path / "ledger.db", TABLE, {"days": "2"}, lambda _: "x86_64")
    rows = re.findall(r"<tr><td>(\w+)</td><td class=invocations>(\d+)</td><td>\d+</td>"
                      r"<td>(\d+)</td><td>[\d.]+</td><td class=usd>([\d.]+)</td></tr>", html)  # fmt: skip
    expected = [
        (g.function, str(g.invocations), str(g.errors),
         f"{EXACT.add(EXACT.add(g.request_cost, g.duration_cost), g.ephemeral_cost):.9f}")
        for g in raw
    ]  # fmt: skip
    assert rows == expected and len(rows) == 2
    total = sum((Decimal(r[3]) for r in rows), Decimal(0))
    assert f"<strong id=bill-total>{total:.9f}</strong>" in html

    by_day = cost_page(tmp_path / "ledger.db", TABLE, {"days": "2", "by": "day"})
    # The projections come from the same per-function sums, however the bill is grouped.
    outlook = re.findall(r'<tr data-function="(\w+)">.*?</tr>', html)
    assert outlook == ["a", "b"] and by_day.count("<tr data-function=") == 2
    assert html.split("<table id=outlook>")[1] == by_day.split("<table id=outlook>")[1]
    days = {g.day for g in LedgerReader(tmp_path / "ledger.db").groups("day", None, since, None)}
    assert days and all(f"<td>{d}</td>" in by_day for d in days)
    assert "by must be one of" in cost_page(tmp_path / "ledger.db", TABLE, {"by": "month"})


def test_day_keys_are_utc_days() -> None:
    row = BillRow.of("day", (19_676, "f", 1, 0, 0, "0.5", "0.000001"))
    assert str(row.day) == "2023-11-15" and row.function == "f"
