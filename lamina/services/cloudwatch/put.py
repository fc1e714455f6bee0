"""PutMetricData's request parsed into datapoints, with CloudWatch's validation (pure).

Limits as CloudWatch's: at most 1 000 MetricData items, 30 dimensions each, 150
Values/Counts; values finite and within 2^±360 (or 0); a timestamp at most two weeks
back and two hours ahead; ``AWS/`` namespaces are reserved. Messages name the member as
the query protocol does (``MetricData.member.3.Value``), like CloudWatch's own.
"""

from __future__ import annotations

import math
from typing import Any

from lamina.logs.emf import FUTURE_S, PAST_S
from lamina.models.metric_datum import UNITS, Dimensions, MetricDatum, from_values
from lamina.services.cloudwatch.operations import combination, invalid, missing

MAX_METRIC_DATA = 1000
MAX_DIMENSIONS = 30
MAX_VALUES = 150
MAX_NAME = 255
_LARGEST = 2.0**360
_SMALLEST = 2.0**-360


def parse_put(body: dict[str, Any], now: float) -> list[MetricDatum]:
    """The datapoints of a PutMetricData request (raises CloudWatch's errors)."""
    namespace = body.get("Namespace")
    if namespace is None:
        raise missing("Namespace")
    if (
        not isinstance(namespace, str)
        or not 1 <= len(namespace) <= MAX_NAME
        or namespace.startswith("AWS/")
        or ":" in namespace
    ):
        raise invalid(f"The value {namespace} for parameter Namespace is invalid.")
    data = body.get("MetricData")
    if data is None:
        raise missing("MetricData")
    if not isinstance(data, list) or not data:
        raise invalid("The parameter MetricData must contain at least one item.")
    if len(data) > MAX_METRIC_DATA:
        raise invalid(
            f"The collection MetricData must not have a size greater than {MAX_METRIC_DATA}."
        )
    return [
        _datum(namespace, item, f"MetricData.member.{i}", now) for i, item in enumerate(data, 1)
    ]


def _name(value: Any, where: str) -> str:
    if value is None:
        raise missing(where)
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME:
        raise invalid(f"The value {value} for parameter {where} is invalid.")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"The value {value} for parameter {where} is invalid.")
    v = float(value)
    if not math.isfinite(v) or abs(v) > _LARGEST or (v != 0 and abs(v) < _SMALLEST):
        raise invalid(f"The value {value} for parameter {where} is invalid.")
    return v


def _dimensions(value: Any, where: str) -> Dimensions:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise invalid(f"The parameter {where}.Dimensions must be a list.")
    if len(value) > MAX_DIMENSIONS:
        raise invalid(
            f"The collection {where}.Dimensions must not have a size greater than {MAX_DIMENSIONS}."
        )
    dims: dict[str, str] = {}
    for j, item in enumerate(value, 1):
        at = f"{where}.Dimensions.member.{j}"
        if not isinstance(item, dict):
            raise invalid(f"The parameter {at} must be a structure.")
        name = _name(item.get("Name"), f"{at}.Name")
        if name in dims:
            raise invalid(f"The dimension {name} is given more than once in {where}.")
        dims[name] = _name(item.get("Value"), f"{at}.Value")
    return tuple(sorted(dims.items()))


def _datum(namespace: str, item: Any, where: str, now: float) -> MetricDatum:
    if not isinstance(item, dict):
        raise invalid(f"The parameter {where} must be a structure.")
    name = _name(item.get("MetricName"), f"{where}.MetricName")
    dims = _dimensions(item.get("Dimensions"), where)
    stamp = item.get("Timestamp")
    at = now
    if stamp is not None:
        if isinstance(stamp, bool) or not isinstance(stamp, int | float):
            raise invalid(f"The value {stamp} for parameter {where}.Timestamp is invalid.")
        at = float(stamp)
        if at < now - PAST_S:
            raise invalid(
                f"The parameter {where}.Timestamp must specify a time no more than two weeks "
                "in the past."
            )
        if at > now + FUTURE_S:
            raise invalid(
                f"The parameter {where}.Timestamp must specify a time no more than two hours "
                "in the future."
            )
    unit = item.get("Unit", "None")
    if unit not in UNITS:
        raise invalid(f"The value {unit} for parameter {where}.Unit is invalid.")
    resolution = item.get("StorageResolution", 60)
    if isinstance(resolution, bool) or resolution not in (1, 60):
        raise invalid(f"The value {resolution} for parameter {where}.StorageResolution is invalid.")
    high = resolution == 1
    given = [k for k in ("Value", "Values", "StatisticValues") if item.get(k) is not None]
    if len(given) > 1:
        raise combination(
            f"The parameters {where}.{given[0]} and {where}.{given[1]} are mutually exclusive "
            "and you have specified both."
        )
    if not given:
        raise combination(
            f"At least one of the parameters {where}.Value, {where}.Values or "
            f"{where}.StatisticValues must be specified."
        )
    if given[0] == "Value":
        value = _number(item["Value"], f"{where}.Value")
        return from_values(namespace, name, dims, at, str(unit), high, [(value, 1.0)])
    if given[0] == "Values":
        return from_values(namespace, name, dims, at, str(unit), high, _values(item, where))
    return _statistic_set(namespace, name, dims, at, str(unit), high, item, where)


def _values(item: dict[str, Any], where: str) -> list[tuple[float, float]]:
    values = item["Values"]
    if not isinstance(values, list) or not values:
        raise invalid(f"The parameter {where}.Values must contain at least one value.")
    if len(values) > MAX_VALUES:
        raise invalid(
            f"The collection {where}.Values must not have a size greater than {MAX_VALUES}."
        )
    counts = item.get("Counts")
    if counts is None:
        counts = [1.0] * len(values)
    if not isinstance(counts, list) or len(counts) != len(values):
        raise invalid(f"The parameters {where}.Values and {where}.Counts must be of the same size.")
    merged: dict[float, float] = {}
    for k, (v, c) in enumerate(zip(values, counts, strict=True), 1):
        value = _number(v, f"{where}.Values.member.{k}")
        count = _number(c, f"{where}.Counts.member.{k}")
        if count < 0:
            raise invalid(f"The value {c} for parameter {where}.Counts.member.{k} is invalid.")
        if count:
            merged[value] = merged.get(value, 0.0) + count
    if not merged:
        raise invalid(f"The parameter {where}.Counts must count at least one value.")
    return list(merged.items())


def _statistic_set(
    namespace: str,
    name: str,
    dims: Dimensions,
    at: float,
    unit: str,
    high: bool,
    item: dict[str, Any],
    where: str,
) -> MetricDatum:
    stats = item["StatisticValues"]
    if not isinstance(stats, dict):
        raise invalid(f"The parameter {where}.StatisticValues must be a structure.")
    parsed: dict[str, float] = {}
    for key in ("SampleCount", "Sum", "Minimum", "Maximum"):
        if stats.get(key) is None:
            raise missing(f"{where}.StatisticValues.{key}")
        parsed[key] = _number(stats[key], f"{where}.StatisticValues.{key}")
    if parsed["SampleCount"] <= 0:
        raise invalid(
            f"The value {stats['SampleCount']} for parameter "
            f"{where}.StatisticValues.SampleCount is invalid."
        )
    if parsed["Minimum"] > parsed["Maximum"]:
        raise invalid(
            f"The parameter {where}.StatisticValues.Minimum must not be greater than "
            f"{where}.StatisticValues.Maximum."
        )
    return MetricDatum(
        namespace,
        name,
        dims,
        at,
        unit,
        high,
        parsed["SampleCount"],
        parsed["Sum"],
        parsed["Minimum"],
        parsed["Maximum"],
    )
