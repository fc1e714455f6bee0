"""What the timing hooks (``bench/*_hook/sitecustomize.py``) keep and how they report it.

A hook runs inside ``lamina serve`` (or a cluster worker) with the repository on
``PYTHONPATH``; it adds each segment's duration here and the file is rewritten every
:data:`EVERY` invokes with each segment's median and first quartile, the first
:data:`WARM_UP` samples left out once there are enough.
"""

from __future__ import annotations

import statistics

WARM_UP = 500
EVERY = 1000


class Samples:
    """Segment durations (µs) by name, summarised to ``out`` every :data:`EVERY` invokes."""

    def __init__(self, out: str, width: int = 52) -> None:
        self.out = out
        self.width = width  # of the name column
        self.samples: dict[str, list[float]] = {}
        self.invokes = 0

    def add_us(self, name: str, value_us: float) -> None:
        self.samples.setdefault(name, []).append(value_us)

    def invoke_done(self) -> None:
        self.invokes += 1
        if self.invokes % EVERY == 0:
            self.write()

    def extra_lines(self) -> list[str]:
        """Lines a hook adds below the segments (counters of its own)."""
        return []

    def write(self) -> None:
        lines = [f"{self.out} after {self.invokes} invokes (µs; median, first quartile, n)"]
        for name in sorted(self.samples):
            values = self.samples[name]
            kept = values[WARM_UP:] if len(values) >= 2 * WARM_UP else values
            if len(kept) >= 4:
                q1 = statistics.quantiles(kept, n=4)[0]
                med = statistics.median(kept)
                lines.append(f"{name:{self.width}s} {med:8.1f} {q1:8.1f} {len(values):8d}")
        lines += self.extra_lines()
        with open(self.out, "w") as f:
            f.write("\n".join(lines) + "\n")
