"""next_fire agrees with a brute-force search, for random cron expressions (hypothesis).

The expressions are drawn as structured parts, rendered to text for the parser, and the
oracle decides matches from the *parts* with its own calendar arithmetic, so a parser
bug and a search bug cannot cancel out.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from lamina.events.schedule.nextfire import next_fire
from lamina.services.eventbridge.expression import parse_schedule

DAY_NAMES = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
MONTH_NAMES = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]


def numeric_field(lo: int, hi: int, names: list[str] | None = None) -> st.SearchStrategy[Field]:
    def name(v: int, use: bool) -> str:
        return names[v - lo] if names and use else str(v)

    star = st.just(Field("*", frozenset(range(lo, hi + 1))))
    single = st.builds(
        lambda v, use: Field(name(v, use), frozenset({v})), st.integers(lo, hi), st.booleans()
    )

    @st.composite
    def ranged(draw: st.DrawFn) -> Field:
        a = draw(st.integers(lo, hi))
        b = draw(st.integers(a, hi))
        step = draw(st.integers(1, max(1, hi - lo)))
        use = draw(st.booleans())
        text = f"{name(a, use)}-{name(b, use)}" + (f"/{step}" if step > 1 else "")
        return Field(text, frozenset(range(a, b + 1, step)))

    @st.composite
    def stepped(draw: st.DrawFn) -> Field:
        start = draw(st.integers(lo, hi))
        step = draw(st.integers(1, hi - lo + 1))
        return Field(f"{start}/{step}", frozenset(range(start, hi + 1, step)))

    @st.composite
    def listed(draw: st.DrawFn) -> Field:
        vals = draw(st.lists(st.integers(lo, hi), min_size=2, max_size=4, unique=True))
        return Field(",".join(str(v) for v in vals), frozenset(vals))

    return st.one_of(star, single, ranged(), stepped(), listed())


def weekday(y: int, m: int, d: int) -> int:  # 1 = Sunday
    return {6: 1, 0: 2, 1: 3, 2: 4, 3: 5, 4: 6, 5: 7}[calendar.weekday(y, m, d)]


def is_weekday(y: int, m: int, d: int) -> bool:
    return calendar.weekday(y, m, d) < 5


# Day predicates for the oracle: (text, predicate(y, m, d)).
def dom_parts() -> st.SearchStrategy[tuple[str, object]]:
    def last(y: int, m: int, d: int) -> bool:
        return d == calendar.monthrange(y, m)[1]

    def last_weekday(y: int, m: int, d: int) -> bool:
        n = calendar.monthrange(y, m)[1]
        return is_weekday(y, m, d) and all(not is_weekday(y, m, x) for x in range(d + 1, n + 1))

    def nearest(target: int) -> object:
        def pred(y: int, m: int, d: int) -> bool:
            n = calendar.monthrange(y, m)[1]
            if target > n or not is_weekday(y, m, d):
                return False
            # the weekday of the month closest to the target; ties cannot happen
            candidates = [x for x in range(1, n + 1) if is_weekday(y, m, x)]
            best = min(candidates, key=lambda x: (abs(x - target), x))
            return d == best

        return pred

    plain = numeric_field(1, 31).map(lambda f: (f.text, lambda y, m, d, v=f.values: d in v))
    return st.one_of(
        plain,
        st.just(("L", last)),
        st.just(("LW", last_weekday)),
        st.integers(1, 31).map(lambda t: (f"{t}W", nearest(t))),
    )


def dow_parts() -> st.SearchStrategy[tuple[str, object]]:
    plain = numeric_field(1, 7, DAY_NAMES).map(
        lambda f: (f.text, lambda y, m, d, v=f.values: weekday(y, m, d) in v)
    )

    def last_of(wd: int) -> object:
        return lambda y, m, d: weekday(y, m, d) == wd and d + 7 > calendar.monthrange(y, m)[1]

    def nth(wd: int, n: int) -> object:
        return lambda y, m, d: weekday(y, m, d) == wd and (d - 1) // 7 + 1 == n

    return st.one_of(
        plain,
        st.integers(1, 7).map(lambda wd: (f"{wd}L", last_of(wd))),
        st.tuples(st.integers(1, 7), st.integers(1, 5)).map(
            lambda t: (f"{DAY_NAMES[t[0] - 1]}#{t[1]}", nth(*t))
        ),
    )


@st.composite
def crons(
    draw: st.DrawFn,
) -> tuple[str, tuple[Callable[[datetime], bool], Callable[[datetime], bool]]]:
    minute = draw(numeric_field(0, 59))
    hour = draw(numeric_field(0, 23))
    month = draw(numeric_field(1, 12, MONTH_NAMES))
    year = draw(
        numeric_field(1970, 2199).filter(lambda f: any(2024 <= y <= 2031 for y in f.values))
    )
    use_dom = draw(st.booleans())
    day_text, day_pred = draw(dom_parts() if use_dom else dow_parts())
    dom_text, dow_text = (day_text, "?") if use_dom else ("?", day_text)
    text = f"cron({minute.text} {hour.text} {dom_text} {month.text} {dow_text} {year.text})"

    def day_ok(t: datetime) -> bool:
        return (
            t.month in month.values and t.year in year.values and day_pred(t.year, t.month, t.day)  # type: ignore[operator]
        )

    def matches(t: datetime) -> bool:
        return t.minute in minute.values and t.hour in hour.values and day_ok(t)

    return text, (day_ok, matches)


Predicate = Callable[[datetime], bool]


def brute_force(
    oracle: tuple[Predicate, Predicate], after: datetime, horizon_days: int
) -> datetime | None:
    """Day by day, then minute by minute within the days that match."""
    day_ok, matches = oracle
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    day = start.replace(hour=0, minute=0)
    for _ in range(horizon_days):
        if day_ok(day):
            for minute_of_day in range(24 * 60):
                t = day + timedelta(minutes=minute_of_day)
                if t >= start and matches(t):
                    return t
        day += timedelta(days=1)
    return None


@settings(max_examples=200, deadline=None)
@given(
    crons(),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2029, 12, 31)).map(
        lambda d: d.replace(tzinfo=UTC)
    ),
)
def test_next_fire_matches_brute_force(
    cron: tuple[str, tuple[Predicate, Predicate]], after: datetime
) -> None:
    text, oracle = cron
    got = next_fire(parse_schedule(text), after)
    horizon = 45
    expected = brute_force(oracle, after, horizon)
    if expected is not None:
        assert got == expected, text
    else:
        # nothing within the horizon: next_fire must agree that there is none that soon
        assert got is None or got >= after + timedelta(days=horizon - 1), text
        if got is not None:
            assert oracle[1](got), text
