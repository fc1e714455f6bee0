"""Where a metric's datapoints come from: ``AWS/Lambda`` from the ledger's rollups, any
other namespace from the custom metrics store. Both answer the same question — one
series' statistics per period — so GetMetricStatistics, GetMetricData and the alarms
share one read path.
"""

from __future__ import annotations

from dataclasses import dataclass

from lamina.billing.rollups import Minute, merged
from lamina.services.cloudwatch.custom import Bucket, CustomMetrics
from lamina.services.cloudwatch.dimensions import Dimension, RollupReader, select
from lamina.services.cloudwatch.statistics import NAMESPACE, UNITS, StatisticSummary, summarise

# (period start, unit, statistics) of one series, oldest first.
Summaries = list[tuple[int, str, StatisticSummary]]


def align(at: int, origin: int, period: int) -> int:
    """The start of the period holding ``at`` (periods start at ``origin`` + k·period)."""
    return origin + (at - origin) // period * period


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    """What :meth:`MetricSources.summaries` was asked, as both read paths take it."""

    namespace: str
    metric: str
    dims: list[Dimension]
    unit: str | None
    start: float
    end: float
    period: int
    origin: int = 0


class MetricSources:
    """Statistics per period of any series (blocking: reads SQLite)."""

    def __init__(self, rollups: RollupReader, custom: CustomMetrics | None = None) -> None:
        self._rollups = rollups
        self.custom = custom

    def summaries(
        self,
        namespace: str,
        metric: str,
        dims: list[Dimension],
        unit: str | None,
        start: float,
        end: float,
        period: int,
        origin: int = 0,
    ) -> Summaries:
        """The series' statistics per period, oldest first (periods start at ``origin`` +
        k·period; ``unit`` None: any unit)."""
        q = SeriesQuery(namespace, metric, dims, unit, start, end, period, origin)
        return self._lambda(q) if namespace == NAMESPACE else self._custom(q)

    def _lambda(self, q: SeriesQuery) -> Summaries:
        metric = q.metric
        if metric not in UNITS or (q.unit is not None and q.unit != UNITS[metric]):
            return []
        selection = select(q.dims)
        if selection is None:
            return []
        groups: dict[int, list[Minute]] = {}
        for (_, _, minute), m in self._rollups(*selection, q.start, q.end):
            groups.setdefault(align(minute, q.origin, q.period), []).append(m)
        out: Summaries = []
        for at, minutes in sorted(groups.items()):
            summary = summarise(metric, merged(minutes), q.period)
            if summary is not None:
                out.append((at, UNITS[metric], summary))
        return out

    def _custom(self, q: SeriesQuery) -> Summaries:
        if self.custom is None or any("Value" not in d for d in q.dims):
            return []
        series = tuple(sorted((d["Name"], d["Value"]) for d in q.dims))
        resolution = 1 if q.period < 60 else 60
        groups: dict[tuple[int, str], Bucket] = {}
        for at, bucket_unit, bucket in self.custom.buckets(
            q.namespace, q.metric, series, q.unit, q.start, q.end, resolution
        ):
            key = (align(at, q.origin, q.period), bucket_unit)
            if key in groups:
                groups[key].add(bucket)
            else:
                groups[key] = bucket
        return [
            (at, u, StatisticSummary(b.samples, b.total, b.low, b.high, None, b.values))
            for (at, u), b in sorted(groups.items())
        ]
