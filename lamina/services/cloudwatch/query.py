"""CloudWatch's query protocol (``Action=PutMetricData&Version=2010-08-01``, form encoded,
XML answers), as older SDKs, hand-written agents, aws-sdk-go v1 (so Grafana) and v2 (so
Terraform's AWS provider) send it: PutMetricData, the reads and the alarm operations.
The flattened parameters
(``MetricData.member.1.Dimensions.member.2.Name``) become the JSON shape the other
protocols decode to, so one parser validates all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from lamina.services.cloudwatch.operations import invalid
from lamina.services.protocol.cbor import Epoch
from lamina.services.protocol.errors import Protocol, Wire
from lamina.services.protocol.query import indexed, member_xml, tree
from lamina.services.protocol.sigv4 import header_service
from lamina.wire.http import Request

VERSION = "2010-08-01"
XML_NAMESPACE = f"http://monitoring.amazonaws.com/doc/{VERSION}/"
PROTOCOL = Protocol(Wire.QUERY, xml_namespace=XML_NAMESPACE)
FORM = "application/x-www-form-urlencoded"


def is_query_request(req: Request) -> bool:
    """A form-encoded call signed for ``monitoring``, or unsigned with CloudWatch's version."""
    if req.method != "POST" or not req.headers.get("content-type", "").startswith(FORM):
        return False
    service = header_service(req)
    if service is not None:
        return service == "monitoring"  # the body may be gzipped: not looked into
    return b"Action=" in req.body and f"Version={VERSION}".encode() in req.body


def put_metric_data_body(params: dict[str, str]) -> dict[str, Any]:
    """PutMetricData's flattened parameters as the JSON protocol's request body."""
    root = tree(params)
    body: dict[str, Any] = {}
    if "Namespace" in params:
        body["Namespace"] = params["Namespace"]
    data = root.get("MetricData")
    if isinstance(data, dict):
        members = data.get("member")
        body["MetricData"] = [
            _datum(m, f"MetricData.member.{i}")
            for i, m in enumerate(indexed(members) if isinstance(members, dict) else [], 1)
        ]
    return body


def _number(text: Any, where: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        raise invalid(f"The value {text} for parameter {where} is invalid.") from None


def _list(node: Any) -> list[Any]:
    if not isinstance(node, dict) or not isinstance(node.get("member"), dict):
        return []
    return indexed(node["member"])


def _datum(node: Any, where: str) -> dict[str, Any]:
    if not isinstance(node, dict):
        raise invalid(f"The parameter {where} must be a structure.")
    out: dict[str, Any] = {}
    for key in ("MetricName", "Unit"):
        if isinstance(node.get(key), str):
            out[key] = node[key]
    if "Value" in node:
        out["Value"] = _number(node["Value"], f"{where}.Value")
    if "StorageResolution" in node:
        out["StorageResolution"] = int(_number(node["StorageResolution"], where))
    if "Timestamp" in node:
        text = str(node["Timestamp"])
        try:
            out["Timestamp"] = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid(f"The value {text} for parameter {where}.Timestamp is invalid.") from None
    dims = _list(node.get("Dimensions"))
    if dims:
        out["Dimensions"] = [d if isinstance(d, dict) else {} for d in dims]
    if "Values" in node:
        out["Values"] = [_number(v, f"{where}.Values") for v in _list(node["Values"])]
    if "Counts" in node:
        out["Counts"] = [_number(v, f"{where}.Counts") for v in _list(node["Counts"])]
    stats = node.get("StatisticValues")
    if isinstance(stats, dict):
        out["StatisticValues"] = {
            k: _number(v, f"{where}.StatisticValues.{k}") for k, v in stats.items()
        }
    return out


# The alarm operations' members, by how the query protocol flattens them (anything else is
# a string): lists of strings, lists of structures, numbers and booleans.
_STRING_LISTS = frozenset({
    "AlarmActions", "OKActions", "InsufficientDataActions", "AlarmNames", "TagKeys",
    "AlarmTypes",
})  # fmt: skip
_STRUCTURE_LISTS = frozenset({"Dimensions", "Tags"})
_INTEGERS = frozenset({"Period", "EvaluationPeriods", "DatapointsToAlarm", "MaxRecords"})
_FLOATS = frozenset({"Threshold"})
_BOOLEANS = frozenset({"ActionsEnabled"})
ALARM_ACTIONS = frozenset({
    "PutMetricAlarm", "DescribeAlarms", "DeleteAlarms", "ListTagsForResource", "TagResource",
    "UntagResource",
})  # fmt: skip
# The reads (what aws-sdk-go v1, so Grafana's CloudWatch data source, sends), decoded by
# :func:`read_body`.
READ_ACTIONS = frozenset({"GetMetricStatistics", "GetMetricData", "ListMetrics"})
_READ_INTEGERS = frozenset({"Period", "MaxDatapoints"})
_READ_TIMES = frozenset({"StartTime", "EndTime"})
_READ_BOOLEANS = frozenset({"ReturnData"})
_MAPS = frozenset({"ExtendedStatistics"})  # rendered as <entry><key/><value/></entry>


def alarm_body(params: dict[str, str]) -> dict[str, Any]:
    """An alarm operation's flattened parameters as the JSON protocol's request body."""
    body: dict[str, Any] = {}
    for key, node in tree(params).items():
        if key in ("Action", "Version"):
            continue
        if key in _STRING_LISTS:
            body[key] = [str(v) for v in _list(node)]
        elif key in _STRUCTURE_LISTS:
            body[key] = [m if isinstance(m, dict) else {} for m in _list(node)]
        elif key == "Metrics":  # MetricDataQuery structures, decoded as GetMetricData's
            body[key] = [_read_value("", m) if isinstance(m, dict) else {} for m in _list(node)]
        elif key in _INTEGERS:
            value = _number(node, key)
            if value != int(value):
                raise invalid(f"The value {node} for parameter {key} is not an integer.")
            body[key] = int(value)
        elif key in _FLOATS:
            body[key] = _number(node, key)
        elif key in _BOOLEANS:
            if node not in ("true", "false"):
                raise invalid(f"The value {node} for parameter {key} is not a boolean.")
            body[key] = node == "true"
        else:
            body[key] = node
    return body


def read_body(params: dict[str, str]) -> dict[str, Any]:
    """A read's flattened parameters as the JSON protocol's request body: ``X.member.N``
    lists (of strings or structures, nested), numbers, booleans and ISO 8601 times."""
    tree_ = tree(params)
    tree_.pop("Action", None)
    tree_.pop("Version", None)
    return {key: _read_value(key, node) for key, node in tree_.items()}


def _read_value(name: str, node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {"member"} and isinstance(node["member"], dict):
            return [_read_value("", m) for m in indexed(node["member"])]
        return {k: _read_value(k, v) for k, v in node.items()}
    if name in _READ_INTEGERS:
        value = _number(node, name)
        if value != int(value):
            raise invalid(f"The value {node} for parameter {name} is not an integer.")
        return int(value)
    if name in _READ_BOOLEANS:
        if node not in ("true", "false"):
            raise invalid(f"The value {node} for parameter {name} is not a boolean.")
        return node == "true"
    if name in _READ_TIMES:
        try:
            return datetime.fromisoformat(str(node).replace("Z", "+00:00")).timestamp()
        except ValueError:
            raise invalid(f"The value {node} for parameter {name} is not a timestamp.") from None
    return node


def result_xml(result: Mapping[str, Any]) -> str:
    """An operation's result as the query protocol's XML (timestamps in ISO 8601, maps as
    ``entry`` elements)."""
    return _xml(_iso_times(result))


def _xml(value: Any) -> str:
    if isinstance(value, Mapping):
        out = []
        for key, item in value.items():
            if item is None:
                continue
            if key in _MAPS and isinstance(item, Mapping):
                entries = "".join(
                    f"<entry><key>{member_xml(k)}</key><value>{_xml(v)}</value></entry>"
                    for k, v in item.items()
                )
                out.append(f"<{key}>{entries}</{key}>")
            else:
                out.append(f"<{key}>{_xml(item)}</{key}>")
        return "".join(out)
    if isinstance(value, list):
        return "".join(f"<member>{_xml(v)}</member>" for v in value)
    return member_xml(value)


def _iso_times(value: Any) -> Any:
    if isinstance(value, Epoch):
        return datetime.fromtimestamp(value, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    if isinstance(value, Mapping):
        return {k: _iso_times(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_iso_times(v) for v in value]
    return value
