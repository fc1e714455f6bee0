"""Billing: the price table (data), the meter (pure rules) and the ledger (SQLite, batched)."""

from __future__ import annotations

from lamina.billing.ledger import LEDGER_FILE, Ledger
from lamina.billing.ledger_queries import CostTotals, DailyTotals, LedgerEntry, Usage
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
    "CostTotals",
    "DailyTotals",
    "FreeTier",
    "Ledger",
    "LedgerEntry",
    "MonthlyBill",
    "PriceTable",
    "Tier",
    "TierCharge",
    "Usage",
    "billed_duration_ms",
    "gb_seconds",
    "invocation_cost",
    "load_prices",
    "monthly_cost",
    "parse_prices",
]
