"""How the tools write numbers: money with significant digits, milliseconds, ratios.

Money stays :class:`~decimal.Decimal` until here; these functions only round for display.
"""

from __future__ import annotations

import math
from decimal import Decimal


def money(value: Decimal | None, digits: int = 4) -> str:
    """``$1,234.57``, ``$3.756``, ``$0.2208``, ``$0.0000002208``: ``digits`` significant."""
    if value is None:
        return "-"
    if value == 0:
        return "$0"
    sign = "-" if value < 0 else ""
    value = abs(value)
    if value >= 1000:
        return f"{sign}${value:,.2f}"
    exponent = math.floor(math.log10(value))
    decimals = max(2 if value >= 1 else 0, digits - 1 - exponent)
    return f"{sign}${value:,.{decimals}f}"


def ms(value: float | None) -> str:
    """Milliseconds with precision that suits their size."""
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float | None) -> str:
    """``4.2x``; ``-`` when unknown."""
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:.1f}x" if value < 100 else f"{value:,.0f}x"


def count(value: int | float | Decimal | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}"


def per_second(value: Decimal | None) -> str:
    if value is None:
        return "never"
    if value >= 100:
        return f"{value:,.0f}/s"
    return f"{value:.2f}/s"


def plain(value: Decimal) -> str:
    """Exact decimal text without exponent or trailing zeros, for JSON."""
    text = format(value.normalize(), "f")
    return text if text != "-0" else "0"
