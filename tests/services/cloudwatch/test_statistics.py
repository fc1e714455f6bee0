"""AWS/Lambda statistics and dimension selection from rollups (pure)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from lamina.billing.rollups import Minute, RollupKey
from lamina.errors import AwsServiceError
from lamina.models.invocation import Outcome
from lamina.services.cloudwatch.dimensions import select
from lamina.services.cloudwatch.operations import CloudWatchOperations
from lamina.services.cloudwatch.sources import MetricSources
from lamina.services.cloudwatch.statistics import periods, summarise
from tests.billing.test_ledger import DAY1, make_record

T0 = int(DAY1)


def minute(durations: list[float], errors: int = 0, throttles: int = 0) -> Minute:
    m = Minute()
    for i, d in enumerate(durations):
        outcome = Outcome.ERROR if i < errors else Outcome.SUCCESS
        m.add(make_record(i, duration_ms=d, outcome=outcome), Decimal(0), Decimal(0))
    m.throttles = throttles
    return m


def test_summaries_follow_lambdas_per_request_values() -> None:
    m = minute([10.0, 20.0, 30.0, 40.0], errors=1, throttles=2)
    inv = summarise("Invocations", m, 60)
    assert inv is not None and (inv.total, inv.sample_count, inv.average) == (4, 4, 1.0)
    err = summarise("Errors", m, 60)
    assert err is not None and (err.total, err.average, err.minimum, err.maximum) == (1, 0.25, 0, 1)
    thr = summarise("Throttles", m, 60)
    assert thr is not None and (thr.total, thr.sample_count) == (2, 6)
    dur = summarise("Duration", m, 60)
    assert dur is not None and (dur.minimum, dur.maximum, dur.average) == (10.0, 40.0, 25.0)
    p50 = dur.statistic("p50", "Duration")
    assert p50 is not None and 10.0 <= p50 <= 40.0
    assert inv.statistic("p50", "Invocations") is None
    conc = summarise("ConcurrentExecutions", m, 60)
    assert conc is not None and conc.average == pytest.approx(100.0 / 60_000)
    assert summarise("Invocations", Minute(), 60) is None


def test_periods_align_on_multiples_of_the_period() -> None:
    rows: list[tuple[RollupKey, Minute]] = [
        (("f", "$LATEST", T0 + 60 * i), minute([1.0] * (i + 1))) for i in range(10)
    ]
    grouped = periods(rows, 300)
    assert all(start % 300 == 0 for start in grouped)
    assert sum(m.invocations for m in grouped.values()) == sum(range(1, 11))


@pytest.mark.parametrize(
    ("dims", "expected"),
    [
        ([], (None, None)),
        ([("FunctionName", "f")], ("f", None)),
        ([("FunctionName", "f"), ("Resource", "f")], ("f", "$LATEST")),
        ([("FunctionName", "f"), ("Resource", "f:3")], ("f", "3")),
        ([("FunctionName", "f"), ("Resource", "f:live"), ("ExecutedVersion", "2")], ("f", "2")),
        ([("FunctionName", "f"), ("Resource", "f:3"), ("ExecutedVersion", "2")], None),
        ([("FunctionName", "f"), ("Resource", "g")], None),
        ([("Resource", "f")], None),
        ([("FunctionName", "f"), ("QueueName", "q")], None),
    ],
)
def test_select(
    dims: list[tuple[str, str]], expected: tuple[str | None, str | None] | None
) -> None:
    assert select([{"Name": n, "Value": v} for n, v in dims]) == expected


def test_operations_validate_like_cloudwatch() -> None:
    ops = CloudWatchOperations(MetricSources(lambda *_: []), lambda: [("f", "$LATEST"), ("f", "1")])
    base: dict[str, Any] = {"Namespace": "AWS/Lambda", "MetricName": "Invocations", "StartTime": DAY1,
            "EndTime": DAY1 + 3600, "Period": 60, "Statistics": ["Sum"]}  # fmt: skip
    assert ops.get_metric_statistics(base) == {"Label": "Invocations", "Datapoints": []}
    changes: list[tuple[dict[str, Any], str]] = [
        ({"Period": 61}, "InvalidParameterValueException"),
        ({"EndTime": DAY1}, "InvalidParameterValueException"),
        ({"Statistics": ["Median"]}, "InvalidParameterValueException"),
        ({"Statistics": None}, "MissingRequiredParameterException"),
        ({"StartTime": None}, "MissingRequiredParameterException"),
        ({"StartTime": "yesterday"}, "InvalidParameterValueException"),
        ({"EndTime": DAY1 + 86_400 * 2}, "InvalidParameterCombinationException"),
    ]
    for change, code in changes:
        with pytest.raises(AwsServiceError) as info:
            ops.get_metric_statistics({**base, **change})
        assert info.value.code == code, change
    listed = ops.list_metrics({"MetricName": "Errors"})["Metrics"]
    dims = [tuple((d["Name"], d["Value"]) for d in m["Dimensions"]) for m in listed]
    assert dims == [
        (),
        (("FunctionName", "f"),),
        (("FunctionName", "f"), ("Resource", "f")),
        (("FunctionName", "f"), ("Resource", "f:1")),
        (("FunctionName", "f"), ("Resource", "f:1"), ("ExecutedVersion", "1")),
    ]
    with pytest.raises(AwsServiceError):
        ops.list_metrics({"NextToken": "garbage"})
