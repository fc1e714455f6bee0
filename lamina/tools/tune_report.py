"""A tuning run as text (a table and a verdict) and as JSON."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TextIO

from lamina.billing.prices import PriceTable
from lamina.billing.projection import RequestRate, ServerPrice, project
from lamina.terminal import table
from lamina.tools.break_even_text import write_break_even
from lamina.tools.formatting import count, money, ms, plain, ratio
from lamina.tools.tuner import TuneResult
from lamina.tools.tuning import SizeResult, Strategy, speedup


def monthly_at(result: SizeResult, rate: RequestRate | None, table_: PriceTable) -> Decimal | None:
    if rate is None or result.workload is None:
        return None
    return project(result.workload, rate.per_month, table_).total


def write_tune(
    result: TuneResult,
    prices: PriceTable,
    stream: TextIO,
    rate: RequestRate | None = None,
    server: ServerPrice | None = None,
) -> None:
    """The per-size table, the recommendation, the break-even, how the function was left."""
    print(describe(result), file=stream)
    headers, rows = tune_table(result, prices, rate)
    table(headers, rows, stream)
    write_verdict(result, stream)
    best = result.recommended
    if server is not None and best is not None:
        name = f"{result.plan.function} at {best.memory_mb} MB"
        write_break_even([(name, best.workload)], server, prices, stream)


def describe(result: TuneResult) -> str:
    """One line: what was measured and how."""
    plan = result.plan
    mode = "cold starts" if plan.cold else "warm invokes"
    how = f"parallel {plan.parallel}" if plan.parallel > 1 else "sequential"
    payloads = f"{len(plan.payloads)} payload{'s' if len(plan.payloads) > 1 else ''}"
    pause = f" {plan.sleep_ms} ms apart" if plan.sleep_ms else ""
    return (
        f"{plan.function} ({result.runtime}, {result.architecture}): {plan.invocations} "
        f"{mode} per size{pause}, {how}, {payloads}, fastest and slowest "
        f"{plan.discard:.0%} discarded"
    )


def tune_table(
    result: TuneResult, prices: PriceTable, rate: RequestRate | None = None
) -> tuple[list[str], list[list[str]]]:
    """The per-size table: one row per memory size."""
    plan = result.plan
    headers = ["MEMORY", "KEPT", "P50 MS", "P90 MS", "MEAN MS", "BILLED MS", "MAX MB"]
    headers += ["INIT MS", "$ / INVOKE", "$ / 1M"]
    if rate is not None:
        headers.append(f"$ / MONTH @ {rate.text}")
    headers.append("")
    rows = []
    best = result.recommended
    for r in result.sizes:
        notes = []
        if best is not None and r.memory_mb == best.memory_mb:
            notes.append(f"<- {plan.strategy.value}")
        if r.memory_mb == result.original_memory_mb:
            notes.append("(current)")
        if r.errors:
            notes.append(f"{r.errors} failed: {(r.first_error or '')[:60]}")
        if r.cold_excluded:
            notes.append(f"{r.cold_excluded} cold left out")
        row = [
            f"{r.memory_mb} MB",
            f"{r.kept}/{r.measured + r.errors}",
            ms(r.latency.p50 if r.latency else None),
            ms(r.latency.p90 if r.latency else None),
            ms(r.latency.mean if r.latency else None),
            ms(r.billed.mean if r.billed else None),
            count(r.max_memory_mb),
            ms(r.init.p50 if r.init else None),
            money(r.cost_per_invocation),
            money(r.cost_per_million),
        ]
        if rate is not None:
            row.append(money(monthly_at(r, rate, prices)))
        row.append(" ".join(notes))
        rows.append(row)
    return headers, rows


def write_verdict(result: TuneResult, stream: TextIO) -> None:
    plan = result.plan
    best = result.recommended
    print(file=stream)
    if best is None:
        print("no memory size completed an invoke: nothing to recommend", file=stream)
    else:
        how = plan.strategy.value
        if plan.strategy is Strategy.BALANCED:
            how += f", weight {plan.weight:g}"
        print(
            f"recommended ({how}): {best.memory_mb} MB — {money(best.cost_per_million)} per "
            f"million, p50 {ms(best.latency.p50 if best.latency else None)} ms",
            file=stream,
        )
        current = result.at(result.original_memory_mb)
        if current is not None and current.usable and current.memory_mb != best.memory_mb:
            faster = speedup(current, best)
            assert current.cost_per_invocation is not None
            assert best.cost_per_invocation is not None
            change = best.cost_per_invocation / current.cost_per_invocation - 1
            word = "cheaper" if change < 0 else "dearer"
            print(
                f"  vs the current {current.memory_mb} MB: {ratio(faster)} as fast, "
                f"{abs(change):.0%} {word}",
                file=stream,
            )
    restore = result.restore
    if restore.applied:
        state = f"left at {restore.memory_mb} MB (applied)"
    else:
        state = f"left at {restore.memory_mb} MB, as found"
    if restore.verified:
        print(f"{plan.function}: {state}; configuration verified unchanged", file=stream)
    else:
        print(f"{plan.function}: NOT verified: {'; '.join(restore.problems)}", file=stream)


def size_dict(r: SizeResult, rate: RequestRate | None, prices: PriceTable) -> dict[str, Any]:
    monthly = monthly_at(r, rate, prices)
    return {
        "memory_mb": r.memory_mb,
        "measured": r.measured,
        "kept": r.kept,
        "errors": r.errors,
        "first_error": r.first_error,
        "cold_excluded": r.cold_excluded,
        "latency_ms": r.latency.as_dict() if r.latency else None,
        "billed_ms": r.billed.as_dict() if r.billed else None,
        "client_ms": r.wall.as_dict() if r.wall else None,
        "init_ms": r.init.as_dict() if r.init else None,
        "max_memory_used_mb": r.max_memory_mb,
        "cost_per_invocation": plain(r.cost_per_invocation) if r.cost_per_invocation else None,
        "cost_per_million": plain(r.cost_per_million) if r.cost_per_million else None,
        "monthly_cost": plain(monthly) if monthly is not None else None,
    }


def tune_dict(
    result: TuneResult, prices: PriceTable, rate: RequestRate | None = None
) -> dict[str, Any]:
    plan = result.plan
    return {
        "function": plan.function,
        "runtime": result.runtime,
        "architecture": result.architecture,
        "mode": "cold" if plan.cold else "warm",
        "invocations_per_size": plan.invocations,
        "parallel": plan.parallel,
        "discard": plan.discard,
        "sleep_between_ms": plan.sleep_ms,
        "strategy": plan.strategy.value,
        "weight": plan.weight,
        "rate": {"text": rate.text, "per_month": rate.per_month} if rate else None,
        "original_memory_mb": result.original_memory_mb,
        "recommended_memory_mb": result.recommended.memory_mb if result.recommended else None,
        "sizes": [size_dict(r, rate, prices) for r in result.sizes],
        "restore": {
            "restored": result.restore.restored,
            "verified": result.restore.verified,
            "applied": result.restore.applied,
            "memory_mb": result.restore.memory_mb,
            "problems": result.restore.problems,
        },
    }
