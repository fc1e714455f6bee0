"""Turn measurements into the Markdown results section (pure: values in, text out)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cold import ColdResult
from bench.machine import Machine
from bench.stats import median, percentile, ratio
from bench.table import markdown_table, mb, ms, rate, times
from bench.warm import WarmPlan, WarmResult

# DESIGN.md's performance targets, quoted beside the measurements.
TARGET_WARM_P50_MS = 0.25
TARGET_THROUGHPUT_C8 = 5000.0
TARGET_RUST_COLD_MS = 10.0


@dataclass(frozen=True, slots=True)
class Results:
    machine: Machine
    command: str
    plan: WarmPlan
    warm: list[WarmResult]
    cold: list[ColdResult]
    cold_count: int
    warnings: list[str] = field(default_factory=list)  # the server's WARNING/ERROR lines


def _p(samples: list[float], p: float) -> float | None:
    return percentile(samples, p) if samples else None


def machine_section(r: Results) -> str:
    m = r.machine
    return "\n".join(
        [
            f"- **Machine**: {m.cpus} CPUs ({m.cpu_model}), {m.memory_gb:.0f} GiB RAM, "
            f"Linux {m.kernel}",
            f"- **Software**: Python {m.python}, Lamina event loop {m.event_loop}, "
            f"sandbox tier `{m.sandbox}`",
            f"- **Date**: {m.date}; 1-minute load average at the end of the run "
            f"{m.load_average:.1f} (other work on the machine skews every figure)",
            f"- **Reproduce**: `{r.command}`",
        ]
    )


def warm_section(r: Results) -> str:
    floor = next(w for w in r.warm if w.key == "floor")
    floor_p50 = median(floor.latency.latencies_ms)
    floor_hc = _p(floor.http_client_ms, 50)
    rows = []
    for w in r.warm:
        lat = w.latency.latencies_ms
        p50 = median(lat)
        hc50 = _p(w.http_client_ms, 50)
        rows.append(
            [
                w.label,
                ms(p50),
                ms(percentile(lat, 99)),
                times(ratio(p50, floor_p50)),
                ms(hc50),
                times(ratio(hc50, floor_hc) if hc50 is not None and floor_hc else None),
                ms(_p(w.runtime_duration_ms, 50)),
            ]
        )
    latency = markdown_table(
        [
            "target",
            "p50 ms",
            "p99 ms",
            "p50 x floor",
            "http.client p50 ms",
            "x floor",
            "REPORT Duration p50 ms",
        ],
        rows,
    )
    conc = r.plan.concurrencies
    trows = []
    for w in r.warm:
        cells = [w.label]
        for c in conc:
            run = w.runs[c]
            note = f" ({run.errors} errors)" if run.errors else ""
            cells.append(rate(run.throughput) + note)
        top = w.runs[conc[-1]]
        cells.append(times(ratio(w.runs[conc[-1]].throughput, floor.runs[conc[-1]].throughput)))
        cells.append(f"{ms(median(top.latencies_ms))} / {ms(percentile(top.latencies_ms, 99))}")
        trows.append(cells)
    throughput = markdown_table(
        ["target", *(f"c={c} invokes/s" for c in conc), f"c={conc[-1]} vs floor",
         f"c={conc[-1]} p50 / p99 ms"],
        trows,
    )  # fmt: skip
    procs = ", ".join(f"c={c}: {floor.runs[c].processes}" for c in conc)
    return "\n\n".join(
        [
            f"### Warm invoke: no-op function, loopback, {r.plan.memory_mb} MB",
            f"Latency at concurrency 1 ({r.plan.latency_s:g} s closed loop per target, "
            f"raw-socket keep-alive client; `http.client` column: {r.plan.http_client_invokes} "
            "sequential requests with Python's `http.client`). `REPORT Duration` is the "
            "time Lamina itself reports between handing the event to the runtime and the "
            "runtime's answer.",
            latency,
            f"Throughput ({r.plan.throughput_s:g} s closed loop per concurrency; client "
            f"processes {procs}).",
            throughput,
            _warm_targets(r),
        ]
    )


def _warm_targets(r: Results) -> str:
    rust = next((w for w in r.warm if w.key == "rust"), None)
    if rust is None or 8 not in rust.runs:
        return ""
    p50 = median(rust.latency.latencies_ms)
    c8 = rust.runs[8].throughput
    return (
        f"Against DESIGN.md's targets (Rust no-op): warm p50 {ms(p50)} ms "
        f"(target ≤ {TARGET_WARM_P50_MS} ms: {'met' if p50 <= TARGET_WARM_P50_MS else 'not met'}); "
        f"{rate(c8)} invokes/s at concurrency 8 (target ≥ {TARGET_THROUGHPUT_C8:,.0f}: "
        f"{'met' if c8 >= TARGET_THROUGHPUT_C8 else 'not met'})."
    )


def _cold_row(c: ColdResult, count: int, with_aws: bool) -> list[str]:
    init50 = _p(c.init_ms, 50)
    overhead = [w - i for w, i in zip(c.wall_ms, c.init_ms, strict=True)]
    row = [
        f"{c.fn.label} ({c.fn.runtime})",
        c.interpreter or "—",
        f"{len(c.init_ms)}/{count}",
        ms(init50),
        ms(_p(c.init_ms, 90)),
        ms(max(c.init_ms) if c.init_ms else None),
        ms(_p(c.wall_ms, 50)),
        ms(_p(overhead, 50)),
        mb(_p(c.max_memory_mb, 50)),
    ]
    if with_aws:
        aws = c.fn.aws
        row += [
            ms(aws.init_ms) if aws else "—",
            times(ratio(init50, aws.init_ms) if aws and aws.init_ms and init50 else None),
            mb(aws.max_memory_mb) if aws else "—",
        ]
    return row


COLD_HEADERS = [
    "function",
    "runs on",
    "cold",
    "Init p50 ms",
    "Init p90 ms",
    "Init max ms",
    "e2e p50 ms",
    "e2e - Init p50 ms",
    "Max Mem p50 MB",
]
AWS_HEADERS = ["AWS Init avg ms", "Init p50 vs AWS", "AWS Max Mem MB"]


def cold_section(r: Results) -> str:
    sizes = sorted({c.memory_mb for c in r.cold})
    parts = [
        f"### Cold start: {r.cold_count} forced cold starts per function",
        "Each cold start is forced by an UpdateFunctionConfiguration (a changed environment "
        "variable) before the invoke. `Init Duration` and `Max Memory Used` come from each "
        "invoke's REPORT line; `e2e` is the client's wall time for the whole cold invoke; "
        "`e2e - Init` is everything else (API, scheduling, the first invoke itself). "
        "AWS columns: lambda-perf averages (128 MB, zip, x86_64) from LAMBDA.md; AWS's Node "
        "figure is Node.js 22, here `nodejs20.x` runs on Node 20.",
    ]
    for size in sizes:
        group = [c for c in r.cold if c.memory_mb == size]
        with_aws = size == 128
        headers = COLD_HEADERS + (AWS_HEADERS if with_aws else [])
        rows = [_cold_row(c, r.cold_count, with_aws) for c in group]
        cpu = size / 1769
        parts.append(f"#### {size} MB (CPU quota {cpu:.2f} of a core in the process tier)")
        parts.append(markdown_table(headers, rows, numeric_from=2))
        notes = [
            f"- {c.fn.key}: {c.not_cold} invokes found a warm environment, "
            f"{len(c.failures)} failed"
            + (f" (first: `{c.failures[0][:200]}`)" if c.failures else "")
            for c in group
            if c.not_cold or c.failures
        ]
        if notes:
            parts.append("\n".join(notes))
        rust = next((c for c in group if c.fn.key == "hello-rust"), None)
        if rust is not None and rust.wall_ms:
            w = median(rust.wall_ms)
            parts.append(
                f"Against DESIGN.md's target: a Rust `bootstrap` cold invoke at {size} MB "
                f"takes {ms(w)} ms end to end (target ≤ {TARGET_RUST_COLD_MS:g} ms: "
                f"{'met' if w <= TARGET_RUST_COLD_MS else 'not met'})."
            )
    return "\n\n".join(parts)


def render(r: Results) -> str:
    """The whole results section (without its ``##`` heading)."""
    parts = [machine_section(r)]
    if r.warm:
        parts.append(warm_section(r))
    if r.cold:
        parts.append(cold_section(r))
    if r.warnings:
        shown = "\n".join(r.warnings[:10])
        parts.append(
            f"The server logged {len(r.warnings)} warnings or errors during the run"
            f"{' (first 10)' if len(r.warnings) > 10 else ''}:\n\n```text\n{shown}\n```"
        )
    return "\n\n".join(parts) + "\n"
