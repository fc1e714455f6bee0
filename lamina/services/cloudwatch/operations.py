"""GetMetricStatistics, GetMetricData and ListMetrics for ``AWS/Lambda``, over the rollups.

Operations take the decoded request body (CBOR and JSON decode to the same shapes;
timestamps arrive as epoch seconds) and return the response body, with timestamps as
:class:`~lamina.services.protocol.cbor.Epoch` so either protocol renders them correctly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from lamina.billing.rollups import Minute, RollupKey, SeriesKey
from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.statistics import (
    BASIC_STATISTICS,
    METRIC_NAMES,
    NAMESPACE,
    UNITS,
    percentile,
    periods,
    summarise,
)
from lamina.services.protocol.awsjson import JsonOperation
from lamina.services.protocol.cbor import Epoch

RollupReader = Callable[
    [str | None, str | None, float | None, float | None], list[tuple[RollupKey, Minute]]
]
SeriesLister = Callable[[], Iterable[SeriesKey]]

MAX_DATAPOINTS_STATISTICS = 1440
MAX_QUERIES = 500
LIST_PAGE = 500
LATEST = "$LATEST"
_QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]{0,254}$")
Dimension = dict[str, str]


def invalid(message: str) -> AwsServiceError:
    return AwsServiceError("InvalidParameterValueException", message, 400, "InvalidParameterValue")


def missing(name: str) -> AwsServiceError:
    return AwsServiceError(
        "MissingRequiredParameterException",
        f"The parameter {name} is required.",
        400,
        "MissingParameter",
    )


def combination(message: str) -> AwsServiceError:
    return AwsServiceError(
        "InvalidParameterCombinationException", message, 400, "InvalidParameterCombination"
    )


def _epoch(body: dict[str, Any], name: str) -> float:
    value = body.get(name)
    if value is None:
        raise missing(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise invalid(f"The parameter {name} must be a timestamp.")
    return float(value)


def parse_period(value: Any) -> int:
    if value is None:
        raise missing("Period")
    if isinstance(value, bool) or not isinstance(value, int) or value < 60 or value % 60:
        raise invalid("The parameter Period must be a multiple of 60 (Lamina keeps minutes).")
    return value


def parse_dimensions(value: Any) -> list[Dimension]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 30:
        raise invalid("The parameter Dimensions must be a list of at most 30 dimensions.")
    out: list[Dimension] = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("Name"), str):
            raise invalid("Each dimension must have a Name.")
        dim = {"Name": item["Name"]}
        if item.get("Value") is not None:
            if not isinstance(item["Value"], str):
                raise invalid("A dimension's Value must be a string.")
            dim["Value"] = item["Value"]
        out.append(dim)
    return out


def select(dims: list[Dimension]) -> tuple[str | None, str | None] | None:
    """The (function, version) a metric's dimensions name; None when they name no data."""
    values = {d["Name"]: d.get("Value") for d in dims}
    if len(values) != len(dims) or any(v is None for v in values.values()):
        return None
    if not values:
        return None, None
    if not set(values) <= {"FunctionName", "Resource", "ExecutedVersion"}:
        return None
    function = values.get("FunctionName")
    if function is None:
        return None
    version: str | None = None
    resource = values.get("Resource")
    if resource is not None:
        name, _, qualifier = resource.partition(":")
        if name != function:
            return None
        version = qualifier or LATEST
    executed = values.get("ExecutedVersion")
    if executed is not None:
        # Resource may name an alias (resolved per invoke, not stored): ExecutedVersion wins,
        # but a Resource naming another numbered version selects nothing.
        if version is not None and version.isdigit() and version != executed:
            return None
        version = executed
    return function, version


def resource_dimensions(function: str, version: str) -> list[list[Dimension]]:
    """The dimension sets Lambda publishes for a function version."""
    resource = function if version == LATEST else f"{function}:{version}"
    out = [[{"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": resource}]]
    if version != LATEST:
        out.append([*out[0], {"Name": "ExecutedVersion", "Value": version}])
    return out


class CloudWatchOperations:
    """The operations' table over the ledger's rollups (blocking: run off the event loop)."""

    def __init__(self, rollups: RollupReader, series: SeriesLister) -> None:
        self._rollups = rollups
        self._series = series

    def table(self) -> dict[str, JsonOperation]:
        return {
            "GetMetricStatistics": self.get_metric_statistics,
            "GetMetricData": self.get_metric_data,
            "ListMetrics": self.list_metrics,
        }

    def _periods(
        self,
        namespace: Any,
        metric: Any,
        dims: list[Dimension],
        start: float,
        end: float,
        period: int,
    ) -> dict[int, Minute]:
        if namespace != NAMESPACE or metric not in UNITS:
            return {}
        selection = select(dims)
        if selection is None:
            return {}
        function, version = selection
        return periods(self._rollups(function, version, start, end), period)

    def get_metric_statistics(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("Namespace", "MetricName"):
            if not isinstance(body.get(name), str):
                raise missing(name)
        metric = body["MetricName"]
        start, end = _epoch(body, "StartTime"), _epoch(body, "EndTime")
        if end <= start:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        period = parse_period(body.get("Period"))
        basic = body.get("Statistics") or []
        extended = body.get("ExtendedStatistics") or []
        if not basic and not extended:
            raise missing("Statistics")
        if any(s not in BASIC_STATISTICS for s in basic):
            raise invalid(
                f"The parameter Statistics must be some of {', '.join(BASIC_STATISTICS)}."
            )
        if any(not isinstance(s, str) or percentile(s) is None for s in extended):
            raise invalid("The parameter ExtendedStatistics must be percentiles like p99.")
        points = math.ceil((end - start) / period)
        if points > MAX_DATAPOINTS_STATISTICS:
            raise combination(
                f"You have requested up to {points} datapoints, which exceeds the limit of "
                f"{MAX_DATAPOINTS_STATISTICS}. You may reduce the datapoints requested by "
                "increasing Period, or decreasing the time range."
            )
        unit = body.get("Unit")
        datapoints: list[dict[str, Any]] = []
        if unit is None or unit == UNITS.get(metric):
            dims = parse_dimensions(body.get("Dimensions"))
            for at, m in self._periods(body["Namespace"], metric, dims, start, end, period).items():
                summary = summarise(metric, m, period)
                if summary is None:
                    continue
                point: dict[str, Any] = {"Timestamp": Epoch(at), "Unit": UNITS[metric]}
                for stat in basic:
                    point[stat] = summary.statistic(stat, metric)
                if extended:
                    point["ExtendedStatistics"] = {
                        s: v for s in extended if (v := summary.statistic(s, metric)) is not None
                    }
                datapoints.append(point)
        return {"Label": metric, "Datapoints": datapoints}

    def get_metric_data(self, body: dict[str, Any]) -> dict[str, Any]:
        queries = body.get("MetricDataQueries")
        if not isinstance(queries, list) or not queries:
            raise missing("MetricDataQueries")
        if len(queries) > MAX_QUERIES:
            raise invalid(f"At most {MAX_QUERIES} MetricDataQueries are allowed.")
        start, end = _epoch(body, "StartTime"), _epoch(body, "EndTime")
        if end <= start:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        ascending = body.get("ScanBy", "TimestampDescending") == "TimestampAscending"
        results: list[dict[str, Any]] = []
        seen: set[str] = set()
        for query in queries:
            if not isinstance(query, dict):
                raise invalid("Each MetricDataQuery must be a structure.")
            qid = query.get("Id")
            if not isinstance(qid, str) or not _QUERY_ID.match(qid) or qid in seen:
                raise invalid(
                    f"The value {qid!r} for parameter MetricDataQueries.member.Id is invalid: "
                    "it must be unique and start with a lowercase letter."
                )
            seen.add(qid)
            if query.get("Expression") is not None:
                raise invalid("Metric math Expressions are not supported by Lamina.")
            stat_query = query.get("MetricStat")
            if not isinstance(stat_query, dict) or not isinstance(stat_query.get("Metric"), dict):
                raise missing("MetricStat")
            metric_q = stat_query["Metric"]
            metric = metric_q.get("MetricName")
            stat = stat_query.get("Stat")
            if not isinstance(stat, str) or (
                stat not in BASIC_STATISTICS and percentile(stat) is None
            ):
                raise invalid(f"The value {stat!r} for parameter Stat is invalid.")
            period = parse_period(stat_query.get("Period"))
            unit = stat_query.get("Unit")
            dims = parse_dimensions(metric_q.get("Dimensions"))
            stamps: list[Epoch] = []
            values: list[float] = []
            if unit is None or unit == UNITS.get(str(metric)):
                grouped = self._periods(metric_q.get("Namespace"), metric, dims, start, end, period)
                for at, m in grouped.items():
                    summary = summarise(str(metric), m, period)
                    value = None if summary is None else summary.statistic(stat, str(metric))
                    if value is not None:
                        stamps.append(Epoch(at))
                        values.append(value)
            if not ascending:
                stamps.reverse()
                values.reverse()
            if query.get("ReturnData", True) is False:
                continue
            label = query.get("Label") if isinstance(query.get("Label"), str) else metric
            results.append(
                {
                    "Id": qid,
                    "Label": label,
                    "Timestamps": stamps,
                    "Values": values,
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def list_metrics(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = body.get("Namespace")
        wanted_metric = body.get("MetricName")
        filters = parse_dimensions(body.get("Dimensions"))
        if namespace not in (None, NAMESPACE):
            return {"Metrics": []}
        dimension_sets: list[list[Dimension]] = [[]]
        functions: set[str] = set()
        for function, version in sorted(self._series()):
            if function not in functions:
                functions.add(function)
                dimension_sets.append([{"Name": "FunctionName", "Value": function}])
            dimension_sets.extend(resource_dimensions(function, version))
        metrics: list[dict[str, Any]] = []
        for name in METRIC_NAMES:
            if wanted_metric is not None and name != wanted_metric:
                continue
            for dims in dimension_sets:
                if _matches(dims, filters):
                    metrics.append({"Namespace": NAMESPACE, "MetricName": name, "Dimensions": dims})
        token = body.get("NextToken")
        offset = 0
        if token is not None:
            if not isinstance(token, str) or not token.isdigit() or int(token) > len(metrics):
                raise invalid("The NextToken is invalid.")
            offset = int(token)
        page = metrics[offset : offset + LIST_PAGE]
        out: dict[str, Any] = {"Metrics": page}
        if offset + LIST_PAGE < len(metrics):
            out["NextToken"] = str(offset + LIST_PAGE)
        return out


def _matches(dims: list[Dimension], filters: list[Dimension]) -> bool:
    have = {d["Name"]: d["Value"] for d in dims}
    for f in filters:
        if f["Name"] not in have:
            return False
        if "Value" in f and have[f["Name"]] != f["Value"]:
            return False
    return True
