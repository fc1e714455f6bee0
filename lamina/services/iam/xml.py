"""IAM's query-protocol answers: XML with ``member`` lists (pure). Its errors are rendered
by :mod:`lamina.services.protocol.errors`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lamina.services.protocol.query import member_envelope

NAMESPACE = "https://iam.amazonaws.com/doc/2010-05-08/"


def render_result(action: str, result: Mapping[str, Any], request_id: str) -> bytes:
    return member_envelope(action, result, request_id, NAMESPACE)
