"""CloudFormation's query-protocol answers: XML with ``member`` lists (pure). Errors are
rendered by :mod:`lamina.services.protocol.errors`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

from lamina.services.protocol.query import envelope

VERSION = "2010-05-15"
NAMESPACE = f"http://cloudformation.amazonaws.com/doc/{VERSION}/"


def _render(value: Any) -> str:
    if isinstance(value, Mapping):
        return "".join(f"<{k}>{_render(v)}</{k}>" for k, v in value.items() if v is not None)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "".join(f"<member>{_render(v)}</member>" for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return escape(str(value))


def render_result(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    return envelope(action, _render(result), request_id, NAMESPACE, declaration=False)
