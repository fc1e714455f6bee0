"""The AWS query protocol: form parameters in (``Action=<Op>&A.1.B=x``), XML out (pure).

Parameters come from the query string and, for ``POST``, the form body. Dotted names
(``MessageAttribute.1.Value.StringValue``) nest; each service maps the tree onto its
JSON shapes, since which members are lists or maps is the service's knowledge.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from lamina.wire.http import Request


def query_params(req: Request) -> dict[str, str]:
    """The request's parameters; the form body's win over the query string's."""
    params = dict(parse_qsl(req.target.partition("?")[2], keep_blank_values=True))
    if req.method == "POST" and req.body:
        params.update(parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    return params


def tree(params: dict[str, str]) -> dict[str, Any]:
    """``A.1.B=x`` → ``{"A": {"1": {"B": "x"}}}``."""
    root: dict[str, Any] = {}
    for key, value in params.items():
        node = root
        parts = key.split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                child = node[part] = {"": child}
            node = child
        node[parts[-1]] = value
    return root


def indexed(node: dict[str, Any]) -> list[Any]:
    """The members ``1``, ``2``, ... of a flattened list, in order."""
    return [node[k] for k in sorted((k for k in node if k.isdigit()), key=int)]


def envelope(
    operation: str,
    inner: str,
    request_id: str,
    namespace: str,
    *,
    declaration: bool = True,
    wrapped: bool = False,
) -> bytes:
    """``<OpResponse><OpResult>inner</OpResult><ResponseMetadata>...`` as bytes, after an XML
    declaration when the service sends one (SQS does, IAM does not)."""
    # ``wrapped``: the result element is there even when empty (botocore requires it of
    # an operation whose output shape has a result wrapper, e.g. ExecuteChangeSet).
    body = f"<{operation}Result>{inner}</{operation}Result>" if inner or wrapped else ""
    return (
        ('<?xml version="1.0"?>' if declaration else "")
        + f'<{operation}Response xmlns="{namespace}">{body}'
        f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
        f"</{operation}Response>"
    ).encode()


def member_xml(value: Any) -> str:
    """A result as the query protocol's XML: a mapping's keys as elements (None left out), a
    list's items as ``<member>`` elements, booleans as ``true``/``false``, text escaped."""
    if isinstance(value, Mapping):
        return "".join(f"<{k}>{member_xml(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "".join(f"<member>{member_xml(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def member_envelope(
    action: str,
    result: Mapping[str, Any],
    request_id: str,
    namespace: str,
    *,
    wrapped: bool = False,
) -> bytes:
    """An IAM-style answer (no XML declaration) of ``result`` rendered by :func:`member_xml`."""
    return envelope(
        action, member_xml(result), request_id, namespace, declaration=False, wrapped=wrapped
    )
