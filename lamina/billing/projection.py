"""Projection: what a function costs per month at a request rate, and when a server is cheaper.

A *workload* is what one request costs to run, as measured: the number of invocations seen
and the sum of their ``memory MB * billed ms`` (the ledger's rows, or a power-tuning run's
samples at one memory size). Because a month's duration bill is a function of its total
GB-s alone, the measured distribution enters the projection through its mean; its
percentiles are kept for reports. At a rate of R requests per month the month's usage is
``R`` requests and ``R * mean GB-s`` GB-s, priced by :func:`~lamina.billing.meter.monthly_cost`
with the tiers and (optionally) the free tier.

A month is 730 hours (2,628,000 s), the month AWS's pricing calculator uses.

Projections are estimates, so unlike the meter they round: monthly GB-s to the nanoGB-s
(``1e-9``) before pricing, which is then exact. Rates and prices are parsed from the
forms people write: ``10/s``, ``600/min``, ``2.5M/month``, ``40$/month``, ``$0.05/hour``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation

from lamina.billing.meter import MonthlyBill, gb_seconds, monthly_cost
from lamina.billing.prices import PriceTable
from lamina.errors import InvalidParameterValue

HOURS_PER_MONTH = 730
SECONDS_PER_MONTH = HOURS_PER_MONTH * 3600  # 2,628,000
_MB_MS_PER_GB_S = 1_024_000
_GB_S_QUANTUM = Decimal("0.000000001")
# Enough digits for any ratio of the integers involved; rounding is explicit afterwards.
_ROUNDED = Context(prec=60, rounding=ROUND_HALF_EVEN)
_MILLION = Decimal(1_000_000)
# How far the break-even search looks before it says "never": 10**15 requests a month is
# ~380 million per second, beyond any single server a flat price could stand for.
_SEARCH_LIMIT = 10**15
_LARGEST = Decimal(10**18)  # no rate or price beyond this means anything

# Seconds in one of each unit (a month and a year follow the 730-hour month).
_UNIT_SECONDS: dict[str, Decimal] = {
    "s": Decimal(1),
    "min": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
    "mo": Decimal(SECONDS_PER_MONTH),
    "y": Decimal(SECONDS_PER_MONTH * 12),
}
_UNIT_NAMES = {
    "s": "s", "sec": "s", "secs": "s", "second": "s", "seconds": "s",
    "min": "min", "mins": "min", "minute": "min", "minutes": "min",
    "h": "h", "hr": "h", "hrs": "h", "hour": "h", "hours": "h",
    "d": "d", "day": "d", "days": "d",
    "w": "w", "wk": "w", "week": "w", "weeks": "w",
    "mo": "mo", "mon": "mo", "month": "mo", "months": "mo",
    "y": "y", "yr": "y", "year": "y", "years": "y",
}  # fmt: skip
_SUFFIXES = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9}
_NUMBER = r"(?P<num>\d[\d,_]*(?:\.\d+)?(?:e[+-]?\d+)?|\.\d+)\s*(?P<suffix>[kmbg]?)"
_RATE = re.compile(
    rf"^\s*{_NUMBER}\s*(?:req(?:uests?)?|invocations?|calls?)?\s*(?:/|per\s)\s*(?P<unit>[a-z]+)\s*$",
    re.IGNORECASE,
)
_RATE_SHORT = re.compile(rf"^\s*{_NUMBER}\s*(?P<short>rps|rpm|rph)\s*$", re.IGNORECASE)
_PRICE = re.compile(
    rf"^\s*(?:\$|usd)?\s*{_NUMBER}\s*(?:\$|usd)?\s*(?:(?:/|per\s|a\s)\s*(?P<unit>[a-z]+))?\s*$",
    re.IGNORECASE,
)


def _number(num: str, suffix: str, text: str) -> Decimal:
    try:
        value = Decimal(num.replace(",", "").replace("_", ""))
    except InvalidOperation:
        raise InvalidParameterValue(f"{text!r}: {num!r} is not a number") from None
    value = value * _SUFFIXES[suffix.lower()]
    if not value.is_finite() or value < 0 or value > _LARGEST:
        raise InvalidParameterValue(f"{text!r}: must be a number from 0 to 10^18")
    return value


def _unit_seconds(unit: str, text: str) -> Decimal:
    key = _UNIT_NAMES.get(unit.lower())
    if key is None:
        if unit.lower() == "m":
            raise InvalidParameterValue(f"{text!r}: write 'min' for minutes or 'month'")
        raise InvalidParameterValue(
            f"{text!r}: unknown time unit {unit!r} (use s, min, h, day, week, month, year)"
        )
    return _UNIT_SECONDS[key]


@dataclass(frozen=True, slots=True)
class RequestRate:
    """A request rate, kept as requests per 730-hour month (rounded to whole requests)."""

    per_month: int
    text: str

    @property
    def per_second(self) -> Decimal:
        return _ROUNDED.divide(Decimal(self.per_month), Decimal(SECONDS_PER_MONTH))


def parse_rate(text: str) -> RequestRate:
    """``10/s``, ``600 per minute``, ``2.5M/month``, ``1,000,000 requests/day``, ``50rps``."""
    m = _RATE.match(text)
    if m is not None:
        seconds = _unit_seconds(m.group("unit"), text)
    else:
        m = _RATE_SHORT.match(text)
        if m is None:
            raise InvalidParameterValue(
                f"{text!r} is not a rate: write it like 10/s, 600/min, 2.5M/month or 50rps"
            )
        seconds = {"rps": Decimal(1), "rpm": Decimal(60), "rph": Decimal(3600)}[
            m.group("short").lower()
        ]
    count = _number(m.group("num"), m.group("suffix"), text)
    per_month = _ROUNDED.divide(
        _ROUNDED.multiply(count, Decimal(SECONDS_PER_MONTH)), seconds
    ).to_integral_value(ROUND_HALF_EVEN)
    return RequestRate(int(per_month), text.strip())


@dataclass(frozen=True, slots=True)
class ServerPrice:
    """A flat-priced server's cost per 730-hour month, e.g. ``40$/month`` or ``$0.05/hour``."""

    per_month: Decimal
    text: str


def parse_server_price(text: str) -> ServerPrice:
    """``40$/month``, ``$40/mo``, ``0.0464$/hour``, ``480 USD/year``; bare ``40`` is a month."""
    m = _PRICE.match(text)
    if m is None:
        raise InvalidParameterValue(
            f"{text!r} is not a price: write it like 40$/month, $0.05/hour or 480$/year"
        )
    amount = _number(m.group("num"), m.group("suffix"), text)
    unit = m.group("unit")
    seconds = _unit_seconds(unit, text) if unit else Decimal(SECONDS_PER_MONTH)
    per_month = _ROUNDED.divide(_ROUNDED.multiply(amount, Decimal(SECONDS_PER_MONTH)), seconds)
    return ServerPrice(per_month, text.strip())


@dataclass(frozen=True, slots=True)
class Workload:
    """What requests cost to run, measured: how many, and their ``Σ memory MB * billed ms``.

    ``histogram`` optionally keeps the billed durations as sorted ``(billed ms, count)``
    pairs, for percentiles in reports; the price depends on the sums only.
    """

    architecture: str
    invocations: int
    mb_ms: int  # Σ memory_mb * billed_ms
    ephemeral_gb_s: Decimal = Decimal(0)  # Σ ephemeral GB-s above the included size
    histogram: tuple[tuple[int, int], ...] = ()

    def __post_init__(self) -> None:
        if self.invocations < 1 or self.mb_ms < 0 or self.ephemeral_gb_s < 0:
            raise InvalidParameterValue("a workload needs at least one invocation")

    @classmethod
    def from_samples(
        cls,
        memory_mb: int,
        billed_ms: Sequence[int],
        architecture: str,
        ephemeral_mb: int = 512,
        table: PriceTable | None = None,
    ) -> Workload:
        """A workload measured at one memory size: one billed duration per invocation."""
        if not billed_ms:
            raise InvalidParameterValue("a workload needs at least one invocation")
        included = table.ephemeral_included_mb if table is not None else 512
        total_ms = sum(billed_ms)
        return cls(
            architecture=architecture,
            invocations=len(billed_ms),
            mb_ms=memory_mb * total_ms,
            ephemeral_gb_s=gb_seconds(max(0, ephemeral_mb - included), total_ms),
            histogram=tuple(sorted(Counter(billed_ms).items())),
        )

    def billed_percentile(self, fraction: float) -> int | None:
        """Nearest-rank percentile of the billed durations (None without a histogram)."""
        total = sum(count for _, count in self.histogram)
        if total == 0:
            return None
        rank = max(1, math.ceil(fraction * total))
        seen = 0
        for billed, count in self.histogram:
            seen += count
            if seen >= rank:
                return billed
        return self.histogram[-1][0]  # pragma: no cover - rank <= total always stops above

    @property
    def mean_billed_ms(self) -> Decimal | None:
        """Mean billed duration from the histogram (None without one)."""
        total = sum(count for _, count in self.histogram)
        if total == 0:
            return None
        weighted = sum(billed * count for billed, count in self.histogram)
        return _ROUNDED.divide(Decimal(weighted), Decimal(total))

    @property
    def mean_gb_s(self) -> Decimal:
        """GB-s of an average request (rounded to 60 digits)."""
        return _ROUNDED.divide(Decimal(self.mb_ms), Decimal(self.invocations * _MB_MS_PER_GB_S))

    def cost_per_invocation(self, table: PriceTable, architecture: str | None = None) -> Decimal:
        """An average request at first-tier prices, request fee included (the ledger's view)."""
        arch = architecture or self.architecture
        price = table.tiers(arch)[0].price_per_gb_s
        duration = _ROUNDED.multiply(self.mean_gb_s, price)
        ephemeral = _ROUNDED.divide(
            _ROUNDED.multiply(self.ephemeral_gb_s, table.ephemeral_price_per_gb_s),
            Decimal(self.invocations),
        )
        return _ROUNDED.add(_ROUNDED.add(table.request_price, duration), ephemeral)

    def cost_per_million(self, table: PriceTable, architecture: str | None = None) -> Decimal:
        return _ROUNDED.multiply(self.cost_per_invocation(table, architecture), _MILLION)


@dataclass(frozen=True, slots=True)
class Projection:
    """A workload's month at a rate: the usage and the tiered bill."""

    requests: int
    gb_s: Decimal
    bill: MonthlyBill

    @property
    def total(self) -> Decimal:
        return self.bill.total


def monthly_usage(workload: Workload, requests: int) -> tuple[Decimal, Decimal]:
    """``(GB-s, ephemeral GB-s)`` of ``requests`` average requests, rounded to 1e-9."""
    if requests < 0:
        raise InvalidParameterValue("requests must be >= 0")
    gb_s = _ROUNDED.divide(
        Decimal(workload.mb_ms * requests), Decimal(workload.invocations * _MB_MS_PER_GB_S)
    ).quantize(_GB_S_QUANTUM, context=_ROUNDED)
    ephemeral = _ROUNDED.divide(
        _ROUNDED.multiply(workload.ephemeral_gb_s, Decimal(requests)),
        Decimal(workload.invocations),
    ).quantize(_GB_S_QUANTUM, context=_ROUNDED)
    return gb_s, ephemeral


def project(
    workload: Workload,
    requests_per_month: int,
    table: PriceTable,
    *,
    free_tier: bool = False,
    architecture: str | None = None,
) -> Projection:
    """The month of ``requests_per_month`` requests like the workload's average one."""
    gb_s, ephemeral = monthly_usage(workload, requests_per_month)
    bill = monthly_cost(
        gb_s,
        requests_per_month,
        architecture or workload.architecture,
        table,
        free_tier,
        ephemeral,
    )
    return Projection(requests_per_month, gb_s, bill)


@dataclass(frozen=True, slots=True)
class BreakEven:
    """The rate above which a flat-priced server costs less than Lambda (None: never)."""

    server: ServerPrice
    requests_per_month: int | None

    @property
    def per_second(self) -> Decimal | None:
        if self.requests_per_month is None:
            return None
        return _ROUNDED.divide(Decimal(self.requests_per_month), Decimal(SECONDS_PER_MONTH))


def break_even(
    workload: Workload,
    server: ServerPrice,
    table: PriceTable,
    *,
    free_tier: bool = False,
    architecture: str | None = None,
) -> BreakEven:
    """The smallest monthly request count whose Lambda bill reaches the server's price.

    The bill only grows with requests (every band has a price >= 0), so a doubling search
    then a bisection over whole requests finds it in ~100 projections.
    """

    def cost(requests: int) -> Decimal:
        return project(
            workload, requests, table, free_tier=free_tier, architecture=architecture
        ).total

    target = server.per_month
    if target <= 0:
        return BreakEven(server, 0)
    high = 1
    while cost(high) < target:
        if high >= _SEARCH_LIMIT:
            return BreakEven(server, None)
        high *= 2
    low = high // 2  # cost(low) < target, or low == 0
    while high - low > 1:
        mid = (low + high) // 2
        if cost(mid) >= target:
            high = mid
        else:
            low = mid
    return BreakEven(server, high)


def per_million(total: Decimal, requests: int) -> Decimal:
    """A month's total as dollars per million requests (0 for no requests)."""
    if requests <= 0:
        return Decimal(0)
    return _ROUNDED.divide(_ROUNDED.multiply(total, _MILLION), Decimal(requests))
