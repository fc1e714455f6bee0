"""The paired examples (``examples/paired``) and the events they are measured with.

Each workload has a Python and a Rust implementation that give the same answer to the
same event; :data:`PAIRS` says where their zips are and how to deploy them, and the event
builders here make deterministic, realistic events (same seed, same bytes):

* ``thumbnail``: a PNG photo-like image (gradients and grain) to shrink to 128 x 128;
* ``orders``: an HTTP API (payload 2.0) ``POST /orders`` with a batch of orders, a few
  of them invalid on purpose;
* ``loglines``: a CloudWatch Logs subscription event of nginx access-log lines, gzipped.

Only the standard library is used (the PNG is written with zlib), so the events can be
made wherever the tools run.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


def png(width: int, height: int, seed: int = 1) -> bytes:
    """An 8-bit RGB PNG that looks like a photo to a codec: smooth gradients plus grain."""
    rng = random.Random(seed)
    grain = bytes(rng.randrange(0, 24) for _ in range(width * 3 + 97))
    rows = []
    for y in range(height):
        # Per row: a vertical gradient through translate tables (C speed), grain shifted
        # so rows differ, and a horizontal gradient added by the tables' channel offsets.
        shift = (y * 37) % 97
        base = (y * 255) // max(1, height - 1)
        line = bytearray(grain[shift : shift + width * 3])
        table = bytes(((v + base) & 0xFF) for v in range(256))
        line = bytearray(line.translate(table))
        for x in range(0, width * 3, 3):
            line[x] = (line[x] + (x * 255) // (width * 3)) & 0xFF
        rows.append(b"\x00" + bytes(line))
    raw = b"".join(rows)

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def thumbnail_event(width: int = 1024, height: int = 768, seed: int = 1) -> dict[str, Any]:
    return {
        "image": base64.b64encode(png(width, height, seed)).decode("ascii"),
        "maxWidth": 128,
        "maxHeight": 128,
    }


_COUNTRIES = ("DE", "FR", "GB", "NL", "SE", "JP", "US")
_CURRENCIES = ("EUR", "EUR", "GBP", "EUR", "SEK", "JPY", "USD")
_NAMES = (
    "Ada Lovelace",
    "  Grace Hopper ",
    "Barbara Liskov",
    "Édith Piaf",
    "李小龍",
    "Alan Turing",
)


def _order(rng: random.Random, n: int, broken: bool) -> dict[str, Any]:
    country = rng.randrange(len(_COUNTRIES))
    items = [
        {
            "sku": f"{''.join(rng.choice('ABCDEFGHJKLMNPQRSTUVWXYZ') for _ in range(3))}-"
            f"{rng.randrange(10000):04d}",
            "quantity": rng.randrange(1, 12),
            "unitPrice": rng.randrange(99, 25000),
        }
        for _ in range(rng.randrange(1, 8))
    ]
    order: dict[str, Any] = {
        "id": f"ORD-{n:06d}",
        "customer": {
            "email": f"Customer.{n}@Example.COM",
            "name": _NAMES[n % len(_NAMES)],
            "country": _COUNTRIES[country],
        },
        "currency": _CURRENCIES[country],
        "items": items,
    }
    coupon = rng.choice((None, None, None, "SAVE10", "SAVE20", "FREESHIP"))
    if coupon:
        order["coupon"] = coupon
    if broken:
        # One of the mistakes clients make, chosen by the order number.
        kind = n % 5
        if kind == 0:
            order["customer"]["email"] = "not an email"
        elif kind == 1:
            items[0]["quantity"] = 0
        elif kind == 2:
            order["currency"] = "BTC"
            items[-1]["unitPrice"] = 12.5
        elif kind == 3:
            del order["customer"]["country"]
            order["coupon"] = "HALFOFF"
        else:
            order["id"] = f"order-{n}"
            items[0]["sku"] = "abc-12"
    return order


def orders_event(count: int = 500, seed: int = 7, broken_every: int = 9) -> dict[str, Any]:
    """An HTTP API ``POST /orders`` event with ``count`` orders, every n-th one invalid."""
    rng = random.Random(seed)
    orders = [_order(rng, n, n % broken_every == 0) for n in range(1, count + 1)]
    body = json.dumps({"orders": orders}, ensure_ascii=False)
    return {
        "version": "2.0",
        "routeKey": "POST /orders",
        "rawPath": "/orders",
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "host": "api.example.com"},
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "paired",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": "POST",
                "path": "/orders",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "lamina-paired-example",
            },
            "requestId": "paired-orders",
            "routeKey": "POST /orders",
            "stage": "$default",
            "time": "26/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1_795_687_200_000,
        },
        "body": body,
        "isBase64Encoded": False,
    }


_PATHS = ("/", "/api/orders", "/api/orders/{id}", "/api/cart", "/static/app.js",
          "/static/app.css", "/login", "/api/search", "/healthz", "/favicon.ico")  # fmt: skip
_AGENTS = ("Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0", "curl/8.5.0",
           "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/604.1")  # fmt: skip


def access_log_lines(count: int, seed: int = 3) -> list[str]:
    """nginx "combined" lines with the request time appended; ~1 % malformed on purpose."""
    rng = random.Random(seed)
    lines = []
    for i in range(count):
        if i % 97 == 13:
            lines.append(f"malformed line {i} -- upstream timed out")
            continue
        path = rng.choice(_PATHS).replace("{id}", str(rng.randrange(1, 500)))
        if rng.random() < 0.3:
            path += f"?page={rng.randrange(1, 9)}"
        status = rng.choices((200, 201, 204, 301, 304, 400, 401, 404, 500, 502, 503),
                             (60, 5, 3, 3, 8, 3, 2, 8, 3, 2, 3))[0]  # fmt: skip
        size = "-" if status in (204, 304) else str(rng.randrange(120, 90000))
        minute = 10 + (i * 7) // count
        second = (i * 13) % 60
        method = rng.choices(("GET", "POST", "PUT", "DELETE"), (80, 14, 4, 2))[0]
        seconds = rng.expovariate(25)
        lines.append(
            f"198.51.100.{rng.randrange(1, 40)} - - [26/Nov/2026:09:{minute:02d}:{second:02d} "
            f'+0000] "{method} {path} HTTP/1.1" {status} {size} "-" '
            f'"{rng.choice(_AGENTS)}" {seconds:.3f}'
        )
    return lines


def loglines_event(count: int = 20_000, seed: int = 3) -> dict[str, Any]:
    """A CloudWatch Logs subscription event carrying ``count`` access-log lines."""
    document = {
        "messageType": "DATA_MESSAGE",
        "owner": "000000000000",
        "logGroup": "/aws/nginx/access",
        "logStream": "i-0123456789abcdef0",
        "subscriptionFilters": ["access-log-analyser"],
        "logEvents": [
            {"id": f"{i:036d}", "timestamp": 1_795_687_200_000 + i, "message": line}
            for i, line in enumerate(access_log_lines(count, seed))
        ],
    }
    packed = gzip.compress(json.dumps(document).encode(), compresslevel=6, mtime=0)
    return {"awslogs": {"data": base64.b64encode(packed).decode("ascii")}}


@dataclass(frozen=True, slots=True)
class Implementation:
    zip_name: str
    runtime: str
    handler: str


@dataclass(frozen=True, slots=True)
class PairedWorkload:
    key: str
    title: str
    python: Implementation
    rust: Implementation
    event: Callable[[], dict[str, Any]]

    def function_names(self, prefix: str = "paired") -> tuple[str, str]:
        return f"{prefix}-{self.key}-python", f"{prefix}-{self.key}-rust"


def _pair(key: str, title: str, event: Callable[[], dict[str, Any]]) -> PairedWorkload:
    return PairedWorkload(
        key,
        title,
        Implementation(f"paired-{key}-python.zip", "python3.11", "app.handler"),
        Implementation(f"paired-{key}-rust.zip", "provided.al2023", "bootstrap"),
        event,
    )


PAIRS = (
    _pair("thumbnail", "image thumbnailer (Pillow / image crate)", thumbnail_event),
    _pair("orders", "JSON validation/transform API (json / serde_json)", orders_event),
    _pair("loglines", "access-log analyser (re / regex)", loglines_event),
)

BY_KEY = {pair.key: pair for pair in PAIRS}

# Names people give the paired functions: ``orders-py`` / ``orders-rs`` (the README's),
# or the tools' own ``paired-orders-python`` / ``paired-orders-rust``.
_SUFFIXES = {"py": "python", "python": "python", "rs": "rust", "rust": "rust"}


def paired_example(name: str) -> tuple[PairedWorkload, Implementation] | None:
    """The paired example a function name stands for, if it follows one of the patterns."""
    stem, _, suffix = name.removeprefix("paired-").rpartition("-")
    pair = BY_KEY.get(stem)
    language = _SUFFIXES.get(suffix)
    if pair is None or language is None:
        return None
    return pair, pair.python if language == "python" else pair.rust
