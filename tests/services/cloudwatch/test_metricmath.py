"""Metric math (pure): the parser, the evaluator's rules and its bounds on hostile input."""

from __future__ import annotations

import inspect
import math
import sys

import pytest

from lamina.errors import AwsServiceError
from lamina.services.cloudwatch.metricmath import (
    ARITHMETIC_DROPPED,
    MAX_DEPTH,
    MAX_EXPRESSION,
    MAX_WORK,
    Bin,
    Budget,
    Context,
    Num,
    Ref,
    Series,
    Value,
    evaluate,
    order,
    parse,
    results,
)

GRID = [0, 60, 120, 180, 240]


def series(label: str, **points: float) -> Series:
    """``series("m", t0=1, t120=3)``: points at 0 s and 120 s."""
    return Series(label, {int(k[1:]): v for k, v in points.items()}, 60)


ERRORS = series("Errors", t0=1, t60=0, t120=3, t180=2)
INVOCATIONS = series("Invocations", t0=10, t60=5, t120=0, t180=4, t240=8)


def run(expression: str, **extra: Value) -> tuple[Value, Context]:
    values: dict[str, Value] = {"errors": ERRORS, "invocations": INVOCATIONS, **extra}
    ctx = Context(GRID, 60, values, ["errors", "invocations"])
    return evaluate(parse(expression), ctx, "e1"), ctx


def points(value: Value) -> dict[int, float]:
    assert isinstance(value, Series)
    return value.points


def test_precedence_and_associativity() -> None:
    assert run("1 + 2 * 3")[0] == 7.0
    assert run("(1 + 2) * 3")[0] == 9.0
    assert run("2 ^ 3 ^ 2")[0] == 512.0  # right associative
    assert run("-2 ^ 2")[0] == -4.0  # ^ binds tighter than unary minus
    assert run("10 - 4 - 3")[0] == 3.0  # left associative
    assert run("1 < 2 AND 3 > 4 OR 1 == 1")[0] == 1.0
    assert parse("a*b") == Bin("*", Ref("a"), Ref("b"))
    assert parse("1.5e2") == Num(150.0)


def test_error_rate_keeps_the_timestamps_both_series_have_and_drops_division_by_zero() -> None:
    value, ctx = run("errors / invocations * 100")
    # 240: no Errors datapoint; 120: 3 / 0 is dropped, with CloudWatch's message.
    assert points(value) == {0: 10.0, 60: 0.0, 180: 50.0}
    assert ctx.messages == {ARITHMETIC_DROPPED}
    assert isinstance(value, Series) and value.label == "e1"


def test_fill_with_a_value_repeat_and_linear() -> None:
    gappy = series("g", t60=2, t180=6)
    assert points(run("FILL(g, 0)", g=gappy)[0]) == {0: 0, 60: 2, 120: 0, 180: 6, 240: 0}
    assert points(run("FILL(g, REPEAT)", g=gappy)[0]) == {0: 2, 60: 2, 120: 2, 180: 6, 240: 6}
    # LINEAR fills between known points only.
    assert points(run("FILL(g, LINEAR)", g=gappy)[0]) == {60: 2, 120: 4, 180: 6}
    # The error rate with the missing Errors as zero.
    filled, _ = run("FILL(errors, 0) / invocations")
    assert points(filled)[240] == 0.0


def test_reductions_of_a_series_are_scalars_of_an_array_series() -> None:
    assert run("SUM(errors)")[0] == 6.0
    assert run("AVG(invocations)")[0] == 27 / 5
    assert run("MIN(errors)")[0] == 0.0 and run("MAX(invocations)")[0] == 10.0
    summed = run("SUM([errors, invocations])")[0]
    assert points(summed) == {0: 11, 60: 5, 120: 3, 180: 6, 240: 8}
    assert points(run("MAX(METRICS())")[0]) == {0: 10, 60: 5, 120: 3, 180: 4, 240: 8}
    only = run("METRICS('err')")[0]
    assert isinstance(only, list) and [s.label for s in only] == ["Errors"]


def test_elementwise_functions_and_arrays() -> None:
    assert points(run("ABS(errors - 2)")[0]) == {0: 1, 60: 2, 120: 1, 180: 0}
    assert points(run("CEIL(errors / 4)")[0]) == {0: 1, 60: 0, 120: 1, 180: 1}
    assert points(run("FLOOR(invocations / 4)")[0])[240] == 2.0
    doubled = run("METRICS() * 2")[0]
    assert isinstance(doubled, list) and [s.label for s in doubled] == ["Errors", "Invocations"]
    assert doubled[0].points[120] == 6.0


def test_if_rate_diff_running_sum_period_time_series() -> None:
    assert points(run("IF(errors > 1, 1, 0)")[0]) == {0: 0, 60: 0, 120: 1, 180: 1}
    assert points(run("IF(errors > 1, errors)")[0]) == {120: 3, 180: 2}
    assert points(run("DIFF(invocations)")[0]) == {60: -5, 120: -5, 180: 4, 240: 4}
    assert points(run("RATE(invocations)")[0])[180] == pytest.approx(4 / 60)
    assert points(run("RUNNING_SUM(errors)")[0]) == {0: 1, 60: 1, 120: 4, 180: 6}
    assert run("PERIOD(errors)")[0] == 60.0
    assert points(run("TIME_SERIES(7)")[0]) == dict.fromkeys(GRID, 7.0)


def test_a_scalar_result_is_given_at_every_period() -> None:
    value, ctx = run("SUM(errors) / 2")
    [out] = results(value, ctx, "e1")
    assert out.points == dict.fromkeys(GRID, 3.0)


def test_order_follows_references_and_refuses_cycles_and_unknown_ids() -> None:
    exprs = {"e3": parse("e2 * 2"), "e2": parse("e1 + m1"), "e1": parse("m1 / 2")}
    assert order(exprs, {"m1"}) == ["e1", "e2", "e3"]
    with pytest.raises(AwsServiceError, match="Circular"):
        order({"a": parse("b + 1"), "b": parse("a + 1")}, set())
    with pytest.raises(AwsServiceError, match="Circular"):
        order({"a": parse("a + 1")}, set())
    with pytest.raises(AwsServiceError, match="Unrecognized identifier nope"):
        order({"a": parse("nope + 1")}, {"m1"})
    # A long chain is ordered without recursion.
    chain = {f"e{i}": parse(f"e{i - 1} + 1") for i in range(1, 500)}
    assert order(chain, {"e0"})[-1] == "e499"


@pytest.mark.parametrize(
    "expression",
    [
        "",
        "   ",
        "1 +",
        "(1",
        "1)",
        "errors $ 2",
        "SUM(",
        "SUM(errors,)",
        "[errors",
        "1 2",
        "FOO(errors)",
        "SUM(errors, invocations)",
        "METRICS(errors)",
        "'text'",
        "TIME_SERIES(errors)",
        "RATE(5)",
        "METRICS() + METRICS()",
        "IF(METRICS(), 1, 0)",
    ],
)
def test_bad_expressions_are_validation_errors(expression: str) -> None:
    with pytest.raises(AwsServiceError) as info:
        run(expression)
    assert info.value.code == "ValidationError" and info.value.status == 400


@pytest.mark.parametrize(
    "expression",
    [
        "(" * 600 + "1" + ")" * 600,  # deep parentheses
        "ABS(" * 300 + "1" + ")" * 300,  # deep calls
        "[" * 500 + "1" + "]" * 500,  # deep arrays
        "-(" * 400 + "1" + ")" * 400,
    ],
)
def test_hostile_nesting_is_refused_without_blowing_the_stack(expression: str) -> None:
    with pytest.raises(AwsServiceError, match="nested") as info:
        parse(expression[:MAX_EXPRESSION])
    assert info.value.code == "ValidationError"


def test_long_flat_and_sign_chains_parse_without_recursion() -> None:
    flat = "+".join(["1"] * 500)  # 999 characters
    assert run(flat)[0] == 500.0
    assert run("-" * 1001 + "1")[0] == -1.0
    assert run("^".join(["1"] * 500))[0] == 1.0
    nested = "(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH
    with pytest.raises(AwsServiceError, match="nested"):
        parse(nested)
    ok = "(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1)
    assert run(ok)[0] == 1.0


def test_length_limit_and_overflow() -> None:
    with pytest.raises(AwsServiceError, match="longer than 1024"):
        parse("1" + " " * MAX_EXPRESSION)
    value, ctx = run("10 ^ 400")  # overflows: not a number
    assert isinstance(value, float) and math.isnan(value)
    assert results(value, ctx, "e1")[0].points == {} and ctx.messages == {ARITHMETIC_DROPPED}
    big, ctx = run("invocations ^ 1000")
    assert points(big) == {120: 0.0} and ARITHMETIC_DROPPED in ctx.messages
    assert points(run("(0 - 8) ^ 0.5 + errors")[0]) == {}  # complex roots are dropped


def test_work_is_bounded_across_a_calls_expressions() -> None:
    grid = list(range(0, 60 * 100_000, 60))
    many = {f"m{i}": Series(f"m{i}", {0: 1.0}, 60) for i in range(50)}
    ctx = Context(grid, 60, dict(many), list(many), budget=Budget())
    # 50 series filled over 100 000 periods would be 5 million datapoints.
    with pytest.raises(AwsServiceError, match="more than 1000000 datapoints"):
        evaluate(parse("FILL(METRICS(), 0)"), ctx, "e1")
    long = "+".join(["TIME_SERIES(1)"] * 60)
    with pytest.raises(AwsServiceError, match="datapoints"):
        evaluate(parse(long), Context(grid, 60, {}, [], budget=Budget()), "e1")
    # The budget is shared: a second expression pays for what the first computed.
    shared = Budget(MAX_WORK)
    evaluate(parse("TIME_SERIES(1) * 2"), Context(grid, 60, {}, [], budget=shared), "e1")
    once = MAX_WORK - shared.left
    assert once >= 2 * len(grid)  # the constant series and the product
    evaluate(parse("TIME_SERIES(1) * 2"), Context(grid, 60, {}, [], budget=shared), "e2")
    assert shared.left == MAX_WORK - 2 * once
    with pytest.raises(AwsServiceError, match="datapoints"):
        for _ in range(2):
            evaluate(parse("TIME_SERIES(1) * 2"), Context(grid, 60, {}, [], budget=shared), "e")


def test_operator_chains_evaluate_in_constant_stack_depth() -> None:
    """A 500-term chain (and 1 000 signs) is a tree 500 deep: evaluated with 100 frames."""
    chain = parse("+".join(["x"] * 500))
    signs = parse("-" * 1001 + "x")
    depth = len(inspect.stack(0))
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(depth + 100)
    try:
        ctx = Context(GRID, 60, {"x": ERRORS}, ["x"])
        total = evaluate(chain, ctx, "e1")
        negated = evaluate(signs, ctx, "e1")
    finally:
        sys.setrecursionlimit(limit)
    assert points(total) == {t: 500 * v for t, v in ERRORS.points.items()}
    assert points(negated) == {t: -v for t, v in ERRORS.points.items()}
