"""The paired examples give the same answers in Python and in Rust, run on Lamina.

Every event goes to both implementations (deployed from ``build/examples``); the answers
must be equal as JSON, and errors must have the same type and message. The events cover
the happy path and the ways clients get things wrong.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lamina.client.http import Client
from lamina.client.lambda_api import LambdaClient, payload_bytes
from lamina.tools.workloads import PAIRS, loglines_event, orders_event, png
from tests.integration.harness import LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

BY_KEY = {p.key: p for p in PAIRS}


@pytest.fixture(scope="module")
def deployed(
    tools_server: LaminaProcess, paired_zips: Path
) -> Iterator[dict[str, tuple[str, str]]]:
    api = LambdaClient(Client(tools_server.endpoint, timeout=120))
    names: dict[str, tuple[str, str]] = {}
    for pair in PAIRS:
        pair_names = pair.function_names("same")
        for impl, name in zip((pair.python, pair.rust), pair_names, strict=True):
            zip_path = paired_zips / impl.zip_name
            if api.exists(name):
                api.delete_function(name)
            api.create_function(name, zip_path.read_bytes(), impl.runtime, impl.handler, 1024,
                                timeout_s=30)  # fmt: skip
        names[pair.key] = pair_names
    yield names


def both(api: LambdaClient, names: tuple[str, str], event: object) -> tuple[Any, Any]:
    """Invoke both implementations; answers (or errors) as comparable JSON values."""
    out = []
    for name in names:
        outcome = api.invoke(name, payload_bytes(event))
        assert outcome.status == 200 and outcome.report is not None, outcome
        body = json.loads(outcome.payload)
        if outcome.function_error:
            # Python adds a stack trace; the type and the message are the contract.
            body = {"error": body["errorType"], "message": body["errorMessage"]}
        out.append(body)
    return out[0], out[1]


def png_of(image: Image.Image, **options: Any) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "PNG", **options)
    return base64.b64encode(buffer.getvalue()).decode()


def test_pairs_are_listed_with_their_zips() -> None:
    assert [p.key for p in PAIRS] == ["thumbnail", "orders", "loglines"]
    for pair in PAIRS:
        assert pair.python.runtime == "python3.11" and pair.rust.handler == "bootstrap"


# -- thumbnail ------------------------------------------------------------------------------


def _images() -> Iterator[tuple[str, str, dict[str, int]]]:
    gradient = Image.frombytes("RGB", (301, 203), png_pixels(301, 203))
    yield "rgb-odd-size", png_of(gradient), {}
    yield "rgba", png_of(gradient.convert("RGBA")), {"maxWidth": 64, "maxHeight": 64}
    yield "grey", png_of(gradient.convert("L")), {}
    yield "grey-alpha", png_of(gradient.convert("LA")), {}
    palette = gradient.convert("P", palette=Image.Palette.ADAPTIVE, colors=200)
    yield "palette", png_of(palette, transparency=3), {}
    yield "two-colour", png_of(gradient.convert("1").convert("P"), bits=1), {"maxWidth": 40}
    yield "optimised", png_of(gradient, optimize=True), {"maxHeight": 32}
    yield "smaller-than-the-box", png_of(gradient.resize((50, 30))), {}
    yield "tall-and-thin", png_of(gradient.resize((40, 300))), {"maxHeight": 64}


def png_pixels(width: int, height: int) -> bytes:
    with Image.open(io.BytesIO(png(width, height, seed=5))) as image:
        return image.tobytes()


@pytest.mark.parametrize(("label", "image", "box"), list(_images()), ids=[i[0] for i in _images()])
def test_thumbnails_are_identical(
    api: LambdaClient,
    deployed: dict[str, tuple[str, str]],
    label: str,
    image: str,
    box: dict[str, int],
) -> None:
    python, rust = both(api, deployed["thumbnail"], {"image": image, **box})
    assert python == rust
    assert "error" not in python, python
    assert len(python["thumbnail"]["sha256"]) == 64


def test_the_default_thumbnail_event(
    api: LambdaClient, deployed: dict[str, tuple[str, str]]
) -> None:
    python, rust = both(api, deployed["thumbnail"], BY_KEY["thumbnail"].event())
    assert python == rust
    assert python["thumbnail"]["width"] == 128 and python["thumbnail"]["factor"] == 8


def _bad_thumbnail_events() -> Iterator[tuple[str, object]]:
    ok = png_of(Image.new("RGB", (20, 20), (10, 20, 30)))
    yield "no image", {}
    yield "not base64", {"image": "!!!"}
    yield "not a png", {"image": base64.b64encode(b"GIF89a" + bytes(40)).decode()}
    deep = Image.new("I;16", (10, 10))
    yield "16-bit", {"image": png_of(deep)}
    yield "box too big", {"image": ok, "maxWidth": 5000}
    yield "box not an integer", {"image": ok, "maxHeight": 12.5}
    yield "box a boolean", {"image": ok, "maxHeight": True}
    truncated = base64.b64decode(ok)[:60]
    yield "truncated", {"image": base64.b64encode(truncated).decode()}
    yield "not an object", [1, 2]
    sliver = png_of(Image.new("RGB", (3, 300)))
    yield "too thin for the box", {"image": sliver, "maxWidth": 128, "maxHeight": 16}


@pytest.mark.parametrize(
    ("label", "event"), list(_bad_thumbnail_events()), ids=[e[0] for e in _bad_thumbnail_events()]
)
def test_thumbnail_errors_are_identical(
    api: LambdaClient, deployed: dict[str, tuple[str, str]], label: str, event: object
) -> None:
    python, rust = both(api, deployed["thumbnail"], event)
    assert python == rust
    assert python["error"] == "ThumbnailError"


# -- orders ------------------------------------------------------------------------------


def _order_events() -> Iterator[tuple[str, dict[str, Any]]]:
    base = orders_event(count=200, seed=11)
    yield "a batch with some invalid", base
    as_base64 = copy.deepcopy(base)
    as_base64["body"] = base64.b64encode(base["body"].encode()).decode()
    as_base64["isBase64Encoded"] = True
    yield "base64 body", as_base64
    orders = json.loads(base["body"])["orders"]
    weird: list[Any] = [
        None, 7, "ORD-1", {}, {"id": "ORD-000001", "customer": [], "items": "many"},
        {"id": "ORD-000002", "customer": {"email": "a@b.c", "name": " \t ", "country": ["DE"]},
         "currency": {"EUR": 1}, "items": [{"sku": "ABC-1234", "quantity": True,
                                             "unitPrice": 10**30}, "item"],
         "coupon": 10},
        {**orders[1], "coupon": None},
        {**orders[2], "items": [{"sku": "ÅBC-1234", "quantity": 1, "unitPrice": 1}]},
        {**orders[3], "customer": {**orders[3]["customer"], "email": "é@example.com"}},
    ]  # fmt: skip
    yield "every kind of wrong", {**base, "body": json.dumps({"orders": weird})}
    yield "all rejected", {**base, "body": json.dumps({"orders": weird[:4]})}
    yield "no orders", {**base, "body": '{"orders": []}'}
    yield "not json", {**base, "body": "{'orders': []}"}
    yield "nan", {**base, "body": '{"orders": [NaN]}'}
    yield "no body", {"version": "2.0"}


@pytest.mark.parametrize(
    ("label", "event"), list(_order_events()), ids=[e[0] for e in _order_events()]
)
def test_order_answers_are_identical_to_the_byte(
    api: LambdaClient, deployed: dict[str, tuple[str, str]], label: str, event: dict[str, Any]
) -> None:
    python, rust = both(api, deployed["orders"], event)
    assert python == rust
    assert python["body"] == rust["body"]  # the body text itself, not just its meaning


def test_order_prices_are_right(api: LambdaClient, deployed: dict[str, tuple[str, str]]) -> None:
    order = {"id": "ORD-000042", "customer": {"email": "Ada@Example.com", "name": " Ada ",
             "country": "DE"}, "currency": "EUR", "coupon": "SAVE10",
             "items": [{"sku": "ABC-1234", "quantity": 3, "unitPrice": 1999}]}  # fmt: skip
    event = {**orders_event(count=1), "body": json.dumps({"orders": [order]})}
    python, _ = both(api, deployed["orders"], event)
    (priced,) = json.loads(python["body"])["accepted"]
    # 3 * 19.99 = 59.97; 10 % off = 5.997 -> 5.99 (floor); 53.98 >= 50: free shipping;
    # VAT 19 % of 53.98 = 10.2562 -> 10.26; total 64.24.
    assert (priced["subtotal"], priced["discount"], priced["shipping"]) == (5997, 599, 0)
    assert (priced["tax"], priced["total"]) == (1026, 6424)
    assert (priced["email"], priced["name"]) == ("ada@example.com", "Ada")


# -- loglines ------------------------------------------------------------------------------


def _cloudwatch(messages: list[Any]) -> dict[str, Any]:
    document = {"logEvents": [{"id": str(i), "timestamp": i, "message": m}
                              for i, m in enumerate(messages)]}  # fmt: skip
    data = gzip.compress(json.dumps(document).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode()}}


def _log_events() -> Iterator[tuple[str, object]]:
    yield "twenty thousand lines", loglines_event()
    line = '10.0.0.1 - - [26/Nov/2026:10:00:01 +0000] "GET /a?b=1 HTTP/1.1" 200 12 "-" "ua" 0.5'
    yield "odd lines", _cloudwatch([
        line, line + "\n", line.replace("0.5", "12.3456789"), line.replace(" 0.5", ""),
        line.replace("GET", "get"), line.replace("/a?b=1", "/ä?q=ü"), 42, None, "",
        line.replace("200 12", "503 -"), line.replace("10.0.0.1", "10.0.0.1\u00a0x"),
    ])  # fmt: skip
    yield "no events", _cloudwatch([])
    yield "no awslogs", {"records": []}
    yield "not gzip", {"awslogs": {"data": base64.b64encode(b"plain text").decode()}}
    yield "no message", {"awslogs": {"data": base64.b64encode(
        gzip.compress(b'{"logEvents": [{"id": "1"}]}')).decode()}}  # fmt: skip


@pytest.mark.parametrize(("label", "event"), list(_log_events()), ids=[e[0] for e in _log_events()])
def test_log_analyses_are_identical(
    api: LambdaClient, deployed: dict[str, tuple[str, str]], label: str, event: object
) -> None:
    python, rust = both(api, deployed["loglines"], event)
    assert python == rust


def test_the_log_analysis_counts_right(
    api: LambdaClient, deployed: dict[str, tuple[str, str]]
) -> None:
    lines = [
        f'10.0.0.{i % 3} - - [26/Nov/2026:10:0{i % 2}:00 +0000] "GET /p{i % 2} HTTP/1.1" '
        f'{500 if i == 4 else 200} 100 "-" "ua" 0.0{i}'
        for i in range(5)
    ] + ["garbage"]
    python, _ = both(api, deployed["loglines"], _cloudwatch(lines))
    assert (python["lines"], python["parsed"], python["unparsed"], python["bytes"]) == (
        6,
        5,
        1,
        500,
    )
    assert python["statusClasses"] == {"2xx": 4, "5xx": 1}
    assert python["latencyMs"] == {"count": 5, "p50": 20, "p95": 40, "p99": 40, "max": 40}
    assert python["busiestMinute"] == {"minute": "26/Nov/2026:10:00", "requests": 3}
    assert python["topPaths"][0] == {"path": "/p0", "requests": 3, "serverErrors": 1, "bytes": 300}
    assert python["topClients"] == [["10.0.0.0", 2], ["10.0.0.1", 2], ["10.0.0.2", 1]]
