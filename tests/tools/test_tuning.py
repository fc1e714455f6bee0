"""Power tuning's pure part: per-size figures and what each strategy recommends."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lamina.billing.prices import load_prices
from lamina.errors import InvalidParameterValue
from lamina.tools.tuner import TunePlan
from lamina.tools.tuning import Sample, SizeResult, Strategy, check_sizes, recommend, summarize

D = Decimal
TABLE = load_prices()


def samples(
    memory_mb: int, latency_ms: float, n: int = 5, init_ms: float | None = None
) -> list[Sample]:
    billed = int(latency_ms) if latency_ms == int(latency_ms) else int(latency_ms) + 1
    return [
        Sample(memory_mb, 0, latency_ms, billed, 30, init_ms, latency_ms + 1.0) for _ in range(n)
    ]


def size(memory_mb: int, latency_ms: float) -> SizeResult:
    return summarize(memory_mb, samples(memory_mb, latency_ms), architecture="x86_64", table=TABLE)


# Three sizes of a CPU-bound function, worked by hand (x86_64, first tier):
#   128 MB, 400 ms: 0.125 GB * 0.4 s = 0.05 GB-s * 0.0000166667 = 0.000000833335
#                   + 0.0000002 request = 0.000001033335 per invoke   <- cheapest
#   512 MB, 120 ms: 0.5 * 0.12 = 0.06 GB-s -> 0.000001000002 + 0.0000002 = 0.000001200002
#  2048 MB,  40 ms: 2 * 0.04 = 0.08 GB-s -> 0.000001333336 + 0.0000002 = 0.000001533336  <- fastest
SIZES = [size(128, 400.0), size(512, 120.0), size(2048, 40.0)]


def test_cost_per_invocation_is_worked_exactly() -> None:
    small, mid, big = SIZES
    assert small.cost_per_invocation == D("0.000001033335")
    assert mid.cost_per_invocation == D("0.000001200002")
    assert big.cost_per_invocation == D("0.000001533336")
    assert small.cost_per_million == D("1.033335")


def test_each_strategy_picks_its_own_winner() -> None:
    assert recommend(SIZES, Strategy.COST) is SIZES[0]
    assert recommend(SIZES, Strategy.SPEED) is SIZES[2]
    # balanced 0.5: 0.5 * cost / max cost + 0.5 * latency / max latency
    #   128: 0.5 * 0.6739 + 0.5 * 1.0 = 0.837;  512: 0.5 * 0.7826 + 0.5 * 0.3 = 0.541
    #  2048: 0.5 * 1.0 + 0.5 * 0.1 = 0.550    -> 512 MB
    assert recommend(SIZES, Strategy.BALANCED, 0.5) is SIZES[1]


def test_balanced_weight_zero_is_speed_and_one_is_cost() -> None:
    assert recommend(SIZES, Strategy.BALANCED, 0.0) is recommend(SIZES, Strategy.SPEED)
    assert recommend(SIZES, Strategy.BALANCED, 1.0) is recommend(SIZES, Strategy.COST)
    with pytest.raises(InvalidParameterValue):
        recommend(SIZES, Strategy.BALANCED, 1.5)


def test_balanced_breaks_an_exact_cost_tie_as_cost_does() -> None:
    # Below one vCPU a CPU-bound function costs exactly the same at every size (4x the
    # memory, a quarter of the billed time): 256 MB x 600 ms = 1024 MB x 150 ms. Cost then
    # prefers the faster size, and balanced with weight 1 must pick the same one.
    slow, fast = size(256, 600.0), size(1024, 150.0)
    assert slow.cost_per_invocation == fast.cost_per_invocation
    assert recommend([slow, fast], Strategy.COST) is fast
    assert recommend([slow, fast], Strategy.BALANCED, 1.0) is fast
    assert recommend([fast, slow], Strategy.BALANCED, 0.0) is fast


def test_ties_go_to_the_smaller_memory_size() -> None:
    a, b = size(1769, 10.0), size(3008, 10.0)
    assert recommend([b, a], Strategy.SPEED) is a


def test_sizes_that_never_answered_are_not_recommended() -> None:
    failed = summarize(128, [], architecture="x86_64", table=TABLE, errors=5,
                       first_error="Runtime.OutOfMemory")  # fmt: skip
    assert not failed.usable and failed.latency is None and failed.cost_per_invocation is None
    assert recommend([failed, SIZES[1]], Strategy.COST) is SIZES[1]
    assert recommend([failed], Strategy.SPEED) is None


def test_trimming_and_cold_start_latency() -> None:
    runs = [
        *samples(512, 100.0, 8),
        Sample(512, 0, 900.0, 900, 30, None, 901.0),
        Sample(512, 0, 1.0, 1, 30, None, 2.0),
    ]
    result = summarize(512, runs, architecture="x86_64", table=TABLE, discard=0.1)
    assert (result.measured, result.kept) == (10, 8)  # the 900 ms and the 1 ms are discarded
    assert result.latency is not None and result.latency.max == 100.0
    cold = summarize(512, samples(512, 10.0, 3, init_ms=90.0), architecture="x86_64", table=TABLE)
    assert cold.latency is not None and cold.latency.p50 == 100.0  # duration + INIT
    assert cold.init is not None and cold.init.p50 == 90.0


def test_arm64_is_priced_at_its_own_tier() -> None:
    # 0.05 GB-s * 0.0000133334 = 0.00000066667 + 0.0000002 = 0.00000086667
    arm = summarize(128, samples(128, 400.0), architecture="arm64", table=TABLE)
    assert arm.cost_per_invocation == D("0.00000086667")


def test_memory_sizes_are_checked_like_lambda() -> None:
    assert check_sizes([1769, 128, 128]) == (128, 1769)
    for bad in ([], [64], [10_241]):
        with pytest.raises(InvalidParameterValue):
            check_sizes(bad)


def test_a_plan_is_checked_when_made() -> None:
    assert TunePlan("fn", sizes=(512, 128, 512)).sizes == (128, 512)
    for bad in ({"invocations": 0}, {"parallel": 0}, {"discard": 0.5}, {"weight": 2.0},
                {"payloads": ()}, {"sleep_ms": -1}, {"sizes": (64,)}):  # fmt: skip
        with pytest.raises(InvalidParameterValue):
            TunePlan("fn", **bad)
