"""Distributions of measurements: nearest-rank percentiles, trimming, summaries.

Nearest rank (the smallest value with at least ``p`` of the values at or below it) is what
the ledger's percentiles use too, so a figure here and in ``lamina cost`` agree.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of ``values`` (need not be sorted); ``fraction`` in [0, 1]."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be within [0, 1], not {fraction}")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def trim_count(n: int, fraction: float) -> int:
    """How many values to discard from *each* end: ``floor(n * fraction)``, never all."""
    if not 0.0 <= fraction < 0.5:
        raise ValueError(f"the discarded fraction must be within [0, 0.5), not {fraction}")
    return min(int(n * fraction), max(0, (n - 1) // 2))


def trimmed_indices(values: Sequence[float], fraction: float) -> list[int]:
    """Indices of the values kept after discarding the lowest and highest ``fraction``.

    As in AWS Lambda Power Tuning's ``discardTopBottom``: 0.2 drops the fastest 20 % and
    the slowest 20 %. Ties keep their original order, so the result is deterministic.
    """
    order = sorted(range(len(values)), key=lambda i: (values[i], i))
    cut = trim_count(len(values), fraction)
    return sorted(order[cut : len(order) - cut])


@dataclass(frozen=True, slots=True)
class Summary:
    """A distribution in the figures the reports show."""

    count: int
    mean: float
    p50: float
    p90: float
    p99: float
    min: float
    max: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        if not values:
            raise ValueError("summary of no values")
        return cls(
            count=len(values),
            mean=math.fsum(values) / len(values),
            p50=percentile(values, 0.50),
            p90=percentile(values, 0.90),
            p99=percentile(values, 0.99),
            min=min(values),
            max=max(values),
        )

    def as_dict(self) -> dict[str, float]:
        return {
            "count": self.count,
            "mean": round(self.mean, 3),
            "p50": self.p50,
            "p90": self.p90,
            "p99": self.p99,
            "min": self.min,
            "max": self.max,
        }
