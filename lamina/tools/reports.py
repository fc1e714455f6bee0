"""Each tool's charts and HTML report, and writing them (``--png``, ``--html``).

A tool's result becomes a list of named figures and a list of sections; the same tables
the terminal shows go into the HTML, so the two never disagree.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.billing.prices import PriceTable
from lamina.billing.projection import RequestRate, ServerPrice, Workload
from lamina.tools import charts
from lamina.tools.coldstart import ColdBench
from lamina.tools.coldstart_report import coldstart_table, ranking_lines
from lamina.tools.compare import Comparison
from lamina.tools.compare_report import compare_table, verdict
from lamina.tools.cost_report import CostReport
from lamina.tools.cost_text import break_even_table, groups_table, months_table, projection_table
from lamina.tools.html_report import Section, Table, render
from lamina.tools.tune_report import describe, tune_table, write_verdict
from lamina.tools.tuner import TuneResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True, slots=True)
class Chart:
    name: str  # a file-name suffix: "tuning", "projection", ...
    alt: str
    figure: Figure


def _projection_series(results: Sequence[TuneResult]) -> list[tuple[str, Workload, str]]:
    series = []
    for r in results:
        best = r.recommended
        if best is not None and best.workload is not None:
            label = f"{r.plan.function} at {best.memory_mb} MB"
            series.append((label, best.workload, r.architecture))
    return series


def tune_charts(
    result: TuneResult, prices: PriceTable, rate: RequestRate | None, server: ServerPrice | None
) -> list[Chart]:
    out = [
        Chart("tuning", f"power tuning of {result.plan.function}", charts.tuning_figure([result]))
    ]
    series = _projection_series([result])
    if series and (rate is not None or server is not None):
        out.append(_projection_chart(series, prices, rate, server))
    return out


def _projection_chart(
    series: list[tuple[str, Workload, str]],
    prices: PriceTable,
    rate: RequestRate | None,
    server: ServerPrice | None,
) -> Chart:
    return Chart(
        "projection",
        "monthly cost against request rate",
        charts.projection_figure(series, prices, server=server, rate=rate),
    )


def tune_sections(
    result: TuneResult, prices: PriceTable, rate: RequestRate | None, chart_list: Sequence[Chart]
) -> list[Section]:
    verdict_text = io.StringIO()
    write_verdict(result, verdict_text)
    headers, rows = tune_table(result, prices, rate)
    return [
        Section(
            f"Power tuning: {result.plan.function}",
            paragraphs=[describe(result)],
            charts=[(c.alt, charts.svg_text(c.figure)) for c in chart_list],
            tables=[Table(headers, rows, "per memory size")],
            notes=[line for line in verdict_text.getvalue().splitlines() if line.strip()],
        )
    ]


def compare_charts(
    c: Comparison, prices: PriceTable, rate: RequestRate | None, server: ServerPrice | None
) -> list[Chart]:
    results = [c.a.result, c.b.result]
    out = [
        Chart(
            "tuning",
            f"{c.a.name} and {c.b.name} against memory size",
            charts.tuning_figure(results, f"{c.a.name} vs {c.b.name}"),
        )
    ]
    series = _projection_series(results)
    if series:
        out.append(_projection_chart(series, prices, rate, server))
    return out


def compare_sections(
    c: Comparison, prices: PriceTable, chart_list: Sequence[Chart]
) -> list[Section]:
    headers, rows = compare_table(c)
    sections = [
        Section(
            f"{c.a.name} vs {c.b.name}",
            paragraphs=[verdict(c)],
            charts=[(ch.alt, charts.svg_text(ch.figure)) for ch in chart_list],
            tables=[Table(headers, rows, "each at its best memory size")],
        )
    ]
    for side in (c.a, c.b):
        sections += tune_sections(side.result, prices, c.rate, [])
    return sections


def coldstart_charts(bench: ColdBench) -> list[Chart]:
    return [Chart("coldstart", "cold-start distributions", charts.coldstart_figure(bench))]


def coldstart_sections(bench: ColdBench, chart_list: Sequence[Chart]) -> list[Section]:
    headers, rows = coldstart_table(bench)
    return [
        Section(
            "Cold starts",
            paragraphs=[
                f"{bench.count} forced cold starts per runtime and memory size; "
                "AWS figures: lambda-perf, 128 MB, zip, x86_64."
            ],
            charts=[(c.alt, charts.svg_text(c.figure)) for c in chart_list],
            tables=[Table(headers, rows, "times in ms")],
            notes=ranking_lines(bench),
        )
    ]


def cost_charts(report: CostReport, prices: PriceTable) -> list[Chart]:
    q = report.query
    series = [(o.function, o.workload, o.architecture) for o in report.outlooks]
    if not series:
        return []
    figure = charts.projection_figure(
        series, prices, server=q.server, rate=q.rate, free_tier=q.free_tier
    )
    return [Chart("projection", "monthly cost against request rate", figure)]


def cost_sections(
    report: CostReport, prices: PriceTable, chart_list: Sequence[Chart]
) -> list[Section]:
    q = report.query
    tables = []
    if q.by != "month":
        tables.append(Table(*groups_table(report, prices), f"per {q.by}"))
    if report.months:
        tables.append(Table(*months_table(report), "monthly bill"))
    if q.rate is not None and report.outlooks:
        tables.append(Table(*projection_table(report), f"projection at {q.rate.text}"))
    if q.server is not None and report.outlooks:
        tables.append(Table(*break_even_table(report), f"break-even vs {q.server.text}"))
    return [
        Section(
            "Cost",
            charts=[(c.alt, charts.svg_text(c.figure)) for c in chart_list],
            tables=tables,
            notes=[f"source: {report.source}", *report.notes],
        )
    ]


def write_outputs(
    title: str,
    chart_list: Sequence[Chart],
    sections: Sequence[Section],
    png: Path | None,
    html_path: Path | None,
) -> list[Path]:
    """Write the charts (the first to ``png``, others beside it) and the HTML report."""
    written: list[Path] = []
    if png is not None:
        for i, chart in enumerate(chart_list):
            path = png if i == 0 else png.with_name(f"{png.stem}-{chart.name}{png.suffix}")
            charts.save(chart.figure, path)
            written.append(path)
    if html_path is not None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        html_path.write_text(
            render(title, sections, f"Made by Lamina's cost tools at {stamp}."), encoding="utf-8"
        )
        written.append(html_path)
    return written
