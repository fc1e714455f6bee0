"""Charts of the cost tools, drawn with matplotlib (Agg, no display, no global pyplot state).

* the power-tuning curve: latency and cost per million against memory size;
* cold starts: Init Duration and Max Memory Used per runtime, with lambda-perf's AWS figures;
* cost projections: the monthly bill against the request rate, a server's flat price and
  the break-even;
* comparisons: two tuning curves on the same axes.

Each function returns a :class:`matplotlib.figure.Figure`; :func:`png_bytes` and
:func:`svg_text` render it (without a date or creator in the metadata).
matplotlib is an optional dependency (``pip install 'lamina[charts]'``): it is imported
only when a chart is asked for.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lamina.billing.prices import PriceTable
from lamina.billing.projection import (
    SECONDS_PER_MONTH,
    RequestRate,
    ServerPrice,
    Workload,
    break_even,
    project,
)
from lamina.errors import ConfigError
from lamina.tools.coldstart import ColdBench
from lamina.tools.tuner import TuneResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
_METADATA = {"Date": None, "Creator": None}


def _figure(width: float = 9.0, height: float = 5.0) -> Figure:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure
    except ImportError as exc:  # pragma: no cover - matplotlib is a dev dependency
        raise ConfigError(
            "charts need matplotlib: pip install 'lamina[charts]' (or matplotlib)"
        ) from exc
    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return fig


def _plain_numbers(axis: Any) -> None:
    """Log-scale ticks as 300 and 0.01 rather than 3x10^2 and 10^-2."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.10g}"))
    axis.set_minor_formatter(NullFormatter())


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def svg_text(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata=_METADATA)
    return buf.getvalue()


def save(fig: Figure, path: Path) -> None:
    """Write a PNG (or an SVG, by the file's suffix)."""
    if path.suffix.lower() == ".svg":
        path.write_text(svg_text(fig), encoding="utf-8")
    else:
        path.write_bytes(png_bytes(fig))


def tuning_figure(results: Sequence[TuneResult], title: str | None = None) -> Figure:
    """Latency (solid, p50-p90 band) and $ per million (dashed) against memory size."""
    fig = _figure()
    ax = fig.add_subplot()
    cost_ax = ax.twinx()
    sizes: set[int] = set()
    for colour, result in zip(COLOURS, results, strict=False):
        usable = [r for r in result.sizes if r.usable and r.latency is not None]
        if not usable:
            continue
        xs = [r.memory_mb for r in usable]
        sizes.update(xs)
        name = result.plan.function
        ax.plot(
            xs,
            [r.latency.p50 for r in usable if r.latency],
            "-o",
            color=colour,
            label=f"{name}: p50 latency",
        )
        ax.fill_between(
            xs,
            [r.latency.p50 for r in usable if r.latency],
            [r.latency.p90 for r in usable if r.latency],
            color=colour,
            alpha=0.15,
            linewidth=0,
        )
        cost_ax.plot(
            xs,
            [float(r.cost_per_million or 0) for r in usable],
            "--s",
            color=colour,
            alpha=0.8,
            label=f"{name}: $ per 1M",
        )
        best = result.recommended
        if best is not None and best.latency is not None:
            cost_ax.plot(
                [best.memory_mb],
                [float(best.cost_per_million or 0)],
                "*",
                color=colour,
                markersize=18,
                markeredgecolor="black",
                label=f"{name}: best ({result.plan.strategy.value}) {best.memory_mb} MB",
            )
    ax.set_xscale("log", base=2)
    ticks = sorted(sizes)
    crowded = any(b / a < 1.3 for a, b in itertools.pairwise(ticks))
    ax.set_xticks(ticks, [str(t) for t in ticks], rotation=40 if crowded else 0)
    ax.minorticks_off()
    ax.set_xlabel("memory size (MB); CPU is proportional: 1,769 MB = 1 vCPU")
    ax.set_ylabel("latency (ms)")
    low, high = ax.get_ylim()
    if low > 0 and high / low >= 8:  # a log scale only pays when latencies span a decade
        ax.set_yscale("log")
        _plain_numbers(ax.yaxis)
    cost_ax.set_ylabel("$ per million invocations")
    if ticks and ticks[0] <= 1769 <= ticks[-1]:  # one vCPU
        ax.axvline(1769, color="grey", linestyle=":", linewidth=1)
    handles, labels = ax.get_legend_handles_labels()
    more_h, more_l = cost_ax.get_legend_handles_labels()
    ax.legend(handles + more_h, labels + more_l, fontsize=8, loc="upper center")
    names = ", ".join(r.plan.function for r in results)
    ax.set_title(title or f"Power tuning: {names}")
    ax.grid(True, which="major", alpha=0.3)
    return fig


def coldstart_figure(bench: ColdBench) -> Figure:
    """Init Duration distributions per runtime (box + points) beside lambda-perf's AWS averages."""
    fig = _figure(10.0, 5.0)
    ax_init, ax_mem = fig.subplots(1, 2, width_ratios=[3, 2])
    series = [s for s in bench.series if s.init_ms]
    labels = [f"{s.spec.label}\n{s.memory_mb} MB" for s in series]
    positions = list(range(1, len(series) + 1))
    if series:
        ax_init.boxplot(
            [s.init_ms for s in series], positions=positions, widths=0.5, showfliers=False
        )
        ax_mem.boxplot(
            [s.max_memory_mb for s in series], positions=positions, widths=0.5, showfliers=False
        )
    for pos, s, colour in zip(positions, series, COLOURS * 4, strict=False):
        jitter = [pos + 0.12 * ((i % 5) - 2) / 2 for i in range(len(s.init_ms))]
        ax_init.scatter(jitter, s.init_ms, s=12, color=colour, alpha=0.7, zorder=3)
        ax_mem.scatter(jitter, s.max_memory_mb, s=12, color=colour, alpha=0.7, zorder=3)
        if s.spec.aws is not None:
            # AWS's published figure, an open diamond beside Lamina's dots.
            for ax, value in (
                (ax_init, s.spec.aws.init_avg_ms),
                (ax_mem, s.spec.aws.max_memory_mb),
            ):
                ax.scatter(
                    [pos], [value], marker="D", s=60, facecolor="none", edgecolor="black", zorder=4
                )
    for ax in (ax_init, ax_mem):
        ax.set_xticks(positions, labels, fontsize=8)
        ax.grid(True, axis="y", alpha=0.3)
    ax_init.set_ylabel("Init Duration (ms)")
    ax_init.set_title(f"Cold starts on Lamina ({bench.count} per runtime); ◇ = AWS (lambda-perf)")
    ax_mem.set_ylabel("Max Memory Used (MB)")
    ax_mem.set_title("Memory after a cold start")
    return fig


def projection_figure(
    series: Sequence[tuple[str, Workload, str]],
    prices: PriceTable,
    *,
    server: ServerPrice | None = None,
    rate: RequestRate | None = None,
    free_tier: bool = False,
) -> Figure:
    """The monthly bill against the request rate (log-log), with a server's flat price."""
    fig = _figure()
    ax = fig.add_subplot()
    per_second = [10 ** (k / 8) for k in range(-16, 33)]  # 0.01 to 10,000 requests a second
    for index, (colour, (label, workload, arch)) in enumerate(zip(COLOURS, series, strict=False)):
        costs = [
            float(
                project(
                    workload,
                    round(r * SECONDS_PER_MONTH),
                    prices,
                    free_tier=free_tier,
                    architecture=arch,
                ).total
            )
            for r in per_second
        ]
        ax.plot(per_second, [max(c, 1e-4) for c in costs], color=colour, label=f"{label} ({arch})")
        if server is not None:
            even = break_even(workload, server, prices, free_tier=free_tier, architecture=arch)
            if even.per_second is not None and even.per_second > 0:
                x = float(even.per_second)
                ax.plot([x], [float(server.per_month)], "o", color=colour)
                ax.annotate(
                    f"{x:,.1f}/s",
                    (x, float(server.per_month)),
                    fontsize=8,
                    textcoords="offset points",
                    xytext=(6, -14 - 12 * index),
                    color=colour,
                )
    if server is not None:
        ax.axhline(
            float(server.per_month),
            color="black",
            linestyle="--",
            label=f"server: ${server.per_month:,.2f} a month",
        )
    if rate is not None:
        ax.axvline(float(rate.per_second), color="grey", linestyle=":", label=f"rate: {rate.text}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _plain_numbers(ax.xaxis)
    _plain_numbers(ax.yaxis)
    ax.set_xlabel("requests per second (a month is 730 h)")
    ax.set_ylabel("$ per month on Lambda" + (" (free tier applied)" if free_tier else ""))
    ax.set_title("What it costs per month at a request rate")
    ax.grid(True, which="both", alpha=0.2)
    ax.legend(fontsize=8)
    return fig
