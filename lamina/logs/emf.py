"""CloudWatch's Embedded Metric Format: a log line that is an EMF document becomes
metric datapoints, as CloudWatch Logs extracts them on AWS (pure parsing).

An EMF document is a JSON object whose ``_aws`` member holds ``Timestamp`` (epoch ms) and
``CloudWatchMetrics``: directives with a ``Namespace``, ``Dimensions`` (sets of root member
names) and ``Metrics`` (``Name``, optional ``Unit`` and ``StorageResolution``). Values are
root members: a number or an array of at most 100 numbers; dimension values are root
members holding strings. A line that breaks any rule yields no datapoints (AWS rejects
the whole event for metrics) and stays a plain log line either way.
"""

from __future__ import annotations

import json
import math
from typing import Any

from lamina.models.metric_datum import UNITS, Dimensions, MetricDatum, from_values

MARKER = '"_aws"'  # a cheap test before parsing: every EMF document contains it
MAX_DIRECTIVE_METRICS = 100
MAX_VALUES = 100
MAX_DIMENSIONS = 30
MAX_NAME = 255
# The timestamps CloudWatch accepts: two weeks back, two hours ahead.
PAST_S = 14 * 24 * 3600
FUTURE_S = 2 * 3600


class InvalidEmf(ValueError):
    """The line is not a valid EMF document (it stays a plain log line)."""


def candidate(message: str) -> bool:
    """Worth parsing: a JSON object that mentions ``_aws``."""
    return MARKER in message and message.lstrip().startswith("{")


def parse(message: str, now: float) -> list[MetricDatum]:
    """The datapoints of one EMF log line (raises :class:`InvalidEmf`)."""
    try:
        doc = json.loads(message)
    except ValueError:
        raise InvalidEmf("not JSON") from None
    if not isinstance(doc, dict):
        raise InvalidEmf("not a JSON object")
    meta = doc.get("_aws")
    if not isinstance(meta, dict):
        raise InvalidEmf("_aws must be an object")
    stamp = meta.get("Timestamp")
    if isinstance(stamp, bool) or not isinstance(stamp, int | float) or not math.isfinite(stamp):
        raise InvalidEmf("_aws.Timestamp must be a number of milliseconds")
    at = stamp / 1000.0
    if not now - PAST_S <= at <= now + FUTURE_S:
        raise InvalidEmf("_aws.Timestamp is more than 2 weeks old or 2 hours ahead")
    directives = meta.get("CloudWatchMetrics")
    if not isinstance(directives, list):
        raise InvalidEmf("_aws.CloudWatchMetrics must be an array")
    out: list[MetricDatum] = []
    for directive in directives:
        out.extend(_directive(doc, directive, at))
    return out


def _name(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_NAME:
        raise InvalidEmf(f"{what} must be a string of 1 to {MAX_NAME} characters")
    return value


def _directive(doc: dict[str, Any], directive: Any, at: float) -> list[MetricDatum]:
    if not isinstance(directive, dict):
        raise InvalidEmf("a metric directive must be an object")
    namespace = _name(directive.get("Namespace"), "Namespace")
    if namespace.startswith("AWS/"):
        raise InvalidEmf("the AWS/ namespaces are reserved")
    sets = directive.get("Dimensions")
    if not isinstance(sets, list):
        raise InvalidEmf("Dimensions must be an array of dimension sets")
    dimension_sets: list[Dimensions] = []
    for names in sets:
        if not isinstance(names, list) or len(names) > MAX_DIMENSIONS:
            raise InvalidEmf(f"a dimension set is an array of at most {MAX_DIMENSIONS} names")
        dims: dict[str, str] = {}
        for name in names:
            value = doc.get(_name(name, "a dimension name"))
            if not isinstance(value, str) or not value:
                raise InvalidEmf(f"dimension {name!r} must be a non-empty string member")
            dims[name] = value
        dimension_sets.append(tuple(sorted(dims.items())))
    if not dimension_sets:
        dimension_sets.append(())
    metrics = directive.get("Metrics")
    if not isinstance(metrics, list) or len(metrics) > MAX_DIRECTIVE_METRICS:
        raise InvalidEmf(f"Metrics must be an array of at most {MAX_DIRECTIVE_METRICS}")
    out: list[MetricDatum] = []
    for metric in metrics:
        if not isinstance(metric, dict):
            raise InvalidEmf("a metric definition must be an object")
        name = _name(metric.get("Name"), "a metric Name")
        unit = metric.get("Unit", "None")
        if unit not in UNITS:
            raise InvalidEmf(f"unit {unit!r} is not a CloudWatch unit")
        resolution = metric.get("StorageResolution", 60)
        if resolution not in (1, 60) or isinstance(resolution, bool):
            raise InvalidEmf("StorageResolution must be 1 or 60")
        values = _values(doc.get(name), name)
        for dimension_set in dimension_sets:
            out.append(
                from_values(namespace, name, dimension_set, at, str(unit), resolution == 1, values)
            )
    return out


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)


def _values(member: Any, name: str) -> list[tuple[float, float]]:
    """(value, count) of a metric member: one number or an array of numbers."""
    raw = member if isinstance(member, list) else [member]
    if not raw or len(raw) > MAX_VALUES or not all(_number(v) for v in raw):
        raise InvalidEmf(f"metric {name!r} must be a number or 1 to {MAX_VALUES} numbers")
    counts: dict[float, float] = {}
    for v in raw:
        counts[float(v)] = counts.get(float(v), 0.0) + 1.0
    return list(counts.items())
