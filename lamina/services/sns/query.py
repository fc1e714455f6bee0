"""SNS's query protocol: its lists and maps in, its XML out (pure).

The protocol itself (parameters, nesting, the envelope) is
:mod:`lamina.services.protocol.query`. SNS's requests nest lists as ``Tags.member.1.Key``
and maps as ``Attributes.entry.1.key`` / ``MessageAttributes.entry.1.Name``; its answers
write lists as ``<member>`` and maps as ``<entry><key>..</key><value>..</value></entry>``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from lamina.services.protocol.query import indexed, tree

NAMESPACE = "http://sns.amazonaws.com/doc/2010-03-31/"


class Entries(dict[str, str]):
    """A map answered as ``<entry><key>k</key><value>v</value></entry>`` (SNS's attribute
    maps), not as one element per key."""


def _convert(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if set(node) == {"member"} and isinstance(node["member"], dict):
        return [_convert(v) for v in indexed(node["member"])]
    if set(node) == {"entry"} and isinstance(node["entry"], dict):
        out: dict[str, Any] = {}
        for item in indexed(node["entry"]):
            if not isinstance(item, dict):
                continue
            key = item.get("key", item.get("Name"))
            value = item.get("value", item.get("Value"))
            if isinstance(key, str):
                out[key] = _convert(value)
        return out
    return {k: _convert(v) for k, v in node.items()}


def parse_params(params: Mapping[str, str]) -> dict[str, Any]:
    """The request's members, lists and maps unflattened (``Action``/``Version`` dropped)."""
    rest = {k: v for k, v in params.items() if k not in ("Action", "Version")}
    converted = _convert(tree(rest))
    return converted if isinstance(converted, dict) else {}


def to_xml(value: Any) -> str:
    if isinstance(value, Entries):
        return "".join(
            f"<entry><key>{escape(k)}</key><value>{escape(v)}</value></entry>"
            for k, v in value.items()
        )
    if isinstance(value, Mapping):
        return "".join(f"<{k}>{to_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "".join(f"<member>{to_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def render(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    """``<ActionResponse xmlns=...><ActionResult>...`` as SNS answers: the result element
    is there even when empty (botocore looks for ``TagResourceResult``)."""
    return (
        f'<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">'
        f"<{action}Result>{to_xml(result)}</{action}Result>"
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{action}Response>"
    ).encode()
