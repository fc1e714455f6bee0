"""Billing: the price table (data), the meter (pure rules) and the ledger (SQLite, batched)."""

from __future__ import annotations

from lamina.billing.ledger import LEDGER_FILE, Ledger
from lamina.billing.ledger_queries import GroupTotals, LedgerEntry, MonthUsage
from lamina.billing.meter import (
    Cost,
    MonthlyBill,
    TierCharge,
    billed_duration_ms,
    gb_seconds,
    invocation_cost,
    monthly_cost,
)
from lamina.billing.prices import FreeTier, PriceTable, Tier, load_prices, parse_prices

__all__ = [
    "LEDGER_FILE",
    "Cost",
    "FreeTier",
    "GroupTotals",
    "Ledger",
    "LedgerEntry",
    "MonthUsage",
    "MonthlyBill",
    "PriceTable",
    "Tier",
    "TierCharge",
    "billed_duration_ms",
    "gb_seconds",
    "invocation_cost",
    "load_prices",
    "monthly_cost",
    "parse_prices",
]
