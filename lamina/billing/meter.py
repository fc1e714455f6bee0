"""The meter: Lambda's billing rules as pure functions of numbers and a price table.

Rules (see ``docs/billing.md`` for worked examples):

* billed duration = duration (+ INIT on a cold start) rounded **up** to the next 1 ms,
  at least 1 ms;
* GB-s = memory MB / 1024 * billed ms / 1000;
* one invocation costs the request fee + GB-s * the first duration tier's price + the
  ephemeral storage above the included 512 MB * billed seconds * its price;
* a month prices its total GB-s across the tiers, after the free tier.

All money is :class:`~decimal.Decimal` computed in a context that *traps* inexact results,
so a figure here is either exact or an exception, never silently rounded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Context, Decimal, DivisionByZero, Inexact, InvalidOperation, Overflow

from lamina.billing.prices import PriceTable, Tier
from lamina.models.invocation import InvocationRecord

# 100 digits hold any product of prices (10 decimals) and GB-s (13 decimals) exactly;
# the Inexact trap turns a broken assumption into an error instead of a wrong bill.
EXACT = Context(prec=100, traps=[Inexact, InvalidOperation, DivisionByZero, Overflow])
_ZERO = Decimal(0)
# 1 / (1024 MB/GB * 1000 ms/s), exactly: 1,024,000 = 2**13 · 5**3, so the reciprocal
# terminates, and multiplying by it is exact and far cheaper than a 100-digit division.
_GB_S_PER_MB_MS = Decimal("0.0000009765625")


@dataclass(frozen=True, slots=True)
class Cost:
    """What one invocation costs, priced at the first duration tier (the ledger's view)."""

    gb_s: Decimal
    ephemeral_gb_s: Decimal  # GB-s of ephemeral storage above the included size
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal

    @property
    def total(self) -> Decimal:
        return EXACT.add(EXACT.add(self.request_cost, self.duration_cost), self.ephemeral_cost)


@dataclass(frozen=True, slots=True)
class TierCharge:
    """The part of a month's GB-s that fell in one price band."""

    gb_s: Decimal
    price_per_gb_s: Decimal
    cost: Decimal


@dataclass(frozen=True, slots=True)
class MonthlyBill:
    """One architecture's bill for a month: requests, tiered duration, ephemeral storage."""

    architecture: str
    requests: int
    gb_s: Decimal
    free_requests: int  # requests covered by the free tier
    free_gb_s: Decimal  # GB-s covered by the free tier (the month's first GB-s)
    request_cost: Decimal
    duration_cost: Decimal
    ephemeral_cost: Decimal
    tiers: tuple[TierCharge, ...]  # only the bands that were charged

    @property
    def total(self) -> Decimal:
        return EXACT.add(EXACT.add(self.request_cost, self.duration_cost), self.ephemeral_cost)


def billed_duration_ms(duration_ms: float, init_ms: float | None) -> int:
    """Billed milliseconds: ``ceil(duration + init)``, never less than 1.

    INIT counts because on-demand ZIP functions are billed for it since August 2025. The
    sum is first rounded to the nanosecond: no timer is finer, and it keeps float noise
    (``0.1 + 0.2``, ``1.0000000000000002``) from costing a whole extra millisecond.
    """
    # One chained comparison per value rejects negatives, NaN and infinity: this runs on
    # every invoke, so it stays cheap.
    if not 0.0 <= duration_ms < math.inf:
        raise ValueError(f"duration_ms must be finite and >= 0, not {duration_ms!r}")
    if init_ms is None:
        total = duration_ms
    elif 0.0 <= init_ms < math.inf:
        total = duration_ms + init_ms
    else:
        raise ValueError(f"init_ms must be finite and >= 0, not {init_ms!r}")
    whole = math.floor(total)
    # ``total - whole`` is exact for a double. A fraction above 1e-6 survives rounding to
    # six decimals, so the answer is the next millisecond without ``round``'s decimal
    # conversion (the costly part); only a fraction within 1e-6 of a whole millisecond
    # (or none) needs the exact rule.
    if total - whole > 1e-6:
        return whole + 1
    return max(1, math.ceil(round(total, 6)))


def gb_seconds(memory_mb: int, billed_ms: int) -> Decimal:
    """GB-seconds, exactly: ``memory_mb / 1024 * billed_ms / 1000``."""
    if memory_mb < 0 or billed_ms < 0:
        raise ValueError(f"memory_mb and billed_ms must be >= 0, not {memory_mb}, {billed_ms}")
    return EXACT.multiply(Decimal(memory_mb * billed_ms), _GB_S_PER_MB_MS)


def invocation_cost(record: InvocationRecord, table: PriceTable) -> Cost:
    """Price one invocation from its ``billed_ms`` (the REPORT line's figure) at tier 1.

    Reads only ``memory_mb``, ``billed_ms``, ``architecture``, ``ephemeral_mb`` and
    ``provisioned`` (the ledger memoises on exactly these). An invoke a provisioned
    environment served is billed the provisioned duration price (flat, no tiers) where the
    table has one.

    Per-invocation cost cannot know where in the month's tiers it falls, so it uses the
    first band: an upper bound that :func:`monthly_cost` refines for a whole month.
    """
    gb_s = gb_seconds(record.memory_mb, record.billed_ms)
    extra_mb = max(0, record.ephemeral_mb - table.ephemeral_included_mb)
    ephemeral_gb_s = gb_seconds(extra_mb, record.billed_ms)
    price = table.tiers(record.architecture)[0].price_per_gb_s
    if record.provisioned:
        provisioned = table.provisioned.get(record.architecture)
        if provisioned is not None:
            price = provisioned.duration_price_per_gb_s
    return Cost(
        gb_s=gb_s,
        ephemeral_gb_s=ephemeral_gb_s,
        request_cost=table.request_price,
        duration_cost=EXACT.multiply(gb_s, price),
        ephemeral_cost=EXACT.multiply(ephemeral_gb_s, table.ephemeral_price_per_gb_s),
    )


def monthly_cost(
    gb_s: Decimal,
    requests: int,
    architecture: str,
    table: PriceTable,
    free_tier: bool,
    ephemeral_gb_s: Decimal = _ZERO,
) -> MonthlyBill:
    """A month's bill for one architecture, with tiers and (optionally) the free tier.

    The free tier covers the month's *first* requests and GB-s; those GB-s still count
    toward the tier thresholds (tier 2 starts after 6 billion GB-s of usage, free or not).
    AWS grants one free tier per account across both architectures; this function applies
    it whole to the usage it is given, so a caller pricing x86_64 and arm64 separately
    passes ``free_tier=True`` for one of them only. Ephemeral storage has no free tier.
    """
    if requests < 0 or gb_s < 0 or ephemeral_gb_s < 0:
        raise ValueError("requests, gb_s and ephemeral_gb_s must be >= 0")
    tiers = table.tiers(architecture)
    free_requests = min(requests, table.free_tier.requests) if free_tier else 0
    free_gb_s = min(gb_s, table.free_tier.gb_s) if free_tier else _ZERO
    charges = _charge_tiers(tiers, start=free_gb_s, end=gb_s)
    duration_cost = _ZERO
    for charge in charges:
        duration_cost = EXACT.add(duration_cost, charge.cost)
    return MonthlyBill(
        architecture=architecture,
        requests=requests,
        gb_s=gb_s,
        free_requests=free_requests,
        free_gb_s=free_gb_s,
        request_cost=EXACT.multiply(Decimal(requests - free_requests), table.request_price),
        duration_cost=duration_cost,
        ephemeral_cost=EXACT.multiply(ephemeral_gb_s, table.ephemeral_price_per_gb_s),
        tiers=charges,
    )


def _charge_tiers(tiers: tuple[Tier, ...], start: Decimal, end: Decimal) -> tuple[TierCharge, ...]:
    """Price the usage interval ``[start, end)`` GB-s of a month across consecutive bands."""
    charges: list[TierCharge] = []
    lower = _ZERO
    for tier in tiers:
        upper = None if tier.size_gb_s is None else EXACT.add(lower, tier.size_gb_s)
        lo = max(start, lower)
        hi = end if upper is None else min(end, upper)
        if hi > lo:
            used = EXACT.subtract(hi, lo)
            charges.append(
                TierCharge(used, tier.price_per_gb_s, EXACT.multiply(used, tier.price_per_gb_s))
            )
        if upper is None or upper >= end:
            break
        lower = upper
    return tuple(charges)
