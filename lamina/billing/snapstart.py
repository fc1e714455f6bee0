"""SnapStart's own fees, as pure functions of a price table (``prices.json``'s ``snapstart``).

Lambda bills a SnapStart function version two things beyond requests and duration:

* **restore**: every environment restored from the snapshot costs the function's memory
  in GB * the restore price (us-east-1: $0.0001397998 per GB restored). The restore's
  *time* is not billed as duration; only the after-restore hooks are (Lamina's Billed
  Restore Duration, which the meter adds to the billed duration as Lambda does);
* **cache**: the snapshot is billed per GB (the function's memory) per second while the
  published version with SnapStart exists, at least ``cache_minimum_s`` (3 hours)
  (us-east-1: $0.0000015046 per GB-s, i.e. $0.00541656 per GB-hour).

Exact :class:`~decimal.Decimal` arithmetic in the meter's trapping context, as everywhere
in billing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from lamina.billing.meter import EXACT
from lamina.billing.prices import PriceTable, SnapStartPrices
from lamina.errors import InvalidParameterValue
from lamina.models.function import LATEST, FunctionConfig

# 1 / 1024 MB per GB, exactly.
GB_PER_MB = Decimal("0.0009765625")


@dataclass(frozen=True, slots=True)
class SnapStartBill:
    """One function version's SnapStart fees over a period."""

    restores: int
    restore_cost: Decimal
    cache_gb_s: Decimal
    cache_cost: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(self.restore_cost, self.cache_cost)


def _prices(table: PriceTable) -> SnapStartPrices:
    if table.snapstart is None:
        raise InvalidParameterValue(f"the price table for {table.region} has no SnapStart prices")
    return table.snapstart


def restore_cost(memory_mb: int, restores: int, table: PriceTable) -> Decimal:
    """``restores`` restores of a ``memory_mb`` function: GB * count * restore price."""
    if memory_mb < 0 or restores < 0:
        raise ValueError(f"memory_mb and restores must be >= 0, not {memory_mb}, {restores}")
    gb = EXACT.multiply(Decimal(memory_mb * restores), GB_PER_MB)
    return EXACT.multiply(gb, _prices(table).restore_price_per_gb)


def cache_gb_s(memory_mb: int, cached_s: int, table: PriceTable) -> Decimal:
    """GB-s of snapshot cache: the version's memory * its lifetime, at least the minimum.

    ``cached_s`` is whole seconds (round a lifetime up before calling); 0 means the version
    has no snapshot and costs nothing.
    """
    if memory_mb < 0 or cached_s < 0:
        raise ValueError(f"memory_mb and cached_s must be >= 0, not {memory_mb}, {cached_s}")
    if cached_s == 0:
        return Decimal(0)
    seconds = max(cached_s, _prices(table).cache_minimum_s)
    return EXACT.multiply(Decimal(memory_mb * seconds), GB_PER_MB)


def snapstart_bill(
    memory_mb: int, restores: int, cached_s: int, table: PriceTable
) -> SnapStartBill:
    """A version's SnapStart fees: its restores and its snapshot's time in the cache."""
    gb_s = cache_gb_s(memory_mb, cached_s, table)
    return SnapStartBill(
        restores=restores,
        restore_cost=restore_cost(memory_mb, restores, table),
        cache_gb_s=gb_s,
        cache_cost=EXACT.multiply(gb_s, _prices(table).cache_price_per_gb_s),
    )


@dataclass(frozen=True, slots=True)
class SnapStartVersion:
    """A published version with SnapStart, as the server lists it."""

    function: str
    version: str
    memory_mb: int
    published_at: float  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        return {
            "function": self.function,
            "version": self.version,
            "memoryMb": self.memory_mb,
            "publishedAt": self.published_at,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SnapStartVersion:
        return cls(
            str(raw["function"]),
            str(raw["version"]),
            int(raw["memoryMb"]),
            float(raw["publishedAt"]),
        )


def snapstart_versions(configs: list[FunctionConfig]) -> list[SnapStartVersion]:
    """The published versions with SnapStart among ``configs`` (the server's functions)."""
    out = []
    for c in configs:
        if c.snap_start and c.version != LATEST and c.last_modified:
            at = datetime.strptime(c.last_modified, "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()
            out.append(SnapStartVersion(c.name, c.version, c.memory_mb, at))
    return out
