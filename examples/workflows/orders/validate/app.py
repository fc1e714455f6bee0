"""Validate an order: every item has a SKU, a quantity and a price; the order has an email.

Returns ``{"valid": true, "total": <sum of qty x price>}`` or ``{"valid": false,
"reason": "..."}`` — an invalid order is an answer, not an error.
"""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    items = event.get("items") or []
    if not event.get("email"):
        return {"valid": False, "reason": "the order has no email"}
    if not items:
        return {"valid": False, "reason": "the order has no items"}
    total = 0.0
    for item in items:
        if not item.get("sku") or int(item.get("qty", 0)) <= 0 or float(item.get("price", -1)) < 0:
            return {"valid": False, "reason": f"bad item {item!r}"}
        total += int(item["qty"]) * float(item["price"])
    return {"valid": True, "total": round(total, 2)}
