"""Power tuning, the pure part: per-size figures from samples, and the recommendation.

A function is invoked N times at each memory size (see :mod:`lamina.tools.tuner`); here
each size's samples become its figures and the sizes are ranked by a strategy, as AWS
Lambda Power Tuning does:

* ``cost``: the smallest average cost per invocation (ties: faster, then smaller);
* ``speed``: the smallest average duration (ties: cheaper, then smaller);
* ``balanced``: the smallest ``weight * cost / max cost + (1 - weight) * duration / max
  duration`` — weight 0 is ``speed``, 1 is ``cost``.

"Duration" is the *latency* the function adds: Duration, plus Init Duration for a cold
start (only cold-start runs have those). Both averages are over the samples kept after
discarding the fastest and slowest ``discard`` fraction. Cost is the billed duration's
(INIT included on cold starts) at the first-tier price plus the request fee.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from lamina.billing.prices import PriceTable
from lamina.billing.projection import Workload
from lamina.errors import InvalidParameterValue
from lamina.tools.stats import Summary, trimmed_indices

DEFAULT_SIZES = (128, 256, 512, 1024, 1536, 1769, 3008)
MIN_MEMORY_MB = 128
MAX_MEMORY_MB = 10_240


class Strategy(StrEnum):
    COST = "cost"
    SPEED = "speed"
    BALANCED = "balanced"


@dataclass(frozen=True, slots=True)
class Sample:
    """One measured invoke at one memory size."""

    memory_mb: int
    payload: int  # index into the payload list
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_ms: float | None
    wall_ms: float

    @property
    def latency_ms(self) -> float:
        return self.duration_ms + (self.init_ms or 0.0)


@dataclass(frozen=True, slots=True)
class SizeResult:
    """What one memory size did."""

    memory_mb: int
    measured: int  # successful invokes that count (before discarding)
    kept: int  # after discarding the fastest and slowest
    errors: int  # function errors, throttles, invokes without a REPORT line
    cold_excluded: int  # warm runs: invokes that turned out to be cold starts
    latency: Summary | None
    billed: Summary | None
    wall: Summary | None
    max_memory_mb: int | None
    init: Summary | None  # cold starts seen at this size (warm runs: the warm-ups)
    workload: Workload | None
    cost_per_invocation: Decimal | None
    first_error: str | None = None

    @property
    def usable(self) -> bool:
        return self.kept > 0 and self.cost_per_invocation is not None

    @property
    def cost_per_million(self) -> Decimal | None:
        if self.cost_per_invocation is None:
            return None
        return self.cost_per_invocation * 1_000_000


def check_sizes(sizes: Sequence[int]) -> tuple[int, ...]:
    """Memory sizes, validated as Lambda does (128-10,240 MB), sorted and unique."""
    if not sizes:
        raise InvalidParameterValue("give at least one memory size")
    for size in sizes:
        if not MIN_MEMORY_MB <= size <= MAX_MEMORY_MB:
            raise InvalidParameterValue(
                f"memory size {size} MB is outside Lambda's {MIN_MEMORY_MB}-{MAX_MEMORY_MB} MB"
            )
    return tuple(sorted(set(sizes)))


def summarize(
    memory_mb: int,
    samples: Sequence[Sample],
    *,
    architecture: str,
    table: PriceTable,
    discard: float = 0.2,
    errors: int = 0,
    cold_excluded: int = 0,
    extra_inits: Sequence[float] = (),
    first_error: str | None = None,
    ephemeral_mb: int = 512,
) -> SizeResult:
    """One size's figures from its samples (all at ``memory_mb``)."""
    inits = [s.init_ms for s in samples if s.init_ms is not None] + list(extra_inits)
    kept = [samples[i] for i in trimmed_indices([s.latency_ms for s in samples], discard)]
    workload = (
        Workload.from_samples(
            memory_mb, [s.billed_ms for s in kept], architecture, ephemeral_mb, table
        )
        if kept
        else None
    )
    return SizeResult(
        memory_mb=memory_mb,
        measured=len(samples),
        kept=len(kept),
        errors=errors,
        cold_excluded=cold_excluded,
        latency=Summary.of([s.latency_ms for s in kept]) if kept else None,
        billed=Summary.of([float(s.billed_ms) for s in kept]) if kept else None,
        wall=Summary.of([s.wall_ms for s in kept]) if kept else None,
        max_memory_mb=max((s.max_memory_mb for s in samples), default=None),
        init=Summary.of(inits) if inits else None,
        workload=workload,
        cost_per_invocation=workload.cost_per_invocation(table) if workload else None,
        first_error=first_error,
    )


def recommend(
    results: Sequence[SizeResult], strategy: Strategy, weight: float = 0.5
) -> SizeResult | None:
    """The size the strategy picks among those with measurements (None if there are none)."""
    if not 0.0 <= weight <= 1.0:
        raise InvalidParameterValue(f"the balanced weight must be within [0, 1], not {weight}")
    usable = [r for r in results if r.usable]
    if not usable:
        return None

    def cost(r: SizeResult) -> Decimal:
        assert r.cost_per_invocation is not None
        return r.cost_per_invocation

    def speed(r: SizeResult) -> float:
        assert r.latency is not None
        return r.latency.mean

    if strategy is Strategy.COST:
        return min(usable, key=lambda r: (cost(r), speed(r), r.memory_mb))
    if strategy is Strategy.SPEED:
        return min(usable, key=lambda r: (speed(r), cost(r), r.memory_mb))
    max_cost = max(cost(r) for r in usable)
    max_speed = max(speed(r) for r in usable)

    def score(r: SizeResult) -> float:
        c = float(cost(r) / max_cost) if max_cost > 0 else 0.0
        d = speed(r) / max_speed if max_speed > 0 else 0.0
        return weight * c + (1.0 - weight) * d

    # Ties (exact ones are common: a CPU-bound function below one vCPU costs the same at
    # every size) break as the pure strategies do, so weight 1 is ``cost`` and 0 ``speed``.
    return min(usable, key=lambda r: (score(r), cost(r), speed(r), r.memory_mb))


def speedup(slow: SizeResult, fast: SizeResult) -> float | None:
    """How many times faster ``fast`` is than ``slow`` (mean latency)."""
    if slow.latency is None or fast.latency is None or fast.latency.mean <= 0:
        return None
    ratio = slow.latency.mean / fast.latency.mean
    return ratio if math.isfinite(ratio) else None
