"""Payloads for measuring: one event, or several with weights, and the order they go in.

Weighted payloads use AWS Lambda Power Tuning's format — a JSON list of
``{"payload": <event>, "weight": <positive integer>}`` — so an existing test plan works
here too. The invocations at each memory size follow a *smooth weighted round robin*:
every payload appears in proportion to its weight (exactly, when the count is a multiple
of the total weight), spread out rather than in runs, and in the same order at every size
so the sizes are compared on the same mix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lamina.client.lambda_api import payload_bytes
from lamina.errors import InvalidParameterValue


@dataclass(frozen=True, slots=True)
class WeightedPayload:
    body: bytes
    weight: int = 1


def read_payload_arg(raw: str | None) -> bytes:
    """``--payload``: JSON text, or ``@file`` holding it; no payload is ``{}``."""
    if raw is None:
        return b"{}"
    data = Path(raw[1:]).read_bytes() if raw.startswith("@") else raw.encode()
    try:
        json.loads(data)
    except ValueError as exc:
        raise InvalidParameterValue(f"the payload is not JSON: {exc}") from exc
    return data


def parse_weighted(document: object) -> list[WeightedPayload]:
    """Power Tuning's weighted payload list, validated."""
    if not isinstance(document, list) or not document:
        raise InvalidParameterValue(
            'weighted payloads must be a non-empty JSON list of {"payload": ..., "weight": n}'
        )
    out: list[WeightedPayload] = []
    for i, item in enumerate(document):
        if not isinstance(item, dict) or "payload" not in item:
            raise InvalidParameterValue(f"weighted payload #{i} has no 'payload'")
        weight = item.get("weight", 1)
        if isinstance(weight, bool) or not isinstance(weight, int) or weight < 1:
            raise InvalidParameterValue(f"weighted payload #{i}: weight must be an integer >= 1")
        out.append(WeightedPayload(payload_bytes(item["payload"]), weight))
    return out


def read_weighted_file(path: Path) -> list[WeightedPayload]:
    try:
        document = json.loads(path.read_bytes())
    except ValueError as exc:
        raise InvalidParameterValue(f"{path}: not JSON: {exc}") from exc
    return parse_weighted(document)


def schedule(weights: list[int], count: int) -> list[int]:
    """Indices of the payloads to send, ``count`` of them, by smooth weighted round robin."""
    if not weights or any(w < 1 for w in weights):
        raise ValueError("weights must be a non-empty list of positive integers")
    total = sum(weights)
    current = [0] * len(weights)
    order: list[int] = []
    for _ in range(count):
        for i, weight in enumerate(weights):
            current[i] += weight
        best = max(range(len(weights)), key=lambda i: (current[i], -i))
        current[best] -= total
        order.append(best)
    return order
