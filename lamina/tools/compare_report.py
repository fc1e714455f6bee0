"""Comparisons as text (one pair in detail, or many pairs in one table) and as JSON."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TextIO

from lamina.billing.prices import PriceTable
from lamina.billing.projection import ServerPrice
from lamina.terminal import table
from lamina.tools.break_even_text import write_break_even
from lamina.tools.compare import Comparison, Side
from lamina.tools.formatting import count, money, ms, plain, ratio
from lamina.tools.tune_report import tune_dict


def _side_row(c: Comparison, s: Side, rate_column: bool) -> list[str]:
    best = s.best
    row = [
        s.name,
        s.runtime,
        f"{best.memory_mb} MB" if best else "-",
        ms(best.latency.p50 if best and best.latency else None),
        ms(best.latency.p90 if best and best.latency else None),
        count(best.max_memory_mb if best else None),
        ms(s.init_p50),
        ms(c.mean_latency(s)),
        money(best.cost_per_million if best else None),
    ]
    if rate_column:
        row.append(money(s.monthly))
    return row


def write_compare(
    c: Comparison,
    stream: TextIO,
    server: ServerPrice | None = None,
    prices: PriceTable | None = None,
) -> None:
    """Both implementations at their best memory size, the ratios, a verdict, and with a
    server price the break-even of each."""
    headers, rows = compare_table(c)
    table(headers, rows, stream)
    print(file=stream)
    print(verdict(c), file=stream)
    if server is not None and prices is not None:
        rows_ = [
            (f"{s.name} at {s.best.memory_mb} MB", s.best.workload)
            for s in (c.a, c.b)
            if s.best is not None
        ]
        write_break_even(rows_, server, prices, stream)
    if c.same_answer is False:
        print("WARNING: the two functions gave different answers to the same payload", file=stream)
    for s in (c.a, c.b):
        if not s.result.restore.verified:
            print(f"{s.name}: NOT verified: {'; '.join(s.result.restore.problems)}", file=stream)


def compare_table(c: Comparison) -> tuple[list[str], list[list[str]]]:
    """A row per implementation at its best size, then the A / B ratios."""
    same = f"MEAN MS @ {c.common_size} MB" if c.common_size else "MEAN MS @ SAME MB"
    headers = ["FUNCTION", "RUNTIME", "BEST", "P50 MS", "P90 MS", "MAX MB", "INIT MS", same]
    headers.append("$ / 1M")
    if c.rate is not None:
        headers.append(f"$ / MONTH @ {c.rate.text}")
    rows = [_side_row(c, c.a, c.rate is not None), _side_row(c, c.b, c.rate is not None)]
    ratios = [
        f"{c.a.name} / {c.b.name}",
        "",
        "",
        "",
        "",
        ratio(c.memory_ratio),
        ratio(c.init_ratio),
        ratio(c.latency_ratio),
        ratio(c.cost_ratio),
    ]
    if c.rate is not None:
        ratios.append(ratio(c.cost_ratio))
    rows.append(ratios)
    return headers, rows


def verdict(c: Comparison) -> str:
    """One plain sentence that is true at the sizes and the rate compared.

    Figures that print the same are called the same (never "1.0x less, 0% saved"), and
    every difference is stated with both figures, so the reader can check it.
    """
    a, b = c.a, c.b
    if a.best is None or b.best is None or c.cost_ratio is None:
        return "cannot compare: one of the functions never completed an invoke"
    per_a, per_b = a.best.cost_per_million, b.best.cost_per_million
    if per_a is None or per_b is None:
        return "cannot compare: one of the functions never completed an invoke"
    parts = [_cost_clause(a, b, per_a, per_b)]
    speed = c.latency_ratio
    if speed is not None and c.common_size is not None:
        mean_a, mean_b = c.mean_latency(a), c.mean_latency(b)
        if ms(mean_a) == ms(mean_b) or abs(speed - 1) < 0.05:
            parts.append(
                f"at {c.common_size} MB both run about as fast "
                f"({ms(mean_a)} ms and {ms(mean_b)} ms on average)"
            )
        else:
            faster = b if speed > 1 else a
            parts.append(
                f"{faster.name} runs {ratio(max(speed, 1 / speed))} faster at {c.common_size} MB"
            )
    if c.rate is not None and a.monthly is not None and b.monthly is not None:
        if money(a.monthly) == money(b.monthly):
            parts.append(f"at {c.rate.text} both cost {money(a.monthly)} a month")
        else:
            low, high = (a, b) if a.monthly < b.monthly else (b, a)
            assert low.monthly is not None and high.monthly is not None
            parts.append(
                f"at {c.rate.text} {low.name} costs {money(low.monthly)} a month against "
                f"{money(high.monthly)}, {money(high.monthly - low.monthly)} less"
            )
    return "; ".join(parts)


def _who(s: Side) -> str:
    return f"{s.name} ({s.runtime}, {s.best.memory_mb if s.best else '-'} MB)"


def _cost_clause(a: Side, b: Side, per_a: Decimal, per_b: Decimal) -> str:
    if money(per_a) == money(per_b):
        return f"{_who(a)} and {_who(b)} cost the same: {money(per_a)} per million invocations"
    (cheap, low), (dear, high) = sorted(((a, per_a), (b, per_b)), key=lambda pair: pair[1])
    saved = 1 - float(low / high)
    below = f"{saved:.0%}" if saved >= 0.01 else "under 1%"
    return (
        f"{_who(cheap)} costs {money(low)} per million invocations, {below} below "
        f"{_who(dear)} at {money(high)}"
    )


def write_pairs(
    pairs: Sequence[tuple[str, Comparison]], stream: TextIO, rate_text: str | None = None
) -> None:
    """Many comparisons of (A, B) in one table: the demo's closing table."""
    headers, rows = pairs_table(pairs, rate_text)
    table(headers, rows, stream)


def pairs_table(
    pairs: Sequence[tuple[str, Comparison]], rate_text: str | None = None
) -> tuple[list[str], list[list[str]]]:
    """One row per workload: A and B at their best sizes, and the ratios."""
    headers = ["WORKLOAD", "A", "B", "BEST MB A/B", "P50 MS A/B", "INIT MS A/B"]
    headers += ["MAX MB A/B", "$ / 1M A", "$ / 1M B", "A / B COST", "A / B TIME @ MB"]
    headers.append("SAME ANSWER")
    if rate_text:
        headers.insert(-3, f"$ / MONTH A/B @ {rate_text}")
    rows = []
    for workload, c in pairs:
        a, b = c.a, c.b

        def mem(s: Side) -> str:
            return str(s.best.memory_mb) if s.best else "-"

        def p50(s: Side) -> str:
            return ms(s.best.latency.p50 if s.best and s.best.latency else None)

        def used(s: Side) -> str:
            return count(s.best.max_memory_mb if s.best else None)

        row = [
            workload,
            a.runtime,
            b.runtime,
            f"{mem(a)}/{mem(b)}",
            f"{p50(a)}/{p50(b)}",
            f"{ms(a.init_p50)}/{ms(b.init_p50)}",
            f"{used(a)}/{used(b)}",
            money(a.best.cost_per_million if a.best else None),
            money(b.best.cost_per_million if b.best else None),
            ratio(c.cost_ratio),
            f"{ratio(c.latency_ratio)} @ {c.common_size or '-'}",
            {True: "yes", False: "NO", None: "-"}[c.same_answer],
        ]
        if rate_text:
            row.insert(-3, f"{money(a.monthly)}/{money(b.monthly)}")
        rows.append(row)
    return headers, rows


def compare_dict(c: Comparison, prices: PriceTable) -> dict[str, Any]:
    def side_dict(s: Side) -> dict[str, Any]:
        best = s.best
        return {
            "function": s.name,
            "runtime": s.runtime,
            "best_memory_mb": best.memory_mb if best else None,
            "init_p50_ms": s.init_p50,
            "cost_per_million": plain(best.cost_per_million)
            if best and best.cost_per_million
            else None,
            "monthly_cost": plain(s.monthly) if s.monthly is not None else None,
            "tuning": tune_dict(s.result, prices, c.rate),
        }

    return {
        "a": side_dict(c.a),
        "b": side_dict(c.b),
        "rate": {"text": c.rate.text, "per_month": c.rate.per_month} if c.rate else None,
        "same_answer": c.same_answer,
        "ratios": {
            "cost": c.cost_ratio,
            "latency": c.latency_ratio,
            "max_memory": c.memory_ratio,
            "init": c.init_ratio,
        },
        "verdict": verdict(c),
    }
