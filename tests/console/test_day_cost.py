"""Cost today for the functions list: settled minutes summed once, recent ones each time."""

from __future__ import annotations

from decimal import Decimal

from lamina.console.day_cost import SETTLED_S, DayCost

DAY = 1_700_006_400  # a UTC midnight


def test_settled_minutes_are_read_once_and_the_total_stays_exact() -> None:
    minutes: dict[int, dict[str, Decimal]] = {}
    reads: list[tuple[float, float | None]] = []

    def read(since: float, until: float | None) -> dict[str, Decimal]:
        reads.append((since, until))
        out: dict[str, Decimal] = {}
        for minute, costs in minutes.items():
            if minute >= since and (until is None or minute < until):
                for name, cost in costs.items():
                    out[name] = out.get(name, Decimal(0)) + cost
        return out

    def truth(now: float) -> dict[str, Decimal]:
        found = read(DAY, None)
        reads.pop()  # the test's own read
        return found

    for m in range(0, 120 * 60, 60):  # two hours, a cost every minute
        minutes[DAY + m] = {"a": Decimal("0.0000001"), "b": Decimal("0.3")}
    minutes[DAY - 60] = {"a": Decimal(5)}  # yesterday: never counted
    cost = DayCost(read)
    now = DAY + 120 * 60 + 5
    assert cost.today(now) == truth(now) == {"a": Decimal("0.0000120"), "b": Decimal("36.0")}
    assert reads[0] == (DAY, now - 5 - SETTLED_S)  # the settled part, read once
    reads.clear()
    # A late record in a recent (unsettled) minute and a new minute are both seen.
    minutes[DAY + 119 * 60]["a"] += Decimal(1)
    minutes[DAY + 120 * 60] = {"c": Decimal("0.5")}
    assert cost.today(now + 30) == truth(now + 30)
    assert all(since >= now - 5 - SETTLED_S for since, _ in reads)  # no re-read of the day
    # A new day starts from nothing.
    tomorrow = DAY + 86_400 + 30
    assert cost.today(tomorrow) == {}
