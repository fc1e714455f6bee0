"""Order statistics for benchmark samples (pure functions, no I/O)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile (0 to 100) by linear interpolation between closest ranks.

    Raises ``ValueError`` on no samples: a missing measurement must not read as zero.
    """
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0 <= p <= 100:
        raise ValueError(f"percentile must be within 0..100, not {p}")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def median(samples: Sequence[float]) -> float:
    return percentile(samples, 50)


def ratio(value: float, base: float) -> float | None:
    """``value / base``, or None when the base is zero (nothing to compare with)."""
    return value / base if base else None
