"""Lambda's ``AWS/Lambda`` metrics computed from per-minute rollups (pure).

Each metric is what Lambda would have published per request, summarised per period:

* ``Invocations`` — 1 per invocation that ran: Sum = SampleCount = invocations.
* ``Errors`` — 1 per failed invocation, 0 per success: Sum = errors, Average = error rate.
* ``Throttles`` — 1 per throttled request, 0 per invocation that ran.
* ``Duration`` — ms per invocation: exact Sum/Min/Max/SampleCount; percentiles (``p50``,
  ``p99``, ``p99.9`` …) estimated from the rollups' fixed buckets.
* ``ConcurrentExecutions`` — the period's *average* concurrency (summed duration over the
  period's length), one sample per period: rollups hold no instantaneous peak.
* Provisioned concurrency's: ``ProvisionedConcurrencyInvocations`` (invocations its
  environments served) and ``ProvisionedConcurrencySpilloverInvocations`` (those that ran
  on on-demand environments because they were all busy), counted as Invocations is;
  ``ProvisionedConcurrentExecutions`` and ``ProvisionedConcurrencyUtilization``, one sample
  per invocation of the version (served or spilled over), as Lambda emits them: how many
  of its provisioned environments served an event when it began, and that over the
  provisioned concurrency configured (0.5: half of it in use); ``Maximum`` is the peak.
  Like Lambda's, they have no datapoint in a period without such an invocation.
* ``RecursiveInvocationsDropped`` — 1 per invocation recursive loop detection stopped
  (lamina.events.recursion), no datapoint in a period without one.

A period with nothing to count has no datapoint, as in CloudWatch.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from lamina.billing.rollups import Minute, RollupKey, merged, quantile

NAMESPACE = "AWS/Lambda"
UNITS = {
    "Invocations": "Count",
    "Errors": "Count",
    "Throttles": "Count",
    "Duration": "Milliseconds",
    "ConcurrentExecutions": "Count",
    "ProvisionedConcurrencyInvocations": "Count",
    "ProvisionedConcurrencySpilloverInvocations": "Count",
    "ProvisionedConcurrentExecutions": "Count",
    "ProvisionedConcurrencyUtilization": "Count",
    "RecursiveInvocationsDropped": "Count",
}
# What ListMetrics lists for every function (provisioned concurrency's are not listed:
# most functions have none).
METRIC_NAMES = (
    "Invocations",
    "Errors",
    "Throttles",
    "Duration",
    "ConcurrentExecutions",
)
BASIC_STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,2})?)$")


@dataclass(frozen=True, slots=True)
class StatisticSummary:
    """One period's statistics of one metric."""

    sample_count: float
    total: float
    minimum: float
    maximum: float
    minute: Minute | None  # the merged rollup, for Duration's percentiles
    # A custom metric's distinct values and their counts, for its percentiles (None: not
    # known, as for statistic sets).
    values: dict[float, float] | None = None

    @property
    def average(self) -> float:
        return self.total / self.sample_count if self.sample_count else 0.0

    def statistic(self, name: str, metric: str) -> float | None:
        """A basic statistic or ``pNN``; None when it has no value (a percentile of counts)."""
        if name == "SampleCount":
            return self.sample_count
        if name == "Average":
            return self.average
        if name == "Sum":
            return self.total
        if name == "Minimum":
            return self.minimum
        if name == "Maximum":
            return self.maximum
        q = percentile(name)
        if q is None:
            return None
        if self.values is not None:
            return exact_percentile(self.values, q)
        m = self.minute
        if m is None or metric != "Duration":
            return None
        return quantile(m.duration_buckets, q, m.duration_max_ms)


def exact_percentile(values: dict[float, float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile of values with counts."""
    total = sum(values.values())
    if total <= 0:
        return None
    rank = q * total
    seen = 0.0
    for value in sorted(values):
        seen += values[value]
        if seen >= rank:
            return value
    return max(values)


def percentile(name: str) -> float | None:
    """``p99`` → 0.99; None if ``name`` is not a percentile statistic."""
    match = _PERCENTILE.match(name)
    if match is None:
        return None
    value = float(match.group(1))
    return value / 100 if 0 < value < 100 else None


def summarise(metric: str, m: Minute, period_s: int) -> StatisticSummary | None:
    """The statistics of ``metric`` over one period's merged rollup (None: no datapoint)."""
    n = m.invocations
    if metric == "Invocations":
        return StatisticSummary(n, n, 1, 1, m) if n else None
    if metric == "Errors":
        return (
            StatisticSummary(n, m.errors, 0 if m.errors < n else 1, 1 if m.errors else 0, m)
            if n
            else None
        )
    if metric == "Throttles":
        samples = n + m.throttles
        if not samples:
            return None
        return StatisticSummary(samples, m.throttles, 0 if n else 1, 1 if m.throttles else 0, m)
    if metric == "RecursiveInvocationsDropped":
        # One per invocation stopped (lamina.events.recursion); no datapoint without one.
        drops = m.recursive_drops
        return StatisticSummary(drops, drops, 1, 1, m) if drops else None
    if metric == "Duration":
        if not n:
            return None
        low = m.duration_min_ms if m.duration_min_ms is not None else 0.0
        return StatisticSummary(n, m.duration_sum_ms, low, m.duration_max_ms, m)
    if metric == "ConcurrentExecutions":
        if not n:
            return None
        average = m.duration_sum_ms / (period_s * 1000.0)
        return StatisticSummary(1, average, average, average, m)
    if metric == "ProvisionedConcurrencyInvocations":
        served = m.provisioned_invocations
        return StatisticSummary(served, served, 1, 1, m) if served else None
    if metric == "ProvisionedConcurrencySpilloverInvocations":
        spilled = m.spillover_invocations
        return StatisticSummary(spilled, spilled, 1, 1, m) if spilled else None
    if metric == "ProvisionedConcurrentExecutions":
        if m.pc_samples:
            return StatisticSummary(m.pc_samples, m.pc_busy_sum, m.pc_busy_min, m.pc_busy_max, m)
        if not m.provisioned_invocations:
            return None
        # Minutes stored before the samples were kept: the period's average concurrency.
        average = m.provisioned_duration_sum_ms / (period_s * 1000.0)
        return StatisticSummary(1, average, average, average, m)
    if metric == "ProvisionedConcurrencyUtilization":
        if not m.pc_samples:
            return None
        return StatisticSummary(m.pc_samples, m.pc_used_sum, m.pc_used_min, m.pc_used_max, m)
    raise ValueError(f"unknown metric {metric!r}")


def periods(minutes: Iterable[tuple[RollupKey, Minute]], period_s: int) -> dict[int, Minute]:
    """Minutes grouped into periods aligned on multiples of ``period_s`` (epoch seconds)."""
    groups: dict[int, list[Minute]] = {}
    for (_, _, minute_start), m in minutes:
        groups.setdefault(minute_start - minute_start % period_s, []).append(m)
    return {start: merged(ms) for start, ms in sorted(groups.items())}
