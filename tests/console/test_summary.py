"""What the console shows, from rollups (pure), and its session rules."""

from __future__ import annotations

from decimal import Decimal

import pytest

from lamina.billing.rollups import Minute, RollupKey
from lamina.console import views
from lamina.console.session import COOKIE, Sessions
from lamina.console.summary import MAX_RANGE_MIN, chart_window, function_rows, series
from lamina.models.alias import Alias
from lamina.models.function import FunctionConfig
from lamina.models.invocation import Outcome
from tests.billing.test_ledger import DAY1, make_record

T0 = int(DAY1)


def cfg(name: str) -> FunctionConfig:
    return FunctionConfig(name=name, runtime="python3.12", handler="app.handler",
                          code_sha256="0" * 64, code_size=1)  # fmt: skip


def test_rows_count_the_hour_and_project_the_month() -> None:
    hour = Minute()
    for i in range(4):
        hour.add(make_record(i, init_ms=50.0 if i == 0 else None,
                             outcome=Outcome.ERROR if i < 1 else Outcome.SUCCESS),
                 Decimal(0), Decimal(0))  # fmt: skip
    rows = function_rows(
        [cfg("b"), cfg("a<script>")],
        {"b": hour},
        {"b": Decimal("0.01")},
        {"b": T0},
        day_elapsed_s=6 * 3600,
    )
    assert [r.name for r in rows] == ["a<script>", "b"]
    idle, busy = rows
    assert (busy.invocations, busy.errors, busy.cold_share) == (4, 1, 0.25)
    assert busy.projected_month == Decimal("0.01") * 4 * 30
    assert idle.invocations == 0 and idle.cold_share is None and idle.p50_ms is None
    html = views.functions_list(rows)
    assert "a<script>" not in html and "a&lt;script&gt;" in html


def test_series_has_every_minute() -> None:
    m = Minute()
    m.add(make_record(0, duration_ms=20.0), Decimal(0), Decimal("0.5"))
    data: list[tuple[RollupKey, Minute]] = [(("f", "$LATEST", T0 + 120), m)]
    cols = series(data, T0, T0 + 300)
    assert cols["t"] == [T0, T0 + 60, T0 + 120, T0 + 180, T0 + 240]
    assert cols["invocations"] == [0, 0, 1, 0, 0]
    assert cols["success_pct"] == [None, None, 100.0, None, None]
    assert cols["cost_usd"][2] == 0.5
    # Cost per hour: the trailing 60 minutes, minutes before the chart's first included.
    assert cols["cost_usd_hour"] == [0.0, 0.0, 0.5, 0.5, 0.5]
    early = Minute()
    early.add(make_record(1), Decimal(0), Decimal("0.25"))
    cols = series([*data, (("f", "$LATEST", T0 - 3540), early)], T0, T0 + 300)
    assert cols["cost_usd_hour"] == [0.25, 0.0, 0.5, 0.5, 0.5]  # it leaves the hour at T0+60


def test_sessions() -> None:
    now = [1000.0]
    sessions = Sessions({"AKID": "s3cret"}, clock=lambda: now[0])
    assert sessions.login("AKID", "wrong") is None and sessions.login("NOPE", "s3cret") is None
    token = sessions.login("AKID", "s3cret")
    assert token is not None
    assert sessions.check(f"other=1; {COOKIE}={token}")
    assert not sessions.check(f"{COOKIE}=forged")
    now[0] += 13 * 3600
    assert not sessions.check(f"{COOKIE}={token}")  # expired
    assert Sessions({}).check("")  # dev mode: open


def test_alias_text_shows_weights() -> None:
    assert views.alias_text(Alias("f", "live", "3")) == "live → 3"
    weighted = Alias("f", "canary", "3", weights={"4": 0.1})
    assert views.alias_text(weighted) == "canary → 3 (90 %), 4 (10 %)"


NOW = 1_700_000_123.4  # 2023-11-14T22:15:23Z: 23 s into its minute


def test_the_last_n_minutes_end_with_the_current_one() -> None:
    assert chart_window({}, NOW) == (1_700_000_100 - 59 * 60, 1_700_000_160)
    assert chart_window({"minutes": "1"}, NOW) == (1_700_000_100, 1_700_000_160)
    # Out of range clips; a non-number is the default hour.
    assert chart_window({"minutes": "0"}, NOW) == (1_700_000_100, 1_700_000_160)
    week = chart_window({"minutes": "99999999"}, NOW)
    assert week[1] - week[0] == 60 * MAX_RANGE_MIN
    assert chart_window({"minutes": "x"}, NOW) == chart_window({}, NOW)


def test_a_custom_range_covers_the_minutes_holding_its_ends() -> None:
    since, until = chart_window({"from": "1699990000", "to": "1699990659"}, NOW)
    assert (since, until) == (1_699_989_960, 1_699_990_680)  # 22:26 to 22:37 inclusive
    # An end in the future stops at now's minute.
    assert chart_window({"from": "1700000000", "to": "1800000000"}, NOW) == (
        1_700_000_000 - 20,
        1_700_000_160,
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "1699990000"}, "needs both from and to"),
        ({"to": "1699990000"}, "needs both from and to"),
        ({"from": "yesterday", "to": "1699990000"}, "epoch seconds"),
        ({"from": "-5", "to": "1699990000"}, "epoch seconds"),
        ({"from": "1699990000", "to": "1699990000"}, "before to"),
        ({"from": "1800000000", "to": "1900000000"}, "before now"),
        ({"from": "1699000000", "to": "1699990000"}, "at most 7 days"),
    ],
)
def test_a_custom_range_that_is_not_one_is_refused_with_a_reason(
    query: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        chart_window(query, NOW)
