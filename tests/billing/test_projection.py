"""Projections and break-even rates against hand-worked examples.

Every figure was worked on paper first; the working is in the comment beside it.
A month is 730 hours = 2,628,000 s.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from lamina.billing.meter import billed_duration_ms
from lamina.billing.prices import load_prices
from lamina.billing.projection import (
    SECONDS_PER_MONTH,
    Workload,
    break_even,
    parse_rate,
    parse_server_price,
    per_million,
    project,
)
from lamina.errors import InvalidParameterValue

D = Decimal
TABLE = load_prices()


# -- rates and prices, as people write them ----------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_month"),
    [
        ("10/s", 26_280_000),  # 10 * 2,628,000
        ("600/min", 26_280_000),  # 600 * 43,800 minutes
        ("600 per minute", 26_280_000),
        ("36000 requests/hour", 26_280_000),  # 36,000 * 730
        ("2.5M/month", 2_500_000),
        ("1,000,000/month", 1_000_000),
        ("1k/day", 30_417),  # 1,000 * 30.41666… days, to the nearest request
        ("50rps", 131_400_000),
        ("0.5/s", 1_314_000),
        ("12M/year", 1_000_000),  # a year is 12 months of 730 h
    ],
)
def test_rates_in_the_forms_people_write(text: str, per_month: int) -> None:
    assert parse_rate(text).per_month == per_month


def test_a_rate_converts_back_to_requests_per_second() -> None:
    assert parse_rate("26.28M/month").per_second == D(10)
    assert SECONDS_PER_MONTH == 2_628_000


@pytest.mark.parametrize("bad", ["", "fast", "10", "10/m", "10/fortnight", "-3/s", "1e999999/s"])
def test_unreadable_rates_are_parameter_errors(bad: str) -> None:
    with pytest.raises(InvalidParameterValue):
        parse_rate(bad)


@pytest.mark.parametrize(
    ("text", "per_month"),
    [
        ("40$/month", D(40)),
        ("$40/mo", D(40)),
        ("40 USD per month", D(40)),
        ("40", D(40)),  # a bare amount is per month
        ("0.0464$/hour", D("33.872")),  # 0.0464 * 730 h
        ("480$/year", D(40)),
        ("1.5$/day", D("45.625")),  # 1.5 * 30.41666… days = 1.5 * 730 / 24
    ],
)
def test_server_prices_are_normalised_to_a_month(text: str, per_month: Decimal) -> None:
    assert parse_server_price(text).per_month == per_month


def test_unreadable_server_prices_are_parameter_errors() -> None:
    for bad in ("cheap", "$40/parsec", "forty/month"):
        with pytest.raises(InvalidParameterValue):
            parse_server_price(bad)


# -- workloads -----------------------------------------------------------------------------


def test_lambda_md_worked_example_512mb_for_900000ms() -> None:
    # 512 MB for 900,000 ms = 0.5 GB * 900 s = 450 GB-s; 450 * 0.0000166667 = 0.007500015
    # (AWS rounds it to $0.0075), plus the $0.0000002 request fee.
    workload = Workload.from_samples(512, [900_000], "x86_64")
    assert workload.mean_gb_s == D(450)
    assert workload.cost_per_invocation(TABLE) == D("0.007500215")
    month = project(workload, 1, TABLE)
    assert month.gb_s == D(450)
    assert month.bill.duration_cost == D("0.007500015")
    assert month.bill.request_cost == D("0.0000002")
    assert month.total == D("0.007500215")


def test_cost_per_million_at_128mb_and_10ms() -> None:
    # 0.125 GB * 0.010 s = 0.00125 GB-s * 0.0000166667 = 0.000000020833375 per request;
    # + 0.0000002 request fee = 0.000000220833375; * 1e6 = 0.220833375
    workload = Workload.from_samples(128, [10] * 10, "x86_64")
    assert workload.cost_per_million(TABLE) == D("0.220833375")
    # arm64: 0.00125 * 0.0000133334 = 0.00000001666675; + 0.0000002; * 1e6 = 0.21666675
    assert workload.cost_per_million(TABLE, "arm64") == D("0.21666675")


def test_projection_at_ten_requests_a_second() -> None:
    # 10/s = 26,280,000 requests a month; * 0.00125 GB-s = 32,850 GB-s.
    # Duration: 32,850 * 0.0000166667 = 0.547501095; requests: 26.28M * 0.0000002 = 5.256.
    workload = Workload.from_samples(128, [10] * 4, "x86_64")
    month = project(workload, parse_rate("10/s").per_month, TABLE)
    assert month.requests == 26_280_000
    assert month.gb_s == D(32_850)
    assert month.bill.duration_cost == D("0.547501095")
    assert month.bill.request_cost == D("5.256")
    assert month.total == D("5.803501095")
    assert per_million(month.total, month.requests) == D("0.220833375")


def test_projection_with_the_free_tier() -> None:
    # Same month: 32,850 GB-s is inside the 400,000 free GB-s, so duration is free;
    # the first million requests are free: 25,280,000 * 0.0000002 = 5.056.
    workload = Workload.from_samples(128, [10], "x86_64")
    month = project(workload, 26_280_000, TABLE, free_tier=True)
    assert month.bill.free_gb_s == D(32_850)
    assert month.bill.free_requests == 1_000_000
    assert month.bill.duration_cost == 0
    assert month.total == D("5.056")


def test_projection_repriced_for_arm64() -> None:
    # 32,850 GB-s * 0.0000133334 = 0.43800219; + 5.256 = 5.69400219
    workload = Workload.from_samples(128, [10], "x86_64")
    month = project(workload, 26_280_000, TABLE, architecture="arm64")
    assert month.bill.architecture == "arm64"
    assert month.total == D("5.69400219")


def test_projection_crosses_the_duration_tiers() -> None:
    # 1 GB for 1 s per request, 7 billion requests: 7e9 GB-s.
    # 6e9 * 0.0000166667 = 100,000.2; 1e9 * 0.000015 = 15,000; requests 7e9 * 2e-7 = 1,400.
    workload = Workload.from_samples(1024, [1000], "x86_64")
    month = project(workload, 7_000_000_000, TABLE)
    assert [t.gb_s for t in month.bill.tiers] == [D(6_000_000_000), D(1_000_000_000)]
    assert month.bill.duration_cost == D("115000.2")
    assert month.total == D("116400.2")


def test_init_is_billed_in_the_measured_distribution() -> None:
    # hello-rust at 128 MB: one cold start (Init 7.22 + Duration 0.09 → billed 8 ms), three
    # warm ones of 0.12 ms (billed 1 ms each): 128 * 11 = 1,408 MB-ms over 4 requests.
    # Mean GB-s = 1,408 / 4 / 1,024,000 = 0.00034375. At 1M requests a month: 343.75 GB-s *
    # 0.0000166667 = 0.005729178125, + 1M * 0.0000002 = 0.2 → 0.205729178125.
    billed = [billed_duration_ms(0.09, 7.22)] + [billed_duration_ms(0.12, None)] * 3
    assert billed == [8, 1, 1, 1]
    workload = Workload.from_samples(128, billed, "x86_64")
    assert workload.mean_gb_s == D("0.00034375")
    assert workload.billed_percentile(0.5) == 1
    assert workload.billed_percentile(0.9) == 8
    assert workload.mean_billed_ms == D("2.75")
    assert project(workload, 1_000_000, TABLE).total == D("0.205729178125")


def test_ephemeral_storage_scales_with_the_projection() -> None:
    # 128 MB for 1,000 ms with 10,240 MB of /tmp: 9.5 GB * 1 s = 9.5 ephemeral GB-s per
    # request * 0.0000000309 = 0.00000029355; 1,000 requests → 0.00029355.
    workload = Workload.from_samples(128, [1000], "x86_64", ephemeral_mb=10_240, table=TABLE)
    month = project(workload, 1000, TABLE)
    assert month.bill.ephemeral_cost == D("0.00029355")


# -- break-even against a flat-priced server -------------------------------------------------


def test_break_even_against_a_40_dollar_server() -> None:
    # $0.000000220833375 a request: 40 / 0.000000220833375 = 181,132,041.5… → the bill
    # reaches $40 at 181,132,042 requests a month (68.92 requests a second).
    workload = Workload.from_samples(128, [10], "x86_64")
    server = parse_server_price("40$/month")
    result = break_even(workload, server, TABLE)
    assert result.requests_per_month == 181_132_042
    assert project(workload, 181_132_042, TABLE).total >= 40
    assert project(workload, 181_132_041, TABLE).total < 40
    assert result.per_second is not None
    assert round(result.per_second, 2) == D("68.92")


def test_break_even_with_the_free_tier() -> None:
    # 201M requests use 251,250 GB-s: all inside the free 400,000, so only requests cost:
    # (R - 1,000,000) * 0.0000002 = 40 → R = 201,000,000 exactly.
    workload = Workload.from_samples(128, [10], "x86_64")
    result = break_even(workload, parse_server_price("40"), TABLE, free_tier=True)
    assert result.requests_per_month == 201_000_000


def test_a_server_too_expensive_to_ever_break_even() -> None:
    workload = Workload.from_samples(128, [1], "x86_64")
    result = break_even(workload, parse_server_price("1000000000000$/month"), TABLE)
    assert result.requests_per_month is None
    assert result.per_second is None


def test_a_free_server_breaks_even_at_zero() -> None:
    workload = Workload.from_samples(128, [1], "x86_64")
    assert break_even(workload, parse_server_price("0"), TABLE).requests_per_month == 0


def test_a_workload_needs_invocations() -> None:
    with pytest.raises(InvalidParameterValue):
        Workload.from_samples(128, [], "x86_64")
