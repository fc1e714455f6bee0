"""The price table: Lambda's prices as data (``prices.json``), loaded into frozen values.

Prices are kept as :class:`~decimal.Decimal` from the file's *strings*, never through
``float``, so every figure the meter derives from them is exact and hand-checkable.
A table is validated once when loaded; a bad file is a :class:`~lamina.errors.ConfigError`
at start-up, never a surprise on the invoke path.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from lamina.errors import ConfigError, InvalidParameterValue

_MILLION = Decimal(1_000_000)


@dataclass(frozen=True, slots=True)
class Tier:
    """One duration price band: the next ``size_gb_s`` GB-s of a month (``None``: all the rest)."""

    size_gb_s: Decimal | None
    price_per_gb_s: Decimal


@dataclass(frozen=True, slots=True)
class FreeTier:
    """What AWS gives away each month (per account, across architectures)."""

    requests: int
    gb_s: Decimal


@dataclass(frozen=True, slots=True)
class SnapStartPrices:
    """SnapStart's own fees: each restore, and the cached snapshot while its version lives."""

    restore_price_per_gb: Decimal  # per GB of the function's memory, per restore
    cache_price_per_gb_s: Decimal  # per GB of the function's memory, per second cached
    cache_minimum_s: int  # a snapshot is billed at least this long


@dataclass(frozen=True, slots=True)
class ProvisionedPrices:
    """Provisioned concurrency's prices for one architecture."""

    concurrency_price_per_gb_s: Decimal  # the configured concurrency, while enabled
    duration_price_per_gb_s: Decimal  # the duration of the invokes it serves (flat)


@dataclass(frozen=True, slots=True)
class PriceTable:
    """Lambda's prices for one region, as loaded from ``prices.json``."""

    source: str
    as_of: str
    region: str
    currency: str
    request_price_per_million: Decimal
    duration_tiers: dict[str, tuple[Tier, ...]]  # architecture → bands, cheapest last
    ephemeral_included_mb: int
    ephemeral_price_per_gb_s: Decimal
    free_tier: FreeTier
    snapstart: SnapStartPrices | None = None  # None: the table does not price SnapStart
    # Provisioned concurrency per architecture (empty: not priced), and the increment its
    # enabled time is rounded up to (Lambda: 5 minutes).
    provisioned: dict[str, ProvisionedPrices] = field(default_factory=dict)
    provisioned_increment_s: int = 300
    # The fee for one request ($0.20 per million → $0.0000002), derived once: the meter
    # reads it for every invocation.
    request_price: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "request_price", self.request_price_per_million / _MILLION)

    @property
    def architectures(self) -> tuple[str, ...]:
        return tuple(self.duration_tiers)

    def tiers(self, architecture: str) -> tuple[Tier, ...]:
        """The duration bands for ``architecture``; unknown names are the caller's error."""
        try:
            return self.duration_tiers[architecture]
        except KeyError:
            known = ", ".join(self.duration_tiers)
            raise InvalidParameterValue(
                f"no duration price for architecture {architecture!r} (known: {known})"
            ) from None


def load_prices(path: Path | None = None) -> PriceTable:
    """Load and validate a price table; ``None`` loads the packaged us-east-1 table."""
    try:
        if path is None:
            text = resources.files("lamina.billing").joinpath("prices.json").read_text("utf-8")
            where = "packaged prices.json"
        else:
            text = path.read_text("utf-8")
            where = str(path)
    except OSError as exc:
        raise ConfigError(f"cannot read price table {path}: {exc}") from exc
    try:
        # parse_float=Decimal: a number written without quotes still never passes through float.
        raw = json.loads(text, parse_float=Decimal)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{where}: not valid JSON: {exc}") from exc
    return parse_prices(raw, where)


def parse_prices(raw: object, where: str = "price table") -> PriceTable:
    """Validate a decoded price document (see ``prices.json``) into a :class:`PriceTable`."""
    doc = _mapping(raw, where)
    requests = _mapping(doc.get("requests"), f"{where}: requests")
    storage = _mapping(doc.get("ephemeral_storage"), f"{where}: ephemeral_storage")
    free = _mapping(doc.get("free_tier"), f"{where}: free_tier")
    duration = _mapping(doc.get("duration"), f"{where}: duration")
    if not duration:
        raise ConfigError(f"{where}: duration must price at least one architecture")
    return PriceTable(
        source=_text(doc.get("source"), f"{where}: source"),
        as_of=_text(doc.get("as_of"), f"{where}: as_of"),
        region=_text(doc.get("region"), f"{where}: region"),
        currency=_text(doc.get("currency"), f"{where}: currency"),
        request_price_per_million=_amount(
            requests.get("price_per_million"), f"{where}: requests.price_per_million"
        ),
        duration_tiers={
            str(arch): _tiers(bands, f"{where}: duration.{arch}")
            for arch, bands in duration.items()
        },
        ephemeral_included_mb=_count(
            storage.get("included_mb"), f"{where}: ephemeral_storage.included_mb"
        ),
        ephemeral_price_per_gb_s=_amount(
            storage.get("price_per_gb_s"), f"{where}: ephemeral_storage.price_per_gb_s"
        ),
        free_tier=FreeTier(
            requests=_count(free.get("requests"), f"{where}: free_tier.requests"),
            gb_s=_amount(free.get("gb_s"), f"{where}: free_tier.gb_s"),
        ),
        snapstart=_snapstart(doc.get("snapstart"), f"{where}: snapstart"),
        **_provisioned(doc.get("provisioned_concurrency"), f"{where}: provisioned_concurrency"),
    )


def _provisioned(raw: object, where: str) -> dict[str, Any]:
    """The optional ``provisioned_concurrency`` section: prices per architecture."""
    if raw is None:
        return {}
    section = _mapping(raw, where)
    prices = {
        arch: ProvisionedPrices(
            _amount(
                band.get("concurrency_price_per_gb_s"), f"{where}.{arch}.concurrency_price_per_gb_s"
            ),
            _amount(band.get("duration_price_per_gb_s"), f"{where}.{arch}.duration_price_per_gb_s"),
        )
        for arch, value in section.items()
        if arch not in ("source", "billing_increment_s")
        for band in (_mapping(value, f"{where}.{arch}"),)
    }
    increment = _count(section.get("billing_increment_s", 300), f"{where}.billing_increment_s")
    if increment == 0:
        raise ConfigError(f"{where}.billing_increment_s must be positive")
    return {"provisioned": prices, "provisioned_increment_s": increment}


def _snapstart(raw: object, where: str) -> SnapStartPrices | None:
    """The optional ``snapstart`` section (a table for a region without it may omit it)."""
    if raw is None:
        return None
    section = _mapping(raw, where)
    return SnapStartPrices(
        restore_price_per_gb=_amount(
            section.get("restore_price_per_gb"), f"{where}.restore_price_per_gb"
        ),
        cache_price_per_gb_s=_amount(
            section.get("cache_price_per_gb_s"), f"{where}.cache_price_per_gb_s"
        ),
        cache_minimum_s=_count(section.get("cache_minimum_s"), f"{where}.cache_minimum_s"),
    )


def _tiers(raw: object, where: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{where}: must be a non-empty list of tiers")
    tiers: list[Tier] = []
    for i, item in enumerate(raw):
        band = _mapping(item, f"{where}[{i}]")
        size_raw = band.get("size_gb_s")
        last = i == len(raw) - 1
        # Only the last band is open-ended, and it must be: every GB-s needs a price.
        if last and size_raw is not None:
            raise ConfigError(f"{where}[{i}]: the last tier must have size_gb_s null")
        if not last and size_raw is None:
            raise ConfigError(f"{where}[{i}]: only the last tier may have size_gb_s null")
        size = None if size_raw is None else _amount(size_raw, f"{where}[{i}].size_gb_s")
        if size is not None and size == 0:
            raise ConfigError(f"{where}[{i}]: size_gb_s must be positive")
        price = _amount(band.get("price_per_gb_s"), f"{where}[{i}].price_per_gb_s")
        tiers.append(Tier(size_gb_s=size, price_per_gb_s=price))
    return tuple(tiers)


def _mapping(raw: object, where: str) -> dict[str, object]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must be an object")
    return {str(k): v for k, v in raw.items()}


def _text(raw: object, where: str) -> str:
    if not isinstance(raw, str) or not raw.strip():
        raise ConfigError(f"{where}: must be a non-empty string")
    return raw


def _amount(raw: object, where: str) -> Decimal:
    """A non-negative finite decimal, written as a string (preferred) or a JSON number."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | Decimal):
        raise ConfigError(f'{where}: must be a decimal string such as "0.0000166667"')
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{where}: {raw!r} is not a decimal number") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{where}: {raw!r} must be a finite, non-negative number")
    return value


def _count(raw: object, where: str) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ConfigError(f"{where}: must be a non-negative integer")
    return raw
