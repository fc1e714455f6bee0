"""Per-call durations inside ``lamina serve``, written at exit as one line of medians.

The timing hooks (``bench/timing_hook``, ``bench/api_timing_hook``) wrap functions of a
running server with :meth:`CallTimes.wrap` and call :meth:`CallTimes.write_at_exit`. They
load this file by its path beside them, not as ``bench.call_timing``: a hook is put on the
``PYTHONPATH`` of whichever checkout is measured, and an older checkout's ``bench/`` may
not have this module.

Medians, because a preempted call on a loaded machine inflates a mean; the first
``warm_up`` calls of each key (the cold start, the first invokes) are left out.
"""

from __future__ import annotations

import atexit
import os
import statistics
import time
from collections.abc import Callable
from typing import Any


class CallTimes:
    """Durations (seconds) of wrapped calls, kept by key."""

    def __init__(self, warm_up: int, clock: Callable[[], float] = time.perf_counter) -> None:
        self.warm_up = warm_up
        self.clock = clock
        self.samples: dict[str, list[float]] = {}

    def kept(self, key: str) -> list[float]:
        """The list ``key``'s durations go to (for timers that are not plain wrappers)."""
        return self.samples.setdefault(key, [])

    def wrap(self, owner: Any, name: str, key: str) -> Callable[..., Any]:
        """Replace ``owner.name`` with a timed wrapper; returns the wrapper."""
        original: Callable[..., Any] = getattr(owner, name)
        kept = self.kept(key)
        clock = self.clock

        def timed(*args: Any, **kwargs: Any) -> Any:
            t = clock()
            result = original(*args, **kwargs)
            kept.append(clock() - t)
            return result

        setattr(owner, name, timed)
        return timed

    def medians(self) -> list[str]:
        """``key=<median µs>`` for every key that saw a call."""
        return [
            f"{key}={statistics.median(values[self.warm_up :] or values) * 1e6:.2f}"
            for key, values in self.samples.items()
            if values
        ]

    def line(self, extra: list[str]) -> str:
        """The line a run appends: ``LAMINA_BENCH_TAG``, the medians, then ``extra``."""
        return os.environ.get("LAMINA_BENCH_TAG", "") + " " + " ".join(self.medians() + extra)

    def write_at_exit(self, out: str, extra: Callable[[], list[str]] = list) -> None:
        """Append :meth:`line` to ``out`` when the server exits."""

        def dump() -> None:
            with open(out, "a") as f:
                f.write(self.line(extra()) + "\n")

        atexit.register(dump)
