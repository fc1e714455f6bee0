"""Reserve an order's items in the warehouse."""

from __future__ import annotations

from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    skus = sorted({item["sku"] for item in event["items"]})
    return {"reservationId": f"rs-{event['orderId']}", "skus": skus}
