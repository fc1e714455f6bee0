"""Percentiles, trimming and the way the tools print numbers."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lamina.tools.formatting import count, money, ms, per_second, plain, ratio
from lamina.tools.stats import Summary, percentile, trim_count, trimmed_indices


def test_nearest_rank_percentiles() -> None:
    values = [float(v) for v in range(1, 11)]  # 1..10
    assert percentile(values, 0.5) == 5.0
    assert percentile(values, 0.9) == 9.0
    assert percentile(values, 0.99) == 10.0
    assert percentile(values, 0.0) == 1.0
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0  # unsorted input


def test_percentile_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        percentile([], 0.5)
    with pytest.raises(ValueError):
        percentile([1.0], 1.5)


def test_trimming_drops_a_fraction_from_each_end_like_power_tuning() -> None:
    values = [50.0, 1.0, 9.0, 2.0, 8.0, 3.0, 7.0, 4.0, 6.0, 5.0]
    kept = trimmed_indices(values, 0.2)  # 2 fastest and 2 slowest of 10 go
    assert sorted(values[i] for i in kept) == [3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    assert kept == sorted(kept)  # original order
    assert trim_count(10, 0.0) == 0
    assert trim_count(4, 0.2) == 0  # floor(0.8): too few to trim
    assert trim_count(3, 0.49) == 1  # never everything: one of three survives
    with pytest.raises(ValueError):
        trim_count(10, 0.5)


def test_summary_of_a_distribution() -> None:
    s = Summary.of([4.0, 1.0, 3.0, 2.0])
    assert (s.count, s.mean, s.p50, s.p90, s.min, s.max) == (4, 2.5, 2.0, 4.0, 1.0, 4.0)
    assert s.as_dict()["p99"] == 4.0


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Decimal("0.000000220833375"), "$0.0000002208"),
        (Decimal("0.220833375"), "$0.2208"),
        (Decimal("3.7558583"), "$3.756"),
        (Decimal("12.3456"), "$12.35"),
        (Decimal("116400.2"), "$116,400.20"),
        (Decimal(0), "$0"),
        (None, "-"),
    ],
)
def test_money_keeps_four_significant_digits(value: Decimal | None, text: str) -> None:
    assert money(value) == text


def test_other_number_formats() -> None:
    assert (ms(1234.5), ms(123.45), ms(1.234), ms(None)) == ("1,234", "123.5", "1.23", "-")
    assert (ratio(4.24), ratio(1234.0), ratio(None)) == ("4.2x", "1,234x", "-")
    assert (count(26_280_000), count(None)) == ("26,280,000", "-")
    assert (per_second(Decimal("68.9239")), per_second(None)) == ("68.92/s", "never")
    assert plain(Decimal("0.00750021500000")) == "0.007500215"
    assert plain(Decimal("4E+1")) == "40"
