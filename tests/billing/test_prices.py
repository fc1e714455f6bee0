"""The price table loads exactly from data and rejects malformed files."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing.prices import Tier, load_prices, parse_prices
from lamina.errors import ConfigError

D = Decimal


def test_packaged_table_has_the_us_east_1_prices() -> None:
    table = load_prices()
    assert table.region == "us-east-1"
    assert table.currency == "USD"
    assert table.source and table.as_of
    assert table.request_price_per_million == D("0.20")
    assert table.request_price == D("0.0000002")
    assert table.tiers("x86_64") == (
        Tier(D("6000000000"), D("0.0000166667")),
        Tier(D("9000000000"), D("0.000015")),
        Tier(None, D("0.0000133334")),
    )
    assert table.tiers("arm64") == (
        Tier(D("7500000000"), D("0.0000133334")),
        Tier(D("11250000000"), D("0.0000120001")),
        Tier(None, D("0.0000106667")),
    )
    assert table.free_tier.requests == 1_000_000
    assert table.free_tier.gb_s == D("400000")
    assert table.ephemeral_included_mb == 512
    assert table.ephemeral_price_per_gb_s == D("0.0000000309")
    assert set(table.architectures) == {"x86_64", "arm64"}


def _packaged_doc() -> dict[str, object]:
    text = (Path(__file__).parents[2] / "lamina" / "billing" / "prices.json").read_text()
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def test_a_table_file_can_be_given_explicitly(tmp_path: Path) -> None:
    doc = _packaged_doc()
    doc["requests"] = {"price_per_million": "0.25"}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(doc))
    assert load_prices(path).request_price == D("0.00000025")


def test_unquoted_numbers_never_pass_through_float(tmp_path: Path) -> None:
    path = tmp_path / "prices.json"
    text = json.dumps(_packaged_doc()).replace('"0.0000166667"', "0.0000166667")
    path.write_text(text)
    assert load_prices(path).tiers("x86_64")[0].price_per_gb_s == D("0.0000166667")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("requests"), "requests"),
        (lambda d: d.update(duration={}), "at least one architecture"),
        (lambda d: d["duration"]["x86_64"][-1].update(size_gb_s="5"), "last tier"),
        (lambda d: d["duration"]["x86_64"][0].update(size_gb_s=None), "only the last"),
        (lambda d: d["duration"]["arm64"][0].update(price_per_gb_s="-1"), "non-negative"),
        (lambda d: d["duration"]["arm64"][0].update(price_per_gb_s="cheap"), "not a decimal"),
        (lambda d: d["free_tier"].update(requests=True), "free_tier.requests"),
        (lambda d: d.update(source=""), "source"),
    ],
)
def test_malformed_tables_are_config_errors(mutate: object, message: str) -> None:
    doc = _packaged_doc()
    assert callable(mutate)
    mutate(doc)
    with pytest.raises(ConfigError, match=message):
        parse_prices(doc)


def test_unreadable_or_invalid_files_are_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_prices(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_prices(broken)
