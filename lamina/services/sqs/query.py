"""SQS's query protocol: form parameters in, XML out, mapped onto the JSON shapes (pure).

The protocol itself (parameters, nesting, the response envelope) is
:mod:`lamina.services.protocol.query`; which members are SQS's lists and maps is here.

Older SDKs and the query-protocol model send ``Action=SendMessage&QueueUrl=...&
MessageAttribute.1.Name=...&MessageAttribute.1.Value.StringValue=...`` and expect
``<SendMessageResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">`` back.
"""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from lamina.services.protocol.query import envelope, indexed, tree

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"
_INTS = {
    "MaxNumberOfMessages",
    "WaitTimeSeconds",
    "VisibilityTimeout",
    "DelaySeconds",
    "MaxResults",
}
# Flattened list members: query name -> JSON name.
_LISTS = {
    "AttributeName": "AttributeNames",
    "MessageSystemAttributeName": "MessageSystemAttributeNames",
    "MessageAttributeName": "MessageAttributeNames",
    "TagKey": "TagKeys",
}
# Flattened maps: query name -> (JSON name, key field, value field).
_MAPS = {
    "Attribute": ("Attributes", "Name", "Value"),
    "Tag": ("tags", "Key", "Value"),
    "MessageAttribute": ("MessageAttributes", "Name", "Value"),
    "MessageSystemAttribute": ("MessageSystemAttributes", "Name", "Value"),
}


def _convert(node: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _LISTS and isinstance(value, dict):
            out[_LISTS[key]] = indexed(value)
        elif key in _MAPS and isinstance(value, dict):
            name, kf, vf = _MAPS[key]
            out[name] = {
                item.get(kf): _convert(item[vf]) if isinstance(item.get(vf), dict) else item.get(vf)
                for item in indexed(value)
                if isinstance(item, dict)
            }
        elif key.endswith("RequestEntry") and isinstance(value, dict):
            out["Entries"] = [_convert(e) for e in indexed(value) if isinstance(e, dict)]
        elif key in _INTS and isinstance(value, str) and value.lstrip("-").isdigit():
            out[key] = int(value)
        elif isinstance(value, dict):
            out[key] = _convert(value)
        else:
            out[key] = value
    return out


def parse_query(params: dict[str, str]) -> tuple[str, dict[str, Any]]:
    """(Action, JSON-shaped request) from form parameters."""
    action = params.get("Action", "")
    rest = {k: v for k, v in params.items() if k not in ("Action", "Version")}
    return action, _convert(tree(rest))


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def _inner(value: Any, op: str) -> str:
    """What an element holds: a structure's members, or a scalar's text."""
    if isinstance(value, dict):
        return "".join(_render(k, v, op) for k, v in value.items())
    return _scalar(value)


def _render(key: str, value: Any, op: str) -> str:
    if key in ("Attributes", "MessageAttributes", "tags", "Tags") and isinstance(value, dict):
        tag = {
            "Attributes": "Attribute",
            "MessageAttributes": "MessageAttribute",
            "tags": "Tag",
            "Tags": "Tag",
        }[key]
        kf, vf = ("Key", "Value") if key in ("tags", "Tags") else ("Name", "Value")
        return "".join(
            f"<{tag}><{kf}>{escape(k)}</{kf}><{vf}>{_inner(v, op)}</{vf}></{tag}>"
            for k, v in value.items()
        )
    if isinstance(value, list):
        tag = {
            "QueueUrls": "QueueUrl",
            "queueUrls": "QueueUrl",
            "Messages": "Message",
            "Successful": f"{op}ResultEntry",
            "Failed": "BatchResultErrorEntry",
        }.get(key, key)
        return "".join(f"<{tag}>{_inner(v, op)}</{tag}>" for v in value)
    return f"<{key}>{_inner(value, op)}</{key}>"


def render_result(op: str, result: dict[str, Any], request_id: str) -> bytes:
    inner = "".join(_render(k, v, op) for k, v in result.items())
    return envelope(op, inner, request_id, NAMESPACE)
