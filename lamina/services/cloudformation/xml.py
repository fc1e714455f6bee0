"""CloudFormation's query-protocol answers: XML with ``member`` lists (pure). Errors are
rendered by :mod:`lamina.services.protocol.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.services.protocol.query import member_envelope

VERSION = "2010-05-15"
NAMESPACE = f"http://cloudformation.amazonaws.com/doc/{VERSION}/"


def render_result(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    return member_envelope(action, result, request_id, NAMESPACE)
