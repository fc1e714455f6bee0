"""The cold-start benchmark as text (beside lambda-perf's AWS figures) and as JSON."""

from __future__ import annotations

from typing import Any, TextIO

from lamina.terminal import table
from lamina.tools.coldstart import ColdBench, ColdSeries, aws_ranking
from lamina.tools.formatting import ms
from lamina.tools.stats import Summary


def _three(s: Summary | None) -> list[str]:
    if s is None:
        return ["-", "-", "-"]
    return [ms(s.p50), ms(s.p90), ms(s.max)]


def write_coldstart(bench: ColdBench, stream: TextIO) -> None:
    print(
        f"{bench.count} forced cold starts per runtime and size "
        "(lambda-perf's AWS averages: 128 MB, zip, x86_64)",
        file=stream,
    )
    headers, rows = coldstart_table(bench)
    table(headers, rows, stream)
    print(
        "all times in ms; INIT = Init Duration from the REPORT line; COLD INVOKE = the "
        "client's whole round trip of the cold invoke",
        file=stream,
    )
    for line in ranking_lines(bench):
        print(line, file=stream)


def coldstart_table(bench: ColdBench) -> tuple[list[str], list[list[object]]]:
    """One row per runtime and memory size."""
    headers = ["RUNTIME", "MEMORY", "N", "INIT P50", "P90", "MAX", "COLD INVOKE P50", "P90"]
    headers += ["MAX", "MAX MB P50", "P90", "MAX", "AWS INIT AVG", "AWS MAX MB", ""]
    rows = []
    for s in bench.series:
        aws = s.spec.aws
        notes = []
        if s.not_cold:
            notes.append(f"{s.not_cold} not cold")
        if s.failures:
            notes.append(f"{len(s.failures)} failed: {s.failures[0][:60]}")
        rows.append(
            [
                s.spec.label,
                f"{s.memory_mb} MB",
                len(s.init_ms),
                *_three(s.init),
                *_three(s.cold_total),
                *(
                    ["-", "-", "-"]
                    if s.memory is None
                    else [f"{s.memory.p50:.0f}", f"{s.memory.p90:.0f}", f"{s.memory.max:.0f}"]
                ),
                f"{aws.init_avg_ms:.1f} ({aws.runtime})" if aws else "-",
                f"{aws.max_memory_mb:.0f}" if aws else "-",
                " ".join(notes),
            ]
        )
    return headers, rows


def ranking_lines(bench: ColdBench) -> list[str]:
    """Per memory size: the runtimes by Init Duration p50, and whether AWS agrees."""
    lines: list[str] = []
    for size in bench.memory_sizes:
        ranked = [s for s in bench.ranking(size) if s.init is not None]
        if len(ranked) < 2:
            continue
        order = " < ".join(f"{s.spec.label} ({ms(s.init.p50 if s.init else None)})" for s in ranked)
        aws = aws_ranking([s.spec for s in ranked])
        same = [s.spec.key for s in ranked if s.spec.aws is not None] == [a.key for a in aws]
        verdict = "the same order as lambda-perf on AWS" if same else "NOT lambda-perf's order"
        lines.append(f"{size} MB, Init Duration p50: {order} — {verdict}")

    return lines


def series_dict(s: ColdSeries) -> dict[str, Any]:
    aws = s.spec.aws
    return {
        "runtime_key": s.spec.key,
        "label": s.spec.label,
        "runtime": s.spec.runtime,
        "memory_mb": s.memory_mb,
        "cold_starts": len(s.init_ms),
        "not_cold": s.not_cold,
        "failures": s.failures,
        "init_ms": s.init.as_dict() if s.init else None,
        "cold_invoke_ms": s.cold_total.as_dict() if s.cold_total else None,
        "max_memory_used_mb": s.memory.as_dict() if s.memory else None,
        "billed_ms": s.billed.as_dict() if s.billed else None,
        "samples": {
            "init_ms": s.init_ms,
            "cold_invoke_ms": [round(v, 3) for v in s.cold_total_ms],
            "max_memory_used_mb": s.max_memory_mb,
        },
        "aws": None
        if aws is None
        else {
            "runtime": aws.runtime,
            "init_avg_ms": aws.init_avg_ms,
            "max_memory_mb": aws.max_memory_mb,
        },
    }


def coldstart_dict(bench: ColdBench) -> dict[str, Any]:
    return {
        "count": bench.count,
        "series": [series_dict(s) for s in bench.series],
        "ranking": {
            str(size): [s.spec.key for s in bench.ranking(size) if s.init is not None]
            for size in bench.memory_sizes
        },
    }
