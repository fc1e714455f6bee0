"""What the console shows, computed from rollups and configurations (pure)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from lamina.billing.rollups import Minute, RollupKey, merged, minute_of, quantile
from lamina.models.function import FunctionConfig


@dataclass(frozen=True, slots=True)
class FunctionRow:
    """One line of the functions list."""

    name: str
    runtime: str
    memory_mb: int
    last_invoke: int | None  # epoch seconds of the last minute with invocations
    invocations: int  # over the last hour
    errors: int
    throttles: int
    p50_ms: float | None
    p99_ms: float | None
    cold_share: float | None  # cold starts / invocations
    cost_today: Decimal
    projected_month: Decimal  # today's rate, over 30 days


def function_rows(
    configs: Iterable[FunctionConfig],
    last_hour: dict[str, Minute],
    cost_today: dict[str, Decimal],
    last_active: dict[str, int],
    day_elapsed_s: float = 86_400.0,
) -> list[FunctionRow]:
    """One row per function (all its versions together), sorted by name.

    The monthly projection runs today's spend at today's rate for 30 days (at least one
    minute of the day counted, so the first seconds of a day do not explode it)."""
    scale = Decimal(30 * 86_400) / Decimal(max(60.0, day_elapsed_s))
    rows = []
    for cfg in sorted(configs, key=lambda c: c.name):
        m = last_hour.get(cfg.name) or Minute()
        rows.append(
            FunctionRow(
                name=cfg.name,
                runtime=cfg.runtime,
                memory_mb=cfg.memory_mb,
                last_invoke=last_active.get(cfg.name),
                invocations=m.invocations,
                errors=m.errors,
                throttles=m.throttles,
                p50_ms=m.duration_p50_ms,
                p99_ms=m.duration_p99_ms,
                cold_share=m.cold_starts / m.invocations if m.invocations else None,
                cost_today=cost_today.get(cfg.name, Decimal(0)),
                projected_month=cost_today.get(cfg.name, Decimal(0)) * scale,
            )
        )
    return rows


# The longest range a function's charts cover (minutes): a week of one point per minute.
MAX_RANGE_MIN = 7 * 24 * 60


def chart_window(query: Mapping[str, str], now: float) -> tuple[int, int]:
    """The minutes ``[since, until)`` (epoch seconds, on minute boundaries) a chart covers.

    ``minutes=N``: the last N minutes, the current one included (1 to a week; a number out
    of range is clipped, a non-number is 60). ``from=…&to=…`` (epoch seconds, both): a
    range of its own, from the minute holding ``from`` to the one holding ``to``, neither
    in the future, at most a week long. Raises ValueError, with a message for the caller,
    for a range that is not one."""
    if "from" not in query and "to" not in query:
        try:
            minutes = int(query.get("minutes", "60"))
        except ValueError:
            minutes = 60
        until = minute_of(now) + 60
        return until - 60 * max(1, min(minutes, MAX_RANGE_MIN)), until
    try:
        start, end = int(query["from"]), int(query["to"])
    except KeyError:
        raise ValueError("a custom range needs both from and to") from None
    except ValueError:
        raise ValueError("from and to are epoch seconds (whole numbers)") from None
    if start < 0 or end < 0:
        raise ValueError("from and to are epoch seconds (whole numbers)")
    end = min(end, int(now))
    if start >= end:
        raise ValueError("from must be before to, and before now")
    since, until = minute_of(start), minute_of(end) + 60
    if until - since > 60 * MAX_RANGE_MIN:
        raise ValueError("a range is at most 7 days long")
    return since, until


HOUR_BEFORE = 3540  # the 59 minutes before a chart's first, for its trailing-hour cost


def series(
    minutes: Iterable[tuple[RollupKey, Minute]], since: int, until: int
) -> dict[str, list[float | None]]:
    """Per-minute columns for the charts over ``[since, until)`` (versions merged; every
    minute present, so gaps draw as zero traffic rather than interpolated lines).

    ``cost_usd_hour`` is the cost per hour at each minute: the sum over the 60 minutes
    ending with it, so ``minutes`` should start :data:`HOUR_BEFORE` seconds before ``since``
    (minutes before ``since`` count only there)."""
    by_minute: dict[int, list[Minute]] = {}
    for (_, _, start), m in minutes:
        by_minute.setdefault(start, []).append(m)
    columns: dict[str, list[float | None]] = {
        k: []
        for k in (
            "t", "invocations", "errors", "throttles", "success_pct", "p50_ms", "p99_ms",
            "cold_starts", "init_avg_ms", "max_memory_mb", "cost_usd", "concurrency_avg",
            "cost_usd_hour",
        )
    }  # fmt: skip
    cost = {start: sum((m.cost for m in ms), Decimal(0)) for start, ms in by_minute.items()}
    hour = sum((cost.get(t, Decimal(0)) for t in range(since - HOUR_BEFORE, since, 60)), Decimal(0))
    for start in range(since, until, 60):
        # The trailing hour: add this minute, drop the one 60 minutes back (exact decimals).
        hour += cost.get(start, Decimal(0)) - cost.get(start - 3600, Decimal(0))
        columns["cost_usd_hour"].append(float(hour))
        m = merged(by_minute.get(start, ()))
        n = m.invocations
        columns["t"].append(start)
        columns["invocations"].append(n)
        columns["errors"].append(m.errors)
        columns["throttles"].append(m.throttles)
        columns["success_pct"].append(100.0 * (n - m.errors) / n if n else None)
        columns["p50_ms"].append(quantile(m.duration_buckets, 0.5, m.duration_max_ms))
        columns["p99_ms"].append(quantile(m.duration_buckets, 0.99, m.duration_max_ms))
        columns["cold_starts"].append(m.cold_starts)
        columns["init_avg_ms"].append(m.init_sum_ms / m.cold_starts if m.cold_starts else None)
        columns["max_memory_mb"].append(m.max_memory_used_mb if n else None)
        columns["cost_usd"].append(float(m.cost))
        # Busy milliseconds over the minute's 60 000: the average number of executions
        # running at once (Little's law). The rollups keep no instantaneous peak.
        columns["concurrency_avg"].append(m.duration_sum_ms / 60_000.0 if n else None)
    return columns
