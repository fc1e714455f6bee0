"""Tool results made by hand (no server), for the report, chart and HTML tests."""

from __future__ import annotations

from lamina.billing.prices import PriceTable
from lamina.tools.coldstart import RUNTIMES, ColdBench, ColdSeries
from lamina.tools.preserve import RestoreReport
from lamina.tools.tuner import TunePlan, TuneResult
from lamina.tools.tuning import Sample, Strategy, recommend, summarize


def tune_result(table: PriceTable, name: str = "cpu", scale: float = 1.0) -> TuneResult:
    """A CPU-bound function: 70 ms of CPU, so latency falls to 1,769 MB and then flattens."""
    sizes = (128, 512, 1024, 1769, 3008)
    results = []
    for memory in sizes:
        latency = 70.0 * scale * 1769 / min(memory, 1769)
        runs = [
            Sample(memory, 0, latency + i, int(latency + i) + 1, 20, None, latency + i + 0.5)
            for i in range(5)
        ]
        results.append(
            summarize(memory, runs, architecture="x86_64", table=table, extra_inits=[40.0])
        )
    plan = TunePlan(name, sizes=sizes, invocations=5, strategy=Strategy.COST)
    return TuneResult(
        plan=plan,
        runtime="python3.11",
        architecture="x86_64",
        original_memory_mb=128,
        sizes=results,
        recommended=recommend(results, Strategy.COST),
        restore=RestoreReport(restored=True, verified=True, memory_mb=128),
        first_answer=b'{"ok": true}',
    )


def cold_bench() -> ColdBench:
    series = []
    for key, base in (("rust", 6.0), ("python", 30.0), ("node", 45.0)):
        s = ColdSeries(RUNTIMES[key], 128)
        for i in range(6):
            s.init_ms.append(base + i)
            s.cold_total_ms.append(base + i + 4.0)
            s.duration_ms.append(0.2)
            s.billed_ms.append(base + i + 1)
            s.max_memory_mb.append(base / 2 + 3)
        series.append(s)
    return ColdBench(series, 6)
