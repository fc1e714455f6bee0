//! Order intake API: the Rust twin of `../../orders/python/app.py`.
//!
//! Same checks in the same order with the same messages, same prices in integer cents,
//! and the same body text: serde_json's default map is sorted by key and writes no
//! spaces, which is what the Python twin asks `json.dumps` for.

use lambda_loop::{run, Context, FunctionError};
use serde_json::{json, Map, Value};

const VAT_PERCENT: [(&str, i64); 7] = [
    ("DE", 19),
    ("FR", 20),
    ("GB", 20),
    ("JP", 10),
    ("NL", 21),
    ("SE", 25),
    ("US", 0),
];
const CURRENCIES: [&str; 5] = ["EUR", "GBP", "JPY", "SEK", "USD"];
const COUPONS: [(&str, i64); 3] = [("FREESHIP", 0), ("SAVE10", 10), ("SAVE20", 20)];
const FREE_SHIPPING_FROM: i64 = 5000;
const SHIPPING: i64 = 499;
const MAX_ITEMS: usize = 100;

fn is_blank(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

fn upper(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_uppercase())
}

fn valid_id(value: &str) -> bool {
    value.chars().count() == 10 && value.starts_with("ORD-") && digits(&value[4..])
}

fn valid_sku(value: &str) -> bool {
    value.chars().count() == 8
        && value.is_ascii()
        && upper(&value[..3])
        && &value[3..4] == "-"
        && digits(&value[4..])
}

fn valid_email(value: &str) -> bool {
    if value.chars().count() > 254 || value.matches('@').count() != 1 {
        return false;
    }
    let (local, domain) = value.split_once('@').expect("one @");
    if local.is_empty() || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.')
    {
        return false;
    }
    value.chars().all(|c| ('!'..='~').contains(&c))
}

/// A JSON integer within `[low, high]` (not a float, not a boolean).
fn integer(value: Option<&Value>, low: i64, high: i64) -> Option<i64> {
    match value {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => {
            n.as_i64().filter(|v| (low..=high).contains(v))
        }
        _ => None,
    }
}

fn string(value: Option<&Value>) -> Option<&str> {
    value.and_then(Value::as_str)
}

fn vat(country: &str) -> Option<i64> {
    VAT_PERCENT
        .iter()
        .find(|(c, _)| *c == country)
        .map(|(_, v)| *v)
}

fn coupon_percent(code: &str) -> Option<i64> {
    COUPONS.iter().find(|(c, _)| *c == code).map(|(_, v)| *v)
}

/// Every reason the order is invalid, in the Python twin's order (empty: valid).
fn check(order: &Value) -> Vec<String> {
    let Some(order) = order.as_object() else {
        return vec!["order: must be an object".into()];
    };
    let mut errors = Vec::new();
    if !string(order.get("id")).is_some_and(valid_id) {
        errors.push("id: must look like ORD-000123".into());
    }
    match order.get("customer").and_then(Value::as_object) {
        None => errors.push("customer: must be an object".into()),
        Some(customer) => {
            if !string(customer.get("email")).is_some_and(valid_email) {
                errors.push("customer.email: must be an email address".into());
            }
            let name_ok = string(customer.get("name"))
                .map(|n| n.trim_matches(is_blank).chars().count())
                .is_some_and(|len| (1..=100).contains(&len));
            if !name_ok {
                errors.push("customer.name: must be 1 to 100 characters".into());
            }
            if string(customer.get("country")).and_then(vat).is_none() {
                let countries: Vec<&str> = VAT_PERCENT.iter().map(|(c, _)| *c).collect();
                errors.push(format!(
                    "customer.country: must be one of {}",
                    countries.join(", ")
                ));
            }
        }
    }
    if !string(order.get("currency")).is_some_and(|c| CURRENCIES.contains(&c)) {
        errors.push(format!(
            "currency: must be one of {}",
            CURRENCIES.join(", ")
        ));
    }
    match order.get("items").and_then(Value::as_array) {
        Some(items) if (1..=MAX_ITEMS).contains(&items.len()) => {
            for (i, item) in items.iter().enumerate() {
                let Some(item) = item.as_object() else {
                    errors.push(format!("items[{i}]: must be an object"));
                    continue;
                };
                if !string(item.get("sku")).is_some_and(valid_sku) {
                    errors.push(format!("items[{i}].sku: must look like ABC-1234"));
                }
                if integer(item.get("quantity"), 1, 1000).is_none() {
                    errors.push(format!(
                        "items[{i}].quantity: must be an integer from 1 to 1000"
                    ));
                }
                if integer(item.get("unitPrice"), 0, 10_000_000).is_none() {
                    errors.push(format!(
                        "items[{i}].unitPrice: must be an integer from 0 to 10000000 cents"
                    ));
                }
            }
        }
        _ => errors.push(format!("items: must be a list of 1 to {MAX_ITEMS} items")),
    }
    match order.get("coupon") {
        None | Some(Value::Null) => {}
        Some(value) => {
            if value.as_str().and_then(coupon_percent).is_none() {
                errors.push("coupon: unknown".into());
            }
        }
    }
    errors
}

/// A valid order's lines and money, in integer cents.
fn price(order: &Map<String, Value>) -> Value {
    let items = order["items"].as_array().expect("checked");
    let quantity = |item: &Value| item["quantity"].as_i64().expect("checked");
    let subtotal: i64 = items
        .iter()
        .map(|item| quantity(item) * item["unitPrice"].as_i64().expect("checked"))
        .sum();
    let coupon = order.get("coupon").and_then(Value::as_str);
    let discount = coupon
        .and_then(coupon_percent)
        .map_or(0, |p| subtotal * p / 100);
    let net = subtotal - discount;
    let shipping = if coupon == Some("FREESHIP") || net >= FREE_SHIPPING_FROM {
        0
    } else {
        SHIPPING
    };
    let customer = &order["customer"];
    let country = customer["country"].as_str().expect("checked");
    let tax = ((net + shipping) * vat(country).expect("checked") + 50) / 100;
    json!({
        "id": order["id"],
        "email": customer["email"].as_str().expect("checked").to_ascii_lowercase(),
        "name": customer["name"].as_str().expect("checked").trim_matches(is_blank),
        "country": country,
        "currency": order["currency"],
        "lines": items.len(),
        "units": items.iter().map(quantity).sum::<i64>(),
        "subtotal": subtotal,
        "discount": discount,
        "shipping": shipping,
        "tax": tax,
        "total": net + shipping + tax,
    })
}

fn answer(status: u16, body: &Value) -> Vec<u8> {
    json!({
        "statusCode": status,
        "headers": {"content-type": "application/json"},
        "body": body.to_string(),
    })
    .to_string()
    .into_bytes()
}

/// The request body as JSON, or None.
fn document(event: &Value) -> Option<Value> {
    let raw = event.get("body")?.as_str()?;
    if event.get("isBase64Encoded") == Some(&Value::Bool(true)) {
        let bytes = base64::decode(raw).ok()?;
        serde_json::from_str(&String::from_utf8(bytes).ok()?).ok()
    } else {
        serde_json::from_str(raw).ok()
    }
}

fn handle(event: &[u8]) -> Result<Vec<u8>, FunctionError> {
    let event: Value = serde_json::from_slice(event).unwrap_or(Value::Null);
    let document = document(&event);
    let Some(orders) = document
        .as_ref()
        .and_then(|d| d.as_object())
        .and_then(|d| d.get("orders"))
        .and_then(Value::as_array)
    else {
        return Ok(answer(
            400,
            &json!({"message": "the body must be JSON: {\"orders\": [...]}"}),
        ));
    };
    let mut accepted = Vec::new();
    let mut rejected = Vec::new();
    let mut totals = Map::new();
    for (index, order) in orders.iter().enumerate() {
        let errors = check(order);
        if !errors.is_empty() {
            let id = order.get("id").and_then(Value::as_str);
            rejected.push(json!({"index": index, "id": id, "errors": errors}));
            continue;
        }
        let priced = price(order.as_object().expect("checked"));
        let currency = priced["currency"].as_str().expect("checked").to_string();
        let total = priced["total"].as_i64().expect("priced");
        let sum = totals.get(&currency).and_then(Value::as_i64).unwrap_or(0) + total;
        totals.insert(currency, json!(sum));
        accepted.push(priced);
    }
    let summary = json!({
        "orders": orders.len(),
        "accepted": accepted.len(),
        "rejected": rejected.len(),
        "totals": totals,
    });
    let status = if !accepted.is_empty() || rejected.is_empty() {
        200
    } else {
        422
    };
    Ok(answer(
        status,
        &json!({"accepted": accepted, "rejected": rejected, "summary": summary}),
    ))
}

fn main() {
    run(
        || Ok(()),
        |_: &mut (), event: &[u8], _: &Context| handle(event),
    )
}
