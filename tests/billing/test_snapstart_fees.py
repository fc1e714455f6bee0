"""SnapStart's restore and cache fees, against hand-worked numbers (us-east-1 prices)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from lamina.billing.prices import SnapStartPrices, load_prices, parse_prices
from lamina.billing.snapstart import cache_gb_s, restore_cost, snapstart_bill
from lamina.errors import ConfigError, InvalidParameterValue

D = Decimal
TABLE = load_prices()


def test_the_packaged_table_has_snapstarts_us_east_1_prices() -> None:
    assert TABLE.snapstart == SnapStartPrices(D("0.0001397998"), D("0.0000015046"), 10_800)


@pytest.mark.parametrize(
    ("memory_mb", "restores", "expected"),
    [
        (1024, 1, D("0.0001397998")),  # 1 GB restored once: the unit price
        (512, 1000, D("0.0698999")),  # 0.5 GB * 1,000 * 0.0001397998
        (128, 3, D("0.0000524249250")),  # 0.125 GB * 3 = 0.375 GB * 0.0001397998
        (2048, 0, D("0")),
    ],
)
def test_a_restore_costs_the_functions_memory_in_gb_times_the_restore_price(
    memory_mb: int, restores: int, expected: Decimal
) -> None:
    assert restore_cost(memory_mb, restores, TABLE) == expected


def test_the_cache_is_billed_per_gb_second_with_a_three_hour_minimum() -> None:
    # 1 GB for 1 hour: billed the 3-hour minimum, 10,800 GB-s * 0.0000015046.
    one_hour = snapstart_bill(1024, 0, 3600, TABLE)
    assert one_hour.cache_gb_s == D("10800")
    assert one_hour.cache_cost == D("0.01624968")
    # 2 GB for 30 days: 2 * 2,592,000 = 5,184,000 GB-s * 0.0000015046 = $7.7998464.
    month = snapstart_bill(2048, 0, 30 * 86_400, TABLE)
    assert month.cache_gb_s == D("5184000")
    assert month.cache_cost == D("7.7998464")
    # A version with no snapshot (never lived) costs nothing.
    assert cache_gb_s(1024, 0, TABLE) == 0


def test_a_bill_adds_restores_and_cache() -> None:
    # 128 MB, 1 day, 10,000 restores: cache 0.125 * 86,400 = 10,800 GB-s → 0.01624968;
    # restores 0.125 * 10,000 = 1,250 GB * 0.0001397998 = 0.17474975.
    bill = snapstart_bill(128, 10_000, 86_400, TABLE)
    assert bill.restore_cost == D("0.17474975")
    assert bill.cache_cost == D("0.01624968")
    assert bill.total == D("0.19099943")


def test_negative_usage_is_an_error() -> None:
    with pytest.raises(ValueError):
        restore_cost(128, -1, TABLE)
    with pytest.raises(ValueError):
        cache_gb_s(128, -1, TABLE)


def _doc() -> dict[str, object]:
    text = (Path(__file__).parents[2] / "lamina" / "billing" / "prices.json").read_text()
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


def test_a_table_without_snapstart_loads_but_cannot_price_it() -> None:
    doc = _doc()
    del doc["snapstart"]
    table = parse_prices(doc)
    assert table.snapstart is None
    with pytest.raises(InvalidParameterValue, match="no SnapStart prices"):
        restore_cost(128, 1, table)


def test_a_malformed_snapstart_section_is_a_config_error() -> None:
    doc = _doc()
    doc["snapstart"] = {
        "restore_price_per_gb": "-1",
        "cache_price_per_gb_s": "0",
        "cache_minimum_s": 1,
    }
    with pytest.raises(ConfigError, match=r"snapstart\.restore_price_per_gb"):
        parse_prices(doc)
    doc["snapstart"] = {"restore_price_per_gb": "1", "cache_price_per_gb_s": "0"}
    with pytest.raises(ConfigError, match=r"snapstart\.cache_minimum_s"):
        parse_prices(doc)
