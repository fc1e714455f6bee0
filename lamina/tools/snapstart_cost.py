"""SnapStart in ``lamina cost``: each published SnapStart version's restores and snapshot cache.

Restores come from the ledger (cold starts whose ``restored`` flag is set: an environment
restored from a published SnapStart version's snapshot), per GB of the function's memory.
The cache is billed per GB-second while the published version exists, at least
``cache_minimum_s`` (3 hours) from its publication: the server lists its SnapStart
versions with their publication time beside the ledger views. A version deleted since is
no longer listed, so its cache time is not counted; a ledger file read offline has no list
(restores only, with a note).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lamina.billing.ledger_queries import GroupTotals
from lamina.billing.meter import EXACT
from lamina.billing.prices import PriceTable
from lamina.billing.snapstart import GB_PER_MB, SnapStartVersion, restore_cost
from lamina.models.function import LATEST
from lamina.tools.formatting import plain


@dataclass(frozen=True, slots=True)
class SnapStartRow:
    function: str
    version: str
    restores: int
    restore_cost: Decimal
    cache_s: int
    cache_gb_s: Decimal
    cache_cost: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(self.restore_cost, self.cache_cost)


def cache_seconds(
    published_at: float, since: float | None, until: float | None, now: float, minimum_s: int
) -> int:
    """Whole seconds of the version's cache inside the span; a version published inside it
    is billed at least ``minimum_s``."""
    start = published_at if since is None else max(published_at, since)
    end = now if until is None else min(until, now)
    if end <= start:
        return 0
    seconds = math.ceil(end - start)
    if since is None or published_at >= since:
        seconds = max(seconds, minimum_s)
    return seconds


def snapstart_rows(
    groups: list[GroupTotals],
    versions: list[SnapStartVersion],
    table: PriceTable,
    *,
    since: float | None,
    until: float | None,
    now: float,
) -> list[SnapStartRow]:
    """One row per (function, version) with restores or a cached snapshot; ``groups`` are
    the ledger's per-version totals over the span."""
    prices = table.snapstart
    if prices is None:
        return []
    restores = {(g.function, g.version or LATEST): g for g in groups if g.restores}
    listed = {(v.function, v.version): v for v in versions}
    out = []
    for key in sorted(set(restores) | set(listed)):
        g, v = restores.get(key), listed.get(key)
        n, restored_mb = (g.restores, g.restored_mb) if g else (0, 0)
        seconds = (
            cache_seconds(v.published_at, since, until, now, prices.cache_minimum_s) if v else 0
        )
        gb_s = EXACT.multiply(Decimal(v.memory_mb * seconds), GB_PER_MB) if v else Decimal(0)
        if not n and not seconds:
            continue
        out.append(
            SnapStartRow(
                key[0],
                key[1],
                n,
                restore_cost(restored_mb, 1, table) if n else Decimal(0),
                seconds,
                gb_s,
                EXACT.multiply(gb_s, prices.cache_price_per_gb_s),
            )
        )
    return out


def snapstart_row(row: SnapStartRow) -> dict[str, Any]:
    """``lamina cost --json``: a SnapStart row (``"kind": "snapstart"``)."""
    return {
        "kind": "snapstart",
        "function": row.function,
        "version": row.version,
        "restores": row.restores,
        "restore_cost": plain(row.restore_cost),
        "cache_seconds": row.cache_s,
        "cache_gb_s": plain(row.cache_gb_s),
        "cache_cost": plain(row.cache_cost),
        "total_cost": plain(row.total),
    }
