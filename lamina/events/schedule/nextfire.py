"""When does a schedule fire next? Pure functions of (schedule, instant), all in UTC.

``next_fire(schedule, after)`` is the first tick strictly after ``after``. Cron ticks fall
on whole minutes; rate ticks fall on ``anchor + k * period`` where the anchor is when the
rule was created (or last enabled), as EventBridge counts them.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta

from lamina.services.eventbridge.expression import Cron, DayOfMonth, DayOfWeek, Rate, Schedule


def _weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday, as cron counts."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


def _dom_days(spec: DayOfMonth, year: int, month: int) -> set[int]:
    n = calendar.monthrange(year, month)[1]
    if spec.last:
        return {n}
    if spec.last_weekday:
        day = n
        while _weekday(year, month, day) in (1, 7):
            day -= 1
        return {day}
    if spec.nearest_weekday is not None:
        target = spec.nearest_weekday
        if target > n:
            return set()
        wd = _weekday(year, month, target)
        if wd == 7:  # Saturday: Friday before, or Monday after when the 1st
            return {target - 1 if target > 1 else target + 2}
        if wd == 1:  # Sunday: Monday after, or Friday before when the last day
            return {target + 1 if target < n else target - 2}
        return {target}
    return {d for d in spec.days if d <= n}


def _dow_days(spec: DayOfWeek, year: int, month: int) -> set[int]:
    n = calendar.monthrange(year, month)[1]
    if spec.last_of_month is not None:
        day = n
        while _weekday(year, month, day) != spec.last_of_month:
            day -= 1
        return {day}
    if spec.nth is not None:
        weekday, nth = spec.nth
        first = next(d for d in range(1, 8) if _weekday(year, month, d) == weekday)
        day = first + 7 * (nth - 1)
        return {day} if day <= n else set()
    return {d for d in range(1, n + 1) if _weekday(year, month, d) in spec.days}


def matching_days(cron: Cron, year: int, month: int) -> list[int]:
    """The days of ``year``-``month`` on which ``cron`` fires, ascending."""
    if month not in cron.months or year not in cron.years:
        return []
    if cron.dom is not None:
        return sorted(_dom_days(cron.dom, year, month))
    assert cron.dow is not None
    return sorted(_dow_days(cron.dow, year, month))


def next_cron(cron: Cron, after: datetime) -> datetime | None:
    """First whole minute strictly after ``after`` that ``cron`` matches; None if never."""
    start = after.astimezone(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    hours = sorted(cron.hours)
    minutes = sorted(cron.minutes)
    for year in sorted(y for y in cron.years if y >= start.year):
        for month in range(1, 13):
            if (year, month) < (start.year, start.month):
                continue
            for day in matching_days(cron, year, month):
                if (year, month, day) < (start.year, start.month, start.day):
                    continue
                same_day = (year, month, day) == (start.year, start.month, start.day)
                for hour in hours:
                    if same_day and hour < start.hour:
                        continue
                    for minute in minutes:
                        if same_day and hour == start.hour and minute < start.minute:
                            continue
                        return datetime(year, month, day, hour, minute, tzinfo=UTC)
    return None


def next_rate(rate: Rate, anchor: datetime, after: datetime) -> datetime:
    """First ``anchor + k * period`` (k ≥ 1) strictly after ``after``."""
    period = rate.seconds
    elapsed = (after - anchor).total_seconds()
    k = max(1, int(elapsed // period) + 1)
    return anchor + timedelta(seconds=k * period)


def next_fire(
    schedule: Schedule, after: datetime, anchor: datetime | None = None
) -> datetime | None:
    if isinstance(schedule, Rate):
        return next_rate(schedule, anchor or after, after)
    return next_cron(schedule, after)


def last_fire_at_or_before(
    schedule: Schedule, at: datetime, since: datetime, anchor: datetime | None = None
) -> datetime | None:
    """The latest tick in ``(since, at]``, if any: the tick a restart may have missed."""
    last: datetime | None = None
    if isinstance(schedule, Rate):
        base = anchor or since
        elapsed = (at - base).total_seconds()
        if elapsed < schedule.seconds:
            return None
        tick = base + timedelta(seconds=int(elapsed // schedule.seconds) * schedule.seconds)
        return tick if tick > since else None
    cursor = since
    # Cron ticks are at most a minute apart; walk forward but jump with next_cron.
    while True:
        nxt = next_cron(schedule, cursor)
        if nxt is None or nxt > at:
            return last
        last, cursor = nxt, nxt
