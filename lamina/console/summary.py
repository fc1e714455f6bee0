"""What the console shows, computed from rollups and configurations (pure)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from lamina.billing.rollups import Minute, RollupKey, merged, quantile
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
