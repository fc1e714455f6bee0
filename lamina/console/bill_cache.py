"""The Cost page's bill without re-summing every minute of its span on every load.

The span is whole UTC days (the last N, today included). Minutes older than
:data:`~lamina.console.day_cost.SETTLED_S` cannot change any more, so their sums are kept
per (grouping, first day) and only later minutes are read again: the first load of a span
sums all of it, later loads the last ~16 minutes plus what settled since. Sums are exact
(integers and decimals added up).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from decimal import Decimal

from lamina.console.day_cost import SETTLED_S

# (grouping, since, until or None) → rows: the group's key columns, then invocations, cold
# starts, errors, GB-s and cost (rollups_db.bill's shape).
BillReader = Callable[[str, float, float | None], list[tuple[object, ...]]]
Sums = dict[tuple[object, ...], list[object]]
KEPT_SPANS = 16  # (grouping, first day) pairs kept; the least recently used forgotten


def _add(into: Sums, rows: list[tuple[object, ...]], keys: int) -> None:
    for row in rows:
        key, values = row[:keys], row[keys:]
        seen = into.get(key)
        if seen is None:
            into[key] = [int(str(values[0])), int(str(values[1])), int(str(values[2])),
                         Decimal(str(values[3])), Decimal(str(values[4]))]  # fmt: skip
        else:
            for i in range(3):
                seen[i] = int(str(seen[i])) + int(str(values[i]))
            for i in (3, 4):
                seen[i] = Decimal(str(seen[i])) + Decimal(str(values[i]))


class BillCache:
    """Bill rows per grouping over whole UTC days, settled minutes summed once."""

    def __init__(self, read: BillReader, key_columns: dict[str, int]) -> None:
        self._read = read
        self._keys = key_columns  # how many key columns each grouping's rows start with
        self._lock = threading.Lock()  # pages render on worker threads
        self._spans: OrderedDict[tuple[str, int], tuple[float, Sums]] = OrderedDict()

    def rows(self, by: str, since_day: int, now: float) -> list[tuple[object, ...]]:
        """Rows of ``by`` from the UTC day starting at ``since_day`` (epoch s) to now, in
        key order."""
        keys = self._keys[by]
        settle = float(max(since_day, int(now // 60) * 60 - SETTLED_S))
        with self._lock:
            settled_until, sums = self._spans.pop((by, since_day), (float(since_day), {}))
            if settle > settled_until:
                _add(sums, self._read(by, settled_until, settle), keys)
                settled_until = settle
            self._spans[(by, since_day)] = (settled_until, sums)
            while len(self._spans) > KEPT_SPANS:
                self._spans.popitem(last=False)
            total: Sums = {k: list(v) for k, v in sums.items()}
            live = self._read(by, settled_until, None)
        _add(total, live, keys)
        return [(*k, *total[k]) for k in sorted(total, key=lambda k: tuple(map(str, k)))]
