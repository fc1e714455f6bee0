"""Provisioned concurrency's charge for the configured concurrency (pure).

Lambda bills a provisioned concurrency configuration for the concurrency it keeps, while
it is enabled: concurrency * the function's memory in GB * the seconds enabled, rounded
**up** to the price table's increment (5 minutes on Lambda), at the configured-concurrency
price of the function's architecture (us-east-1: $0.0000041667 per GB-s on x86_64,
$0.0000033334 on arm64). Lamina counts a configuration enabled from READY (all its
environments initialised) until it is deleted, changed, or the server stops: one
:class:`ProvisionedSpan` each. The invokes it serves are billed apart, per invoke, at the
provisioned duration price (:func:`lamina.billing.meter.invocation_cost`).

Exact :class:`~decimal.Decimal` arithmetic in the meter's trapping context.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lamina.billing.meter import EXACT
from lamina.billing.prices import PriceTable
from lamina.errors import InvalidParameterValue

# 1 / 1024 MB per GB, exactly.
GB_PER_MB = Decimal("0.0009765625")


@dataclass(frozen=True, slots=True)
class ProvisionedSpan:
    """One configuration, READY with ``concurrency`` environments from ``ready_at`` to
    ``ended_at`` (epoch seconds)."""

    function: str
    qualifier: str  # the version or alias configured
    version: str  # the version its environments ran
    architecture: str
    memory_mb: int
    concurrency: int
    ready_at: float
    ended_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "qualifier": self.qualifier,
            "version": self.version,
            "architecture": self.architecture,
            "memoryMb": self.memory_mb,
            "concurrency": self.concurrency,
            "readyAt": self.ready_at,
            "endedAt": self.ended_at,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> ProvisionedSpan:
        return cls(
            str(raw["function"]),
            str(raw["qualifier"]),
            str(raw["version"]),
            str(raw["architecture"]),
            int(raw["memoryMb"]),
            int(raw["concurrency"]),
            float(raw["readyAt"]),
            float(raw["endedAt"]),
        )


@dataclass(frozen=True, slots=True)
class ProvisionedCharge:
    """What one span's configured concurrency costs."""

    billed_s: int  # its enabled time, rounded up to the increment
    gb_s: Decimal
    cost: Decimal


def billed_seconds(ready_at: float, ended_at: float, increment_s: int) -> int:
    """The enabled time in whole seconds, rounded up to ``increment_s`` (0 for none).

    The span is first rounded to the microsecond, so float noise (``299.9999999``) never
    costs a whole extra increment."""
    if not ended_at >= ready_at or increment_s <= 0:
        raise ValueError(f"a span must not end before it starts: {ready_at} → {ended_at}")
    seconds = round(ended_at - ready_at, 6)
    if seconds == 0:
        return 0
    return math.ceil(seconds / increment_s) * increment_s


def span_charge(span: ProvisionedSpan, table: PriceTable) -> ProvisionedCharge:
    """The configured concurrency's charge for ``span``."""
    prices = table.provisioned.get(span.architecture)
    if prices is None:
        raise InvalidParameterValue(
            f"the price table for {table.region} has no provisioned concurrency price for "
            f"{span.architecture}"
        )
    seconds = billed_seconds(span.ready_at, span.ended_at, table.provisioned_increment_s)
    gb_s = EXACT.multiply(Decimal(span.memory_mb * span.concurrency * seconds), GB_PER_MB)
    return ProvisionedCharge(seconds, gb_s, EXACT.multiply(gb_s, prices.concurrency_price_per_gb_s))


def clip(span: ProvisionedSpan, since: float | None, until: float | None) -> ProvisionedSpan | None:
    """The part of ``span`` within ``[since, until)`` (None: no part)."""
    start = span.ready_at if since is None else max(span.ready_at, since)
    end = span.ended_at if until is None else min(span.ended_at, until)
    if end <= start:
        return None
    return ProvisionedSpan(
        span.function,
        span.qualifier,
        span.version,
        span.architecture,
        span.memory_mb,
        span.concurrency,
        start,
        end,
    )
