"""The Cost page's bill: settled minutes summed once, later ones read on each load."""

from __future__ import annotations

from decimal import Decimal

from lamina.console.bill_cache import BillCache
from lamina.console.day_cost import SETTLED_S

DAY = 1_700_006_400  # a UTC midnight


def test_cached_bill_equals_a_full_read_and_reads_settled_minutes_once() -> None:
    # (function, minute) → (invocations, cold, errors, GB-s, cost)
    minutes: dict[tuple[str, int], tuple[int, int, int, str, str]] = {}
    reads: list[tuple[float, float | None]] = []

    def read(by: str, since: float, until: float | None) -> list[tuple[object, ...]]:
        reads.append((since, until))
        sums: dict[str, list[object]] = {}
        for (fn, minute), (n, cold, err, gb, cost) in minutes.items():
            if minute >= since and (until is None or minute < until):
                seen = sums.setdefault(fn, [0, 0, 0, Decimal(0), Decimal(0)])
                for i, v in enumerate((n, cold, err, Decimal(gb), Decimal(cost))):
                    seen[i] = seen[i] + v  # type: ignore[operator]
        return [(fn, *v) for fn, v in sorted(sums.items())]

    for m in range(0, 90 * 60, 60):
        minutes[("a", DAY + m)] = (2, 1, 0, "0.25", "0.0000021")
        minutes[("b", DAY + m)] = (1, 0, 1, "1.5", "0.0000317")
    cache = BillCache(read, {"function": 1})
    now = DAY + 90 * 60 + 10
    first = cache.rows("function", DAY, now)
    assert first == read("function", DAY, None)
    assert reads[0] == (DAY, DAY + 90 * 60 - SETTLED_S)
    minutes[("a", DAY + 89 * 60)] = (3, 0, 3, "0.5", "0.0000042")  # late, unsettled minute
    minutes[("c", DAY + 90 * 60)] = (1, 0, 0, "0.1", "0.000001")
    reads.clear()
    again = cache.rows("function", DAY, now + 20)
    assert reads and all(since >= DAY + 90 * 60 - SETTLED_S for since, _ in reads)
    assert again == read("function", DAY, None)
    assert [r[0] for r in again] == ["a", "b", "c"]
