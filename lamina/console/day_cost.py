"""Each function's cost today for the functions list, without re-summing the whole day's
minutes on every load.

Minutes older than :data:`SETTLED_S` cannot change any more (an invocation is recorded in
the minute it started, and none runs longer than 15 minutes), so their sum is kept, per UTC
day, and only the minutes after it are read again: the first load of a day sums the day so
far, later loads sum at most the last ~16 minutes plus what settled since.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

SETTLED_S = 16 * 60  # the longest invocation (900 s) and a minute's slack
CostReader = Callable[[float, float | None], dict[str, Decimal]]  # [since, until) → cost


class DayCost:
    """Cost today per function: the settled minutes' sum, kept, plus the recent ones."""

    def __init__(self, read: CostReader) -> None:
        self._read = read
        self._lock = threading.Lock()  # pages render on worker threads
        self._day = -1
        self._settled_until = 0.0  # minutes before this one are in _settled
        self._settled: dict[str, Decimal] = {}

    def today(self, now: float) -> dict[str, Decimal]:
        day = int(now // 86_400) * 86_400
        settle = max(day, (int(now // 60) * 60) - SETTLED_S)
        with self._lock:
            if day != self._day:
                self._day, self._settled_until, self._settled = day, float(day), {}
            if settle > self._settled_until:
                for name, cost in self._read(self._settled_until, settle).items():
                    self._settled[name] = self._settled.get(name, Decimal(0)) + cost
                self._settled_until = settle
            total = dict(self._settled)
            recent = self._read(self._settled_until, None)
        for name, cost in recent.items():
            total[name] = total.get(name, Decimal(0)) + cost
        return total
