"""EventBridge schedule expressions: syntax, Lambda's rules, and known next ticks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lamina.errors import InvalidParameterValue
from lamina.events.schedule.nextfire import next_fire
from lamina.services.eventbridge.expression import Cron, Rate, parse_schedule


def dt(year: int, month: int, day: int, hour: int = 0, minute: int = 0, sec: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)


def nxt(expr: str, after: datetime) -> datetime | None:
    return next_fire(parse_schedule(expr), after)


@pytest.mark.parametrize(
    ("expr", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(5 minutes)", 300),
        ("rate(1 hour)", 3600),
        ("rate(12 hours)", 43_200),
        ("rate(1 day)", 86_400),
        ("rate(7 days)", 604_800),
    ],
)
def test_rates(expr: str, seconds: int) -> None:
    assert parse_schedule(expr) == Rate(seconds)


@pytest.mark.parametrize(
    "expr",
    [
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(0 minutes)",
        "rate(5 seconds)",
        "rate(-1 minutes)",
        "rate(5  minutes)",
        "cron(* * * * * *)",  # neither day field is ?
        "cron(0 12 ? * ? *)",  # both are
        "cron(0 12 * * ?)",  # five fields
        "cron(60 12 * * ? *)",
        "cron(0 24 * * ? *)",
        "cron(0 12 32 * ? *)",
        "cron(0 12 ? 13 * *)",
        "cron(0 12 ? * 8 *)",
        "cron(0 12 ? * 0 *)",
        "cron(0 12 * * ? 1969)",
        "cron(0 12 ? * MON#6 *)",
        "cron(0 12 ? * FOO *)",
        "cron(0 12 1,L * ? *)",
        "cron(0/0 12 * * ? *)",
        "cron(0 12 L-3 * ? *)",
        "every 5 minutes",
    ],
)
def test_invalid_expressions_are_refused(expr: str) -> None:
    with pytest.raises(InvalidParameterValue, match="ScheduleExpression is not valid"):
        parse_schedule(expr)


def test_names_ranges_lists_and_steps() -> None:
    cron = parse_schedule("cron(0/15 8-17 ? JAN-MAR,DEC MON-FRI 2024-2026)")
    assert isinstance(cron, Cron)
    assert cron.minutes == {0, 15, 30, 45}
    assert cron.hours == set(range(8, 18))
    assert cron.months == {1, 2, 3, 12}
    assert cron.dow is not None and cron.dow.days == {2, 3, 4, 5, 6}
    assert cron.years == {2024, 2025, 2026}
    wrap = parse_schedule("cron(0 22-2 ? * FRI-MON *)")
    assert isinstance(wrap, Cron) and wrap.hours == {22, 23, 0, 1, 2}
    assert wrap.dow is not None and wrap.dow.days == {6, 7, 1, 2}
    stepped = parse_schedule("cron(*/20 5-20/5 ? * * *)")
    assert isinstance(stepped, Cron) and stepped.minutes == {0, 20, 40}
    assert stepped.hours == {5, 10, 15, 20}


def test_examples_from_the_eventbridge_documentation() -> None:
    # 10:15 every day
    assert nxt("cron(15 10 * * ? *)", dt(2024, 5, 1, 10, 15)) == dt(2024, 5, 2, 10, 15)
    # 6 PM Monday to Friday (2024-05-03 is a Friday)
    assert nxt("cron(0 18 ? * MON-FRI *)", dt(2024, 5, 3, 18, 0)) == dt(2024, 5, 6, 18, 0)
    # 8 AM on the first day of the month
    assert nxt("cron(0 8 1 * ? *)", dt(2024, 5, 3)) == dt(2024, 6, 1, 8, 0)
    # every 10 minutes on weekdays
    assert nxt("cron(0/10 * ? * MON-FRI *)", dt(2024, 5, 4, 12, 1)) == dt(2024, 5, 6, 0, 0)
    # every 5 minutes between 8:00 and 17:55 on weekdays
    assert nxt("cron(0/5 8-17 ? * MON-FRI *)", dt(2024, 5, 6, 17, 55)) == dt(2024, 5, 7, 8, 0)
    # 9 AM on the first Monday of each month
    assert nxt("cron(0 9 ? * 2#1 *)", dt(2024, 5, 7)) == dt(2024, 6, 3, 9, 0)


def test_last_day_last_weekday_and_nearest_weekday() -> None:
    assert nxt("cron(0 0 L * ? *)", dt(2024, 2, 1)) == dt(2024, 2, 29)  # leap year
    assert nxt("cron(0 0 L * ? *)", dt(2023, 2, 1)) == dt(2023, 2, 28)
    # the last weekday of August 2024 is Friday the 30th (31st is a Saturday)
    assert nxt("cron(0 0 LW * ? *)", dt(2024, 8, 1)) == dt(2024, 8, 30)
    # 2024-06-15 is a Saturday: 15W is Friday the 14th; 2024-09-15 a Sunday: Monday 16th
    assert nxt("cron(0 0 15W * ? *)", dt(2024, 6, 1)) == dt(2024, 6, 14)
    assert nxt("cron(0 0 15W * ? *)", dt(2024, 9, 1)) == dt(2024, 9, 16)
    # 1W never leaves the month: 2024-06-01 is a Saturday, so Monday the 3rd
    assert nxt("cron(0 0 1W * ? *)", dt(2024, 5, 31)) == dt(2024, 6, 3)
    # the last Friday (6L) of May 2024 is the 31st
    assert nxt("cron(0 0 ? * 6L *)", dt(2024, 5, 1)) == dt(2024, 5, 31)
    # L alone in day-of-week is Saturday
    assert nxt("cron(0 0 ? * L *)", dt(2024, 5, 1)) == dt(2024, 5, 4)
    # 29 February only in leap years
    assert nxt("cron(0 0 29 2 ? *)", dt(2024, 3, 1)) == dt(2028, 2, 29)


def test_the_year_field_ends_a_schedule() -> None:
    assert nxt("cron(0 0 1 1 ? 2025)", dt(2024, 6, 1)) == dt(2025, 1, 1)
    assert nxt("cron(0 0 1 1 ? 2025)", dt(2025, 1, 1)) is None


def test_rate_ticks_count_from_the_anchor() -> None:
    anchor = dt(2024, 1, 1, 0, 0, 30)
    rate = parse_schedule("rate(5 minutes)")
    assert next_fire(rate, anchor, anchor) == dt(2024, 1, 1, 0, 5, 30)
    assert next_fire(rate, dt(2024, 1, 1, 0, 5, 30), anchor) == dt(2024, 1, 1, 0, 10, 30)
    assert next_fire(rate, dt(2024, 1, 1, 1, 0, 0), anchor) == dt(2024, 1, 1, 1, 0, 30)
