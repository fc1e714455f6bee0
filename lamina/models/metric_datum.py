"""A custom metric's datapoint, as PutMetricData and the Embedded Metric Format give it.

Both front doors (the CloudWatch API and EMF lines in function logs) parse into
:class:`MetricDatum`; the store (``services/cloudwatch/custom.py``) folds them into buckets.
"""

from __future__ import annotations

from dataclasses import dataclass

Dimensions = tuple[tuple[str, str], ...]  # (name, value), sorted by name


@dataclass(frozen=True, slots=True)
class MetricDatum:
    """One metric's samples at one time: a statistic set, with the distinct values and
    their counts when they are known (single values, Values/Counts arrays, EMF arrays)."""

    namespace: str
    name: str
    dimensions: Dimensions
    timestamp: float  # epoch seconds
    unit: str
    high_resolution: bool  # StorageResolution 1: kept per second too
    sample_count: float
    total: float
    minimum: float
    maximum: float
    values: tuple[tuple[float, float], ...] = ()  # (value, count); () for a statistic set


def from_values(
    namespace: str,
    name: str,
    dimensions: Dimensions,
    timestamp: float,
    unit: str,
    high_resolution: bool,
    values: list[tuple[float, float]],
) -> MetricDatum:
    """A datum from (value, count) pairs (counts > 0; at least one pair)."""
    count = sum(c for _, c in values)
    return MetricDatum(
        namespace,
        name,
        dimensions,
        timestamp,
        unit,
        high_resolution,
        count,
        sum(v * c for v, c in values),
        min(v for v, _ in values),
        max(v for v, _ in values),
        tuple(values),
    )


UNITS = frozenset(
    {
        "Seconds",
        "Microseconds",
        "Milliseconds",
        "Bytes",
        "Kilobytes",
        "Megabytes",
        "Gigabytes",
        "Terabytes",
        "Bits",
        "Kilobits",
        "Megabits",
        "Gigabits",
        "Terabits",
        "Percent",
        "Count",
        "Bytes/Second",
        "Kilobytes/Second",
        "Megabytes/Second",
        "Gigabytes/Second",
        "Terabytes/Second",
        "Bits/Second",
        "Kilobits/Second",
        "Megabits/Second",
        "Gigabits/Second",
        "Terabits/Second",
        "Count/Second",
        "None",
    }
)
