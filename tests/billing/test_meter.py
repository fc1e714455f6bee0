"""The meter against hand-worked examples: every figure below was computed on paper first."""

from __future__ import annotations

import math
import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from lamina.billing.meter import (
    Cost,
    billed_duration_ms,
    gb_seconds,
    invocation_cost,
    monthly_cost,
)
from lamina.billing.prices import PriceTable, load_prices
from lamina.errors import InvalidParameterValue
from lamina.models.invocation import InvocationRecord, Outcome

D = Decimal
TABLE: PriceTable = load_prices()


def make_record(
    memory_mb: int = 128,
    billed_ms: int = 1,
    architecture: str = "x86_64",
    ephemeral_mb: int = 512,
    init_ms: float | None = None,
) -> InvocationRecord:
    return InvocationRecord(
        request_id="req",
        function_name="fn",
        version="$LATEST",
        started_at=1_700_000_000.0,
        duration_ms=float(billed_ms),
        billed_ms=billed_ms,
        memory_mb=memory_mb,
        max_memory_used_mb=30,
        init_ms=init_ms,
        architecture=architecture,
        outcome=Outcome.SUCCESS,
        ephemeral_mb=ephemeral_mb,
    )


# -- billed duration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duration_ms", "init_ms", "billed"),
    [
        (4157.16, None, 4158),  # the REPORT line example: rounded up
        (1.0, None, 1),  # exactly 1 ms stays 1 ms
        (0.0, None, 1),  # nothing still bills the 1 ms minimum
        (0.0, 0.0, 1),
        (0.2, None, 1),
        (1.000001, None, 2),  # one nanosecond over is a real extra millisecond
        (1.0000000000000002, None, 1),  # float noise is not
        (0.1 * 3 * 10, None, 3),  # 3.0000000000000004: naive ceil() would bill 4
        (0.1, 29 * 0.1, 3),  # 0.1 + 2.9000000000000004: noise in the sum, not 4
        (900_000.0, None, 900_000),  # the 15-minute maximum
        (7, None, 7),  # ints are accepted
    ],
)
def test_billed_duration_rounds_up_to_the_next_millisecond(
    duration_ms: float, init_ms: float | None, billed: int
) -> None:
    assert billed_duration_ms(duration_ms, init_ms) == billed


def test_billed_duration_includes_init_on_a_cold_start() -> None:
    # 4157.16 + 841.60 = 4998.76 → 4999 ms (before Aug 2025 Lambda would have billed 4158).
    assert billed_duration_ms(4157.16, 841.60) == 4999
    assert billed_duration_ms(4157.16, None) == 4158


def test_init_and_duration_are_summed_before_rounding() -> None:
    # 0.4 + 0.4 = 0.8 → 1 ms, not ceil(0.4) + ceil(0.4) = 2 ms.
    assert billed_duration_ms(0.4, 0.4) == 1
    assert billed_duration_ms(10.5, 20.5) == 31


@pytest.mark.parametrize("bad", [-0.001, float("nan"), float("inf")])
def test_billed_duration_rejects_impossible_durations(bad: float) -> None:
    with pytest.raises(ValueError):
        billed_duration_ms(bad, None)
    with pytest.raises(ValueError):
        billed_duration_ms(1.0, bad)


def test_the_fast_path_agrees_with_the_rounding_rule_everywhere() -> None:
    """Most durations skip ``round(total, 6)``; the answer must be the rule's all the same,
    near whole milliseconds included."""
    rng = random.Random(17)
    near = [0.0, 1e-7, 5e-7, 5.0001e-7, 1e-6, 1.000001e-6, 0.9999994, 0.9999995, 1.0000015]
    values = [w + f for w in (0, 1, 7, 4999, 10**6) for f in near]
    values += [
        rng.randint(0, 10**6) + rng.random() * rng.choice([1, 1e-5, 2e-6]) for _ in range(20_000)
    ]
    for value in values:
        for init in (None, 0.3, 83.123456789):
            total = value if init is None else value + init
            assert billed_duration_ms(value, init) == max(1, math.ceil(round(total, 6)))


# -- GB-seconds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("memory_mb", "billed_ms", "expected"),
    [
        (512, 900_000, D("450")),  # 0.5 GB * 900 s
        (1024, 1000, D("1")),
        (128, 1, D("0.000125")),  # 0.125 GB * 0.001 s
        (256, 4158, D("1.0395")),
        (10_240, 900_000, D("9000")),  # the largest possible invocation
        (1769, 3, D("0.005182617187500")),  # 1769/1024 * 0.003, exact (1024 = 2**10)
    ],
)
def test_gb_seconds_are_exact(memory_mb: int, billed_ms: int, expected: Decimal) -> None:
    assert gb_seconds(memory_mb, billed_ms) == expected


# -- one invocation --------------------------------------------------------------------------


def test_worked_example_512mb_for_900000ms() -> None:
    cost = invocation_cost(make_record(memory_mb=512, billed_ms=900_000), TABLE)
    assert cost.gb_s == D("450")
    # 450 * 0.0000166667 = 0.007500015 exactly; AWS's page rounds it to $0.0075.
    assert cost.duration_cost == D("0.007500015")
    assert cost.duration_cost.quantize(D("0.0001"), ROUND_HALF_UP) == D("0.0075")
    assert cost.request_cost == D("0.0000002")
    assert cost.ephemeral_cost == 0
    assert cost.total == D("0.007500215")


def test_arm64_is_priced_at_its_own_first_tier() -> None:
    cost = invocation_cost(make_record(memory_mb=1024, billed_ms=1000, architecture="arm64"), TABLE)
    assert cost == Cost(
        gb_s=D("1"),
        ephemeral_gb_s=D("0"),
        request_cost=D("0.0000002"),
        duration_cost=D("0.0000133334"),
        ephemeral_cost=D("0"),
    )
    assert cost.total == D("0.0000135334")


def test_rounded_report_line_example_costs_its_billed_duration() -> None:
    # 256 MB, billed 4158 ms → 1.0395 GB-s * 0.0000166667 = 0.00001732503465.
    cost = invocation_cost(make_record(memory_mb=256, billed_ms=4158), TABLE)
    assert cost.duration_cost == D("0.00001732503465")
    assert cost.total == D("0.00001752503465")


def test_cold_start_cost_includes_init() -> None:
    billed = billed_duration_ms(4157.16, 841.60)  # 4999 ms
    cost = invocation_cost(make_record(memory_mb=256, billed_ms=billed, init_ms=841.60), TABLE)
    # 256/1024 * 4.999 = 1.24975 GB-s * 0.0000166667 = 0.000020829208325.
    assert cost.gb_s == D("1.24975")
    assert cost.duration_cost == D("0.000020829208325")


def test_ephemeral_storage_is_billed_above_512mb_only() -> None:
    # 10,240 MB of /tmp: 9,728 MB (9.5 GB) above the included 512 MB, for 1 s.
    cost = invocation_cost(make_record(memory_mb=128, billed_ms=1000, ephemeral_mb=10_240), TABLE)
    assert cost.ephemeral_gb_s == D("9.5")
    assert cost.ephemeral_cost == D("0.00000029355")  # 9.5 * 0.0000000309
    assert cost.duration_cost == D("0.0000020833375")  # 0.125 * 0.0000166667
    assert cost.total == D("0.0000025768875")
    included = invocation_cost(make_record(memory_mb=128, billed_ms=1000, ephemeral_mb=512), TABLE)
    assert included.ephemeral_cost == 0


def test_smallest_invocation_is_a_millisecond_at_128mb() -> None:
    cost = invocation_cost(make_record(memory_mb=128, billed_ms=1), TABLE)
    assert cost.duration_cost == D("0.0000000020833375")  # 0.000125 * 0.0000166667


def test_unknown_architecture_is_an_error() -> None:
    with pytest.raises(InvalidParameterValue):
        invocation_cost(make_record(architecture="riscv64"), TABLE)


# -- a month ----------------------------------------------------------------------------------


def test_month_within_the_first_tier_without_free_tier() -> None:
    bill = monthly_cost(D("450"), 1, "x86_64", TABLE, free_tier=False)
    assert bill.duration_cost == D("0.007500015")
    assert bill.request_cost == D("0.0000002")
    assert bill.total == D("0.007500215")


def test_month_crossing_into_the_second_x86_tier() -> None:
    # 6e9 * 0.0000166667 = 100,000.2 and 1e9 * 0.000015 = 15,000.
    bill = monthly_cost(D("7000000000"), 0, "x86_64", TABLE, free_tier=False)
    assert [(t.gb_s, t.price_per_gb_s, t.cost) for t in bill.tiers] == [
        (D("6000000000"), D("0.0000166667"), D("100000.2")),
        (D("1000000000"), D("0.000015"), D("15000")),
    ]
    assert bill.duration_cost == D("115000.2")


def test_month_beyond_the_last_x86_tier() -> None:
    # 100,000.2 + 9e9 * 0.000015 (135,000) + 5e9 * 0.0000133334 (66,667).
    bill = monthly_cost(D("20000000000"), 0, "x86_64", TABLE, free_tier=False)
    assert [t.cost for t in bill.tiers] == [D("100000.2"), D("135000"), D("66667")]
    assert bill.duration_cost == D("301667.2")


def test_month_crossing_arm64_tiers() -> None:
    # 7.5e9 * 0.0000133334 = 100,000.5 and 2.5e9 * 0.0000120001 = 30,000.25.
    bill = monthly_cost(D("10000000000"), 0, "arm64", TABLE, free_tier=False)
    assert [t.cost for t in bill.tiers] == [D("100000.5"), D("30000.25")]
    assert bill.duration_cost == D("130000.75")


def test_free_tier_3_million_requests_at_512mb_for_1s() -> None:
    # 3M * 0.5 GB-s = 1.5M GB-s; 400k free → 1.1M * 0.0000166667 = 18.33337.
    # 3M requests, 1M free → 2M * 0.0000002 = 0.40.
    bill = monthly_cost(D("1500000"), 3_000_000, "x86_64", TABLE, free_tier=True)
    assert bill.free_requests == 1_000_000
    assert bill.free_gb_s == D("400000")
    assert bill.request_cost == D("0.40")
    assert bill.duration_cost == D("18.33337")
    assert bill.total == D("18.73337")


def test_usage_inside_the_free_tier_costs_nothing() -> None:
    bill = monthly_cost(D("100000"), 500_000, "arm64", TABLE, free_tier=True)
    assert bill.total == 0
    assert bill.tiers == ()
    assert bill.free_requests == 500_000
    assert bill.free_gb_s == D("100000")


def test_free_gb_s_count_toward_the_tier_threshold() -> None:
    # 6,000,400,000 GB-s: the free 400k are the month's first, so tier 1 charges
    # 5,999,600,000 * 0.0000166667 = 99,993.53332 and tier 2 the 400k past 6e9 (= 6).
    bill = monthly_cost(D("6000400000"), 0, "x86_64", TABLE, free_tier=True)
    assert [(t.gb_s, t.cost) for t in bill.tiers] == [
        (D("5999600000"), D("99993.53332")),
        (D("400000"), D("6")),
    ]
    assert bill.duration_cost == D("99999.53332")


def test_month_ephemeral_storage_has_no_free_tier() -> None:
    bill = monthly_cost(D("0"), 0, "x86_64", TABLE, free_tier=True, ephemeral_gb_s=D("1000000"))
    assert bill.ephemeral_cost == D("0.0309")
    assert bill.total == D("0.0309")


def test_month_rejects_negative_usage() -> None:
    with pytest.raises(ValueError):
        monthly_cost(D("-1"), 0, "x86_64", TABLE, free_tier=False)
    with pytest.raises(ValueError):
        monthly_cost(D("1"), -1, "x86_64", TABLE, free_tier=False)


def test_per_invocation_costs_sum_to_the_month_within_tier_one() -> None:
    records = [make_record(memory_mb=m, billed_ms=b) for m, b in [(128, 7), (512, 900), (3008, 2)]]
    per_call = sum((invocation_cost(r, TABLE).total for r in records), D(0))
    gb_s = sum((gb_seconds(r.memory_mb, r.billed_ms) for r in records), D(0))
    assert monthly_cost(gb_s, len(records), "x86_64", TABLE, free_tier=False).total == per_call
