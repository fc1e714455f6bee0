"""GetMetricStatistics, GetMetricData and ListMetrics, for ``AWS/Lambda`` (over the rollups)
and custom namespaces (over the custom metrics store), through :mod:`sources`.

Operations take the decoded request body (CBOR and JSON decode to the same shapes;
timestamps arrive as epoch seconds) and return the response body, with timestamps as
:class:`~lamina.services.protocol.cbor.Epoch` so either protocol renders them correctly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from lamina.billing.rollups import SeriesKey
from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.custom import LIST_WINDOW_S
from lamina.services.cloudwatch.dimensions import LATEST, Dimension
from lamina.services.cloudwatch.metricmath import (
    Budget,
    Context,
    Node,
    Series,
    Value,
    evaluate,
    order,
    parse,
    results,
    validation,
)
from lamina.services.cloudwatch.sources import MetricSources, align
from lamina.services.cloudwatch.statistics import (
    BASIC_STATISTICS,
    METRIC_NAMES,
    NAMESPACE,
    percentile,
)
from lamina.services.protocol.awsjson import JsonOperation
from lamina.services.protocol.cbor import Epoch

SeriesLister = Callable[[], Iterable[SeriesKey]]

MAX_DATAPOINTS_STATISTICS = 1440
MAX_QUERIES = 500
# GetMetricData's limit of datapoints per call, as the bound of an expression's window.
MAX_EXPRESSION_POINTS = 100_800
LIST_PAGE = 500
QUERY_ID = re.compile(r"^[a-z][a-zA-Z0-9_]{0,254}$")


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


HIGH_RESOLUTION_PERIODS = (1, 5, 10, 30)


def parse_period(value: Any, namespace: Any = NAMESPACE) -> int:
    """A period in seconds: a multiple of 60, or for custom metrics (which keep
    high-resolution datapoints per second) also 1, 5, 10 or 30."""
    if value is None:
        raise missing("Period")
    if isinstance(value, bool) or not isinstance(value, int):
        raise invalid("The parameter Period must be an integer number of seconds.")
    if namespace != NAMESPACE and value in HIGH_RESOLUTION_PERIODS:
        return value
    if value < 60 or value % 60:
        if namespace == NAMESPACE:
            raise invalid("The parameter Period must be a multiple of 60 (Lamina keeps minutes).")
        raise invalid("The parameter Period must be 1, 5, 10, 30 or a multiple of 60.")
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


def resource_dimensions(function: str, version: str) -> list[list[Dimension]]:
    """The dimension sets Lambda publishes for a function version."""
    resource = function if version == LATEST else f"{function}:{version}"
    out = [[{"Name": "FunctionName", "Value": function}, {"Name": "Resource", "Value": resource}]]
    if version != LATEST:
        out.append([*out[0], {"Name": "ExecutedVersion", "Value": version}])
    return out


class CloudWatchOperations:
    """The operations' table over the metric sources (blocking: run off the event loop)."""

    def __init__(self, sources: MetricSources, series: SeriesLister) -> None:
        self._sources = sources
        self._series = series

    def table(self) -> dict[str, JsonOperation]:
        return {
            "GetMetricStatistics": self.get_metric_statistics,
            "GetMetricData": self.get_metric_data,
            "ListMetrics": self.list_metrics,
        }

    def get_metric_statistics(self, body: dict[str, Any]) -> dict[str, Any]:
        for name in ("Namespace", "MetricName"):
            if not isinstance(body.get(name), str):
                raise missing(name)
        metric = body["MetricName"]
        start, end = _epoch(body, "StartTime"), _epoch(body, "EndTime")
        if end <= start:
            raise invalid("The parameter StartTime must be less than the parameter EndTime.")
        period = parse_period(body.get("Period"), body["Namespace"])
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
        dims = parse_dimensions(body.get("Dimensions"))
        datapoints: list[dict[str, Any]] = []
        for at, at_unit, summary in self._sources.summaries(
            body["Namespace"], metric, dims, _unit(unit), start, end, period
        ):
            point: dict[str, Any] = {"Timestamp": Epoch(at), "Unit": at_unit}
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
        evaluated = evaluate_queries(self._sources, queries, start, end)
        results: list[dict[str, Any]] = []
        for query, series, messages in evaluated:
            if query.get("ReturnData", True) is False:
                continue
            for s in series:
                stamps = sorted(s.points, reverse=not ascending)
                result: dict[str, Any] = {
                    "Id": query["Id"],
                    "Label": s.label,
                    "Timestamps": [Epoch(at) for at in stamps],
                    "Values": [s.points[at] for at in stamps],
                    "StatusCode": "Complete",
                }
                if messages:
                    result["Messages"] = [
                        {"Code": "ArithmeticError", "Value": m} for m in sorted(messages)
                    ]
                results.append(result)
        return {"MetricDataResults": results, "Messages": []}

    def _lambda_metrics(self, wanted_metric: Any, filters: list[Dimension]) -> list[dict[str, Any]]:
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
        return metrics

    def list_metrics(self, body: dict[str, Any]) -> dict[str, Any]:
        namespace = body.get("Namespace")
        wanted_metric = body.get("MetricName")
        filters = parse_dimensions(body.get("Dimensions"))
        metrics: list[dict[str, Any]] = []
        if namespace in (None, NAMESPACE):
            metrics.extend(self._lambda_metrics(wanted_metric, filters))
        recent = body.get("RecentlyActive")
        if recent not in (None, "PT3H"):
            raise invalid("The parameter RecentlyActive must be PT3H.")
        custom = self._sources.custom
        if custom is not None and namespace != NAMESPACE:
            wanted_ns = namespace if isinstance(namespace, str) else None
            window = 3 * 3600 if recent == "PT3H" else LIST_WINDOW_S
            for ns, name, series in custom.series(wanted_ns, window):
                dims = [{"Name": n, "Value": v} for n, v in series]
                if (wanted_metric is None or name == wanted_metric) and _matches(dims, filters):
                    metrics.append({"Namespace": ns, "MetricName": name, "Dimensions": dims})
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


def evaluate_queries(
    sources: MetricSources, queries: list[Any], start: float, end: float, origin: int = 0
) -> list[tuple[dict[str, Any], list[Series], set[str]]]:
    """Each query with its series (an expression may give several) and its messages,
    in the queries' order: the MetricStat queries read, then the expressions evaluated
    in the order their references need (GetMetricData's and the alarms' core)."""
    seen: set[str] = set()
    values: dict[str, Value] = {}
    metric_ids: list[str] = []
    expressions: dict[str, Node] = {}
    periods: dict[str, int] = {}
    for query in queries:
        if not isinstance(query, dict):
            raise invalid("Each MetricDataQuery must be a structure.")
        qid = query.get("Id")
        if not isinstance(qid, str) or not QUERY_ID.match(qid) or qid in seen:
            raise invalid(
                f"The value {qid!r} for parameter MetricDataQueries.member.Id is invalid: "
                "it must be unique and start with a lowercase letter."
            )
        seen.add(qid)
        expression = query.get("Expression")
        if (expression is None) == (query.get("MetricStat") is None):
            raise validation(
                f"Exactly one of MetricStat and Expression must be given in query {qid}."
            )
        if expression is not None:
            if not isinstance(expression, str):
                raise validation(f"The Expression of query {qid} must be a string.")
            try:
                expressions[qid] = parse(expression)
            except AwsServiceError as exc:
                raise validation(f"Error in expression {qid}: {exc.message}") from None
            if query.get("Period") is not None:
                periods[qid] = parse_period(query.get("Period"), None)
            continue
        series = _metric_stat(sources, query, start, end, origin)
        values[qid] = series
        metric_ids.append(qid)
    messages: dict[str, set[str]] = {}
    budget = Budget()
    default_period = min((v.period for v in values.values() if isinstance(v, Series)),
                         default=60)  # fmt: skip
    for qid in order(expressions, set(metric_ids)):
        period = periods.get(qid, default_period)
        first = align(math.floor(start), origin, period)
        points = math.ceil((end - first) / period)
        if points > MAX_EXPRESSION_POINTS:
            raise validation(
                f"Error in expression {qid}: the window has {points} periods, more than "
                f"{MAX_EXPRESSION_POINTS}; increase the Period or shorten the window."
            )
        ctx = Context(
            grid=[first + i * period for i in range(points)],
            period=period,
            values=values,
            metric_ids=metric_ids,
            budget=budget,
        )
        query = next(q for q in queries if q.get("Id") == qid)
        label = query.get("Label") if isinstance(query.get("Label"), str) else qid
        try:
            value = evaluate(expressions[qid], ctx, label)
        except AwsServiceError as exc:
            raise validation(f"Error in expression {qid}: {exc.message}") from None
        values[qid] = value
        messages[qid] = ctx.messages
        result = results(value, ctx, label)
        values[qid] = result[0] if len(result) == 1 and not isinstance(value, list) else result
    out: list[tuple[dict[str, Any], list[Series], set[str]]] = []
    for query in queries:
        value = values[query["Id"]]
        series_ = value if isinstance(value, list) else [value]
        out.append((query, [s for s in series_ if isinstance(s, Series)],
                    messages.get(query["Id"], set())))  # fmt: skip
    return out


def _metric_stat(
    sources: MetricSources, query: dict[str, Any], start: float, end: float, origin: int
) -> Series:
    stat_query = query.get("MetricStat")
    if not isinstance(stat_query, dict) or not isinstance(stat_query.get("Metric"), dict):
        raise missing("MetricStat")
    metric_q = stat_query["Metric"]
    metric = metric_q.get("MetricName")
    stat = stat_query.get("Stat")
    if not isinstance(stat, str) or (stat not in BASIC_STATISTICS and percentile(stat) is None):
        raise invalid(f"The value {stat!r} for parameter Stat is invalid.")
    namespace = metric_q.get("Namespace")
    if not isinstance(namespace, str) or not isinstance(metric, str):
        raise missing("MetricStat.Metric.Namespace and MetricName")
    period = parse_period(stat_query.get("Period"), namespace)
    unit = stat_query.get("Unit")
    dims = parse_dimensions(metric_q.get("Dimensions"))
    points: dict[int, float] = {}
    for at, _, summary in sources.summaries(
        namespace, metric, dims, _unit(unit), start, end, period, origin
    ):
        value = summary.statistic(stat, metric)
        if value is not None and at not in points:  # one unit per period
            points[at] = value
    label = query.get("Label")
    return Series(label if isinstance(label, str) else metric, points, period)


def _unit(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid("The parameter Unit must be a unit name.")
    return value


def _matches(dims: list[Dimension], filters: list[Dimension]) -> bool:
    have = {d["Name"]: d["Value"] for d in dims}
    for f in filters:
        if f["Name"] not in have:
            return False
        if "Value" in f and have[f["Name"]] != f["Value"]:
            return False
    return True
