"""Report sections for the peers, zygote cold starts, scale-out and density (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.cold import ColdResult
from bench.peers import PeerResult
from bench.scale import ScaleResult
from bench.stats import median, percentile, ratio
from bench.table import markdown_table, mb, ms, rate, times
from bench.warm import WarmResult

TARGET_ZYGOTE_COLD_MS = 15.0
TARGET_DENSITY = 1000
TARGET_PLATFORM_MB_PER_ENV = 1.0
MACHINE_GB = 24


@dataclass(frozen=True, slots=True)
class MoreResults:
    forked: list[ColdResult] = field(default_factory=list)
    peers: list[PeerResult] = field(default_factory=list)
    scale: list[ScaleResult] = field(default_factory=list)
    spawn_floor_ms: list[float] = field(default_factory=list)


def forked_section(forked: list[ColdResult], spawn_floor_ms: list[float]) -> str:
    rows = []
    for c in forked:
        wall = c.wall_ms
        rows.append(
            [
                c.fn.label,
                c.interpreter,
                f"{len(c.init_ms)}",
                ms(percentile(c.init_ms, 50) if c.init_ms else None),
                ms(percentile(c.init_ms, 90) if c.init_ms else None),
                ms(median(wall) if wall else None),
                mb(median(c.max_memory_mb) if c.max_memory_mb else None),
            ]
        )
    if spawn_floor_ms:
        rows.append(
            [
                "floor: fork/exec of the Rust bootstrap until it exits (no Lamina, no sandbox)",
                "—",
                f"{len(spawn_floor_ms)}",
                ms(median(spawn_floor_ms)),
                ms(percentile(spawn_floor_ms, 90)),
                "—",
                "—",
            ]
        )
    table = markdown_table(
        ["function", "reported as", "cold", "start p50 ms", "start p90 ms", "e2e p50 ms",
         "Max Mem p50 MB"],
        rows,
        numeric_from=2,
    )  # fmt: skip
    zyg = next((c for c in forked if c.fn.key == "py-zygote"), None)
    verdict = ""
    if zyg is not None and zyg.wall_ms:
        w = median(zyg.wall_ms)
        verdict = (
            f"Against DESIGN.md's target: a Python cold invoke from a zygote takes {ms(w)} ms "
            f"end to end at {zyg.memory_mb} MB (target ≤ {TARGET_ZYGOTE_COLD_MS:g} ms: "
            f"{'met' if w <= TARGET_ZYGOTE_COLD_MS else 'not met'})."
        )
    return "\n\n".join(
        [
            "### Cold start from a zygote (Lamina's SnapStart)",
            "The same Python 3.11 function (128 MB) with SnapStart off and on. A cold start "
            "is forced by a crash before each measured invoke (it retires the environment, "
            "not the zygote). `start` is `Init Duration` without a zygote and `Restore "
            "Duration` with one, from each REPORT line; `e2e` is the client's wall time.",
            table,
            verdict,
        ]
    )


def peers_section(peers: list[PeerResult], lamina: list[WarmResult]) -> str:
    by_key = {w.key: w for w in lamina}
    rows = []
    for peer in peers:
        for w in peer.warm:
            fn_key = w.key[len(peer.peer) + 1 :]  # "<peer name>-<function key>"
            mine = by_key.get(fn_key)
            lat = w.latency.latencies_ms
            p50 = median(lat)
            mine_p50 = median(mine.latency.latencies_ms) if mine else None
            cells = [
                w.label,
                ms(p50),
                ms(percentile(lat, 99)),
                *(rate(w.runs[c].throughput) if c in w.runs else "—" for c in (1, 8, 64)),
                times(ratio(p50, mine_p50) if mine_p50 else None),
                times(
                    ratio(mine.runs[8].throughput, w.runs[8].throughput)
                    if mine and 8 in mine.runs and 8 in w.runs and w.runs[8].throughput
                    else None
                ),
            ]
            rows.append(cells)
    parts = [
        "### Peers: the same no-op functions, same machine, same run",
        "Each peer runs the warm no-op functions of the table above with the same client, "
        "phases and memory size. `Lamina is N x faster` columns: the peer's p50 divided by "
        "Lamina's, and Lamina's concurrency-8 throughput divided by the peer's.",
    ]
    if rows:
        parts.append(
            markdown_table(
                [
                    "target",
                    "p50 ms",
                    "p99 ms",
                    "c=1 /s",
                    "c=8 /s",
                    "c=64 /s",
                    "Lamina faster (p50)",
                    "Lamina faster (c=8)",
                ],
                rows,
            )
        )
    cold_rows = []
    for peer in peers:
        for key, samples in peer.cold_ms.items():
            if samples:
                cold_rows.append([f"{peer.peer}: {key}", f"{len(samples)}", ms(median(samples))])
    if cold_rows:
        parts.append(
            "Peers' cold starts (a new function's first invoke, 128 MB, client wall time):"
        )
        parts.append(markdown_table(["target", "cold", "e2e p50 ms"], cold_rows))
    versions = "; ".join(f"{p.peer}: {p.version or '?'}" for p in peers)
    parts.append(f"Versions: {versions}.")
    cannot = [f"- **{p.peer}**, {what}: {why}." for p in peers for what, why in p.cannot]
    if cannot:
        parts.append("What the peers could not run, and why:\n\n" + "\n".join(cannot))
    return "\n\n".join(parts)


def scale_section(scale: list[ScaleResult]) -> str:
    rows = []
    for s in scale:
        per_env = s.per_env_mb()
        fit = int(s.available_before_mb / per_env) if per_env > 0 else None
        rows.append(
            [
                s.case.label,
                f"{s.count}",
                ms(s.wall_s * 1000),
                f"{s.cold} / {s.restored}",
                f"{len(s.errors)}",
                f"{per_env:.2f}",
                f"{s.cgroup_mb / s.count:.2f}" if s.count else "—",
                f"{s.server_rss_growth_mb / s.count * 1024:.0f}" if s.count else "—",
                f"{fit:,}" if fit else "—",
            ]
        )
    table = markdown_table(
        ["function (128 MB)", "invokes at once", "0 → all answered ms", "cold / restored",
         "errors", "MB per idle env (machine)", "MB per env (cgroups)",
         "server KB per env", "idle envs that fit in the free memory"],
        rows,
    )  # fmt: skip
    notes = []
    for s in scale:
        per_env = s.per_env_mb()
        if per_env > 0:
            fits = s.available_before_mb / per_env
            notes.append(
                f"{s.case.label}: about {fits:,.0f} idle environments fit in the "
                f"{s.available_before_mb / 1024:.1f} GiB that were free (target ≥ "
                f"{TARGET_DENSITY:,} on a {MACHINE_GB} GB machine: "
                f"{'met' if fits >= TARGET_DENSITY else 'not met'}); Lamina's own memory "
                f"grew {s.server_rss_growth_mb / s.count * 1024:.0f} KB per environment "
                f"(target ≤ {TARGET_PLATFORM_MB_PER_ENV:g} MB: "
                f"{'met' if s.server_rss_growth_mb / s.count <= TARGET_PLATFORM_MB_PER_ENV else 'not met'})."
            )
    return "\n\n".join(
        [
            "### Scale-out and density",
            "N invokes released at the same instant against a function with no "
            "environment (the Python ones sleep 0.3 s, so each needs an environment of its "
            "own; the Rust no-op answers at once, so its environments are reused as soon as "
            "they are free). Then the environments idle (frozen) and the bench divides the "
            "drop of the machine's `MemAvailable` by N; `cgroups` is what the environments' "
            "memory cgroups were charged; `server` is the growth of Lamina's RSS. The fit "
            "column extrapolates linearly from N to the memory that was free.",
            table,
            "\n".join(f"- {n}" for n in notes),
        ]
    )


def render_more(more: MoreResults, lamina_warm: list[WarmResult]) -> str:
    parts = []
    if more.forked or more.spawn_floor_ms:
        parts.append(forked_section(more.forked, more.spawn_floor_ms))
    if more.scale:
        parts.append(scale_section(more.scale))
    if more.peers:
        parts.append(peers_section(more.peers, lamina_warm))
    return "\n\n".join(parts)
