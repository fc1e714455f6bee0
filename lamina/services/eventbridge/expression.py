"""Parse EventBridge schedule expressions into values (pure; no clock).

``rate(value unit)``: a positive whole number and ``minute|minutes|hour|hours|day|days``
(the singular only for 1, the plural only for more).

``cron(Minutes Hours Day-of-month Month Day-of-week Year)``, always UTC:

==============  ===========  ======================
field           values       wildcards
==============  ===========  ======================
Minutes         0-59         , - * /
Hours           0-23         , - * /
Day-of-month    1-31         , - * ? / L W
Month           1-12, JAN-DEC  , - * /
Day-of-week     1-7, SUN-SAT   , - * ? L #   (1 = SUN)
Year            1970-2199    , - * /
==============  ===========  ======================

Exactly one of Day-of-month and Day-of-week is ``?``. ``L`` is the last day of the month
(Day-of-month) or ``nL`` the last weekday n of the month (Day-of-week; ``L`` alone is
Saturday); ``LW`` is the month's last weekday; ``15W`` the weekday nearest the 15th
within the month; ``3#2`` the second Tuesday. Ranges may wrap (``FRI-MON``, ``22-2``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import InvalidParameterValue

MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
    )
}
DAYS = {d: i + 1 for i, d in enumerate(["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])}

_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\((.*)\)$")
_UNIT_S = {"minute": 60, "hour": 3600, "day": 86_400}


@dataclass(frozen=True, slots=True)
class Rate:
    seconds: int


@dataclass(frozen=True, slots=True)
class DayOfMonth:
    """Which days of a month match: plain days, or one special form."""

    days: frozenset[int] = frozenset()
    last: bool = False  # L
    last_weekday: bool = False  # LW
    nearest_weekday: int | None = None  # nW


@dataclass(frozen=True, slots=True)
class DayOfWeek:
    """Which weekdays match (1 = Sunday), or one special form."""

    days: frozenset[int] = frozenset()
    last_of_month: int | None = None  # nL: the last weekday n of the month
    nth: tuple[int, int] | None = None  # (weekday, n) for weekday#n


@dataclass(frozen=True, slots=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    dom: DayOfMonth | None  # None when "?"
    months: frozenset[int]
    dow: DayOfWeek | None  # None when "?"
    years: frozenset[int]


Schedule = Rate | Cron


def invalid(expr: str, why: str = "") -> InvalidParameterValue:
    suffix = f" ({why})" if why else ""
    return InvalidParameterValue(f"Parameter ScheduleExpression is not valid: {expr}{suffix}")


def parse_schedule(expr: str) -> Schedule:
    """Parse ``rate(...)`` or ``cron(...)``; raise InvalidParameterValue with the reason."""
    m = _RATE.match(expr)
    if m:
        value, unit = int(m.group(1)), m.group(2)
        if value < 1:
            raise invalid(expr, "the rate must be a positive number")
        plural = unit.endswith("s")
        if plural != (value != 1):
            raise invalid(expr, "use the singular unit for 1 and the plural for more")
        return Rate(value * _UNIT_S[unit.rstrip("s")])
    m = _CRON.match(expr)
    if not m:
        raise invalid(expr, "expected rate(...) or cron(...)")
    fields = m.group(1).split()
    if len(fields) != 6:
        raise invalid(
            expr, "cron needs 6 fields: minutes hours day-of-month month day-of-week year"
        )
    mi, h, dom, mon, dow, yr = fields
    if (dom == "?") == (dow == "?"):
        raise invalid(expr, "exactly one of day-of-month and day-of-week must be ?")
    try:
        return Cron(
            minutes=_field(mi, 0, 59),
            hours=_field(h, 0, 23),
            dom=None if dom == "?" else _day_of_month(dom),
            months=_field(mon, 1, 12, MONTHS),
            dow=None if dow == "?" else _day_of_week(dow),
            years=_field(yr, 1970, 2199),
        )
    except ValueError as exc:
        raise invalid(expr, str(exc)) from None


def _value(text: str, lo: int, hi: int, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a value")
    v = int(text)
    if not lo <= v <= hi:
        raise ValueError(f"{v} is outside {lo}-{hi}")
    return v


def _field(text: str, lo: int, hi: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """A list of ``*``, ``a``, ``a-b`` items, each with an optional ``/step``."""
    out: set[int] = set()
    for item in text.split(","):
        base, slash, step_text = item.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) < 1:
                raise ValueError(f"bad step in {item!r}")
            step = int(step_text)
        if base == "*":
            start, end = lo, hi
        elif "-" in base:
            a, _, b = base.partition("-")
            start, end = _value(a, lo, hi, names), _value(b, lo, hi, names)
        else:
            start = _value(base, lo, hi, names)
            end = hi if slash else start  # "5/15" means from 5 on, every 15
        span = end - start if end >= start else end + (hi - lo + 1) - start  # wrap-around
        out.update(lo + (start - lo + k) % (hi - lo + 1) for k in range(0, span + 1, step))
    return frozenset(out)


def _day_of_month(text: str) -> DayOfMonth:
    if text == "L":
        return DayOfMonth(last=True)
    if text == "LW":
        return DayOfMonth(last_weekday=True)
    if text.endswith("W"):
        return DayOfMonth(nearest_weekday=_value(text[:-1], 1, 31, None))
    if "L" in text or "W" in text or "#" in text:
        raise ValueError(f"{text!r}: L and W stand alone in day-of-month (L, LW, 15W)")
    return DayOfMonth(days=_field(text, 1, 31))


def _day_of_week(text: str) -> DayOfWeek:
    if text == "L":
        return DayOfWeek(days=frozenset({7}))
    if text.endswith("L"):
        return DayOfWeek(last_of_month=_value(text[:-1], 1, 7, DAYS))
    if "#" in text:
        day, _, n = text.partition("#")
        if not n.isdigit() or not 1 <= int(n) <= 5:
            raise ValueError(f"{text!r}: the n of day#n is 1-5")
        return DayOfWeek(nth=(_value(day, 1, 7, DAYS), int(n)))
    if "L" in text.upper():  # no day name contains an L
        raise ValueError(f"{text!r}: L stands alone in day-of-week (L, 6L)")
    return DayOfWeek(days=_field(text, 1, 7, DAYS))
