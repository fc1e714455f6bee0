"""Charge an order's total. Over 1000 the card is declined: the function raises
``PaymentDeclined``, which the workflow catches by that name."""

from __future__ import annotations

from typing import Any


class PaymentDeclined(Exception):
    """Raised when the amount is over the card's limit."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    amount = float(event["amount"])
    if amount > 1000:
        raise PaymentDeclined(f"{amount:.2f} is over the card's limit of 1000.00")
    return {"chargeId": f"ch-{event['orderId']}", "amount": amount}
