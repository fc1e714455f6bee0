"""Order intake API, Python (handler ``app.handler``; runtime ``python3.11``).

An HTTP API (payload 2.0) handler for ``POST /orders``: it validates a batch of orders,
prices the valid ones (discount, shipping, VAT, in integer cents) and answers with the
accepted, the rejected (with every reason) and a summary. The Rust twin
(``../../rust/orders``) gives the same answer, byte for byte: sorted keys, no spaces,
integers only, and the same checks in the same order with the same messages.

Body: ``{"orders": [{"id": "ORD-000001", "customer": {"email", "name", "country"},
"currency": "EUR", "items": [{"sku": "ABC-1234", "quantity": 2, "unitPrice": 1999}],
"coupon": "SAVE10"}]}`` (``coupon`` optional). Answer: ``statusCode`` 200 when any order
is accepted, 422 when none is, 400 when the body is not such a document.
"""

from __future__ import annotations

import base64
import json
from typing import Any

VAT_PERCENT = {"DE": 19, "FR": 20, "GB": 20, "NL": 21, "SE": 25, "JP": 10, "US": 0}
CURRENCIES = ("EUR", "GBP", "JPY", "SEK", "USD")
COUPONS = {"SAVE10": 10, "SAVE20": 20, "FREESHIP": 0}
FREE_SHIPPING_FROM = 5000
SHIPPING = 499
MAX_ITEMS = 100
BLANKS = " \t\r\n"


def _digits(text: str) -> bool:
    return bool(text) and all("0" <= ch <= "9" for ch in text)


def _upper(text: str) -> bool:
    return bool(text) and all("A" <= ch <= "Z" for ch in text)


def valid_id(value: str) -> bool:
    return len(value) == 10 and value[:4] == "ORD-" and _digits(value[4:])


def valid_sku(value: str) -> bool:
    return len(value) == 8 and _upper(value[:3]) and value[3] == "-" and _digits(value[4:])


def valid_email(value: str) -> bool:
    if len(value) > 254 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith("."):
        return False
    return all("!" <= ch <= "~" for ch in value)  # printable ASCII, no spaces


def _integer(value: Any, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


def _one_of(value: Any, allowed: Any) -> bool:
    return isinstance(value, str) and value in allowed


def check(order: Any) -> list[str]:
    """Every reason the order is invalid, in a fixed order (empty: valid)."""
    if not isinstance(order, dict):
        return ["order: must be an object"]
    errors: list[str] = []
    oid = order.get("id")
    if not isinstance(oid, str) or not valid_id(oid):
        errors.append("id: must look like ORD-000123")
    customer = order.get("customer")
    if not isinstance(customer, dict):
        errors.append("customer: must be an object")
    else:
        email = customer.get("email")
        if not isinstance(email, str) or not valid_email(email):
            errors.append("customer.email: must be an email address")
        name = customer.get("name")
        if not isinstance(name, str) or not 1 <= len(name.strip(BLANKS)) <= 100:
            errors.append("customer.name: must be 1 to 100 characters")
        if not _one_of(customer.get("country"), VAT_PERCENT):
            errors.append("customer.country: must be one of " + ", ".join(sorted(VAT_PERCENT)))
    if not _one_of(order.get("currency"), CURRENCIES):
        errors.append("currency: must be one of " + ", ".join(CURRENCIES))
    items = order.get("items")
    if not isinstance(items, list) or not 1 <= len(items) <= MAX_ITEMS:
        errors.append(f"items: must be a list of 1 to {MAX_ITEMS} items")
    else:
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                errors.append(f"items[{i}]: must be an object")
                continue
            sku = item.get("sku")
            if not isinstance(sku, str) or not valid_sku(sku):
                errors.append(f"items[{i}].sku: must look like ABC-1234")
            if not _integer(item.get("quantity"), 1, 1000):
                errors.append(f"items[{i}].quantity: must be an integer from 1 to 1000")
            if not _integer(item.get("unitPrice"), 0, 10_000_000):
                errors.append(f"items[{i}].unitPrice: must be an integer from 0 to 10000000 cents")
    coupon = order.get("coupon")
    if coupon is not None and not _one_of(coupon, COUPONS):
        errors.append("coupon: unknown")
    return errors


def price(order: dict[str, Any]) -> dict[str, Any]:
    """A valid order's lines and money, in integer cents."""
    items = order["items"]
    subtotal = sum(item["quantity"] * item["unitPrice"] for item in items)
    coupon = order.get("coupon")
    discount = subtotal * COUPONS.get(coupon, 0) // 100 if coupon else 0
    net = subtotal - discount
    shipping = 0 if coupon == "FREESHIP" or net >= FREE_SHIPPING_FROM else SHIPPING
    country = order["customer"]["country"]
    tax = ((net + shipping) * VAT_PERCENT[country] + 50) // 100
    return {
        "id": order["id"],
        "email": order["customer"]["email"].lower(),
        "name": order["customer"]["name"].strip(BLANKS),
        "country": country,
        "currency": order["currency"],
        "lines": len(items),
        "units": sum(item["quantity"] for item in items),
        "subtotal": subtotal,
        "discount": discount,
        "shipping": shipping,
        "tax": tax,
        "total": net + shipping + tax,
    }


def _answer(status: int, body: Any) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=False),
    }


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json.loads would accept NaN and Infinity


def _document(event: Any) -> Any:
    """The request body as JSON, or None."""
    raw = event.get("body") if isinstance(event, dict) else None
    if not isinstance(raw, str):
        return None
    try:
        if event.get("isBase64Encoded") is True:
            raw = base64.b64decode(raw, validate=True).decode("utf-8")
        return json.loads(raw, parse_constant=_no_constants)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None


def handler(event: Any, context: Any) -> dict[str, Any]:
    document = _document(event)
    if not isinstance(document, dict) or not isinstance(document.get("orders"), list):
        return _answer(400, {"message": 'the body must be JSON: {"orders": [...]}'})
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, Any]] = []
    totals: dict[str, int] = {}
    for index, order in enumerate(document["orders"]):
        errors = check(order)
        if errors:
            oid = order.get("id") if isinstance(order, dict) else None
            rejected.append({"index": index, "id": oid if isinstance(oid, str) else None,
                             "errors": errors})  # fmt: skip
            continue
        priced = price(order)
        accepted.append(priced)
        totals[priced["currency"]] = totals.get(priced["currency"], 0) + priced["total"]
    summary = {
        "orders": len(document["orders"]),
        "accepted": len(accepted),
        "rejected": len(rejected),
        "totals": totals,
    }
    status = 200 if accepted or not rejected else 422
    return _answer(status, {"accepted": accepted, "rejected": rejected, "summary": summary})
