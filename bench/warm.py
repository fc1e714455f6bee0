"""Warm invokes: end-to-end latency at concurrency 1 and throughput at 1, 8 and 64.

Every target — the bare floor server and one no-op Lamina function per runtime — gets
the same closed-loop runs from the same raw-socket client (:mod:`bench.load`). Lamina
functions are first warmed: sequential invokes, then a burst at the highest concurrency
so every environment the runs need already exists, so no measured request pays a cold
start.
"""

from __future__ import annotations

import http.client
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.floor import FloorServer
from bench.functions import WARM_FUNCTIONS, BenchFunction
from bench.load import LoadResult, Target, run_load
from bench.rawhttp import render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.stats import median
from lamina.client.lambda_api import LambdaClient


@dataclass(frozen=True, slots=True)
class WarmPlan:
    """How long each phase runs; ``quick`` halves everything down to ~30 s in all."""

    latency_s: float = 5.0
    throughput_s: float = 4.0
    warmup_invokes: int = 300
    warmup_burst_s: float = 2.0
    http_client_invokes: int = 3000
    concurrencies: tuple[int, ...] = (1, 8, 64)
    memory_mb: int = 1769

    @classmethod
    def quick(cls) -> WarmPlan:
        return cls(1.5, 1.0, 100, 1.0, 1000)


@dataclass(slots=True)
class WarmResult:
    """The runs of one target, by concurrency (the concurrency-1 run gives the latency)."""

    key: str
    label: str
    runs: dict[int, LoadResult] = field(default_factory=dict)
    http_client_ms: list[float] = field(default_factory=list)
    runtime_duration_ms: list[float] = field(default_factory=list)  # REPORT Duration

    @property
    def latency(self) -> LoadResult:
        return self.runs[1]


def http_client_latencies(host: str, port: int, path: str, count: int) -> list[float]:
    """Sequential ``http.client`` round trips on one keep-alive connection, in ms."""
    conn = http.client.HTTPConnection(host, port, timeout=120)
    out: list[float] = []
    clock = time.perf_counter_ns
    try:
        for _ in range(count):
            t0 = clock()
            conn.request("POST", path, b"{}")
            conn.getresponse().read()
            out.append((clock() - t0) / 1e6)
    finally:
        conn.close()
    return out


def runs(target: Target, plan: WarmPlan, say: Callable[[str], None]) -> dict[int, LoadResult]:
    runs: dict[int, LoadResult] = {}
    for c in plan.concurrencies:
        seconds = plan.latency_s if c == 1 else plan.throughput_s
        result = run_load(target, c, seconds)
        if result.errors:
            say(f"  concurrency {c}: {result.errors} errors, first: {result.first_error}")
        say(
            f"  concurrency {c}: {result.throughput:,.0f} invokes/s, "
            f"p50 {median(result.latencies_ms):.3f} ms ({result.processes} client processes)"
        )
        runs[c] = result
    return runs


def measure_floor(plan: WarmPlan, say: Callable[[str], None]) -> WarmResult:
    say("floor: bare asyncio server")
    path = invoke_path("floor")
    with FloorServer() as floor:
        target = Target("127.0.0.1", floor.port, render_request("POST", path, b"{}"))
        result = WarmResult("floor", "bare asyncio server (floor)", runs(target, plan, say))
        result.http_client_ms = http_client_latencies(
            "127.0.0.1", floor.port, path, plan.http_client_invokes
        )
    return result


def warm_up(
    api: LambdaClient, fn: BenchFunction, name: str, target: Target, plan: WarmPlan
) -> list[float]:
    """Warm ``name`` as every measured run expects: ``plan.warmup_invokes`` sequential
    invokes, then a burst at the highest concurrency; returns the REPORT durations of
    the sequential ones after the first (cold) one."""
    durations: list[float] = []
    for _ in range(plan.warmup_invokes):
        answer = api.invoke(name, b"{}")
        if answer.function_error:
            raise RuntimeError(f"{fn.key}: warm-up invoke failed: {answer.payload!r}")
        if answer.report is not None:
            durations.append(answer.report.duration_ms)
    # A burst at the highest concurrency creates every environment the runs will use.
    run_load(target, max(plan.concurrencies), plan.warmup_burst_s)
    return durations[1:]  # the first invoke was the cold one


def measure_function(
    server: LaminaServer, fn: BenchFunction, plan: WarmPlan, say: Callable[[str], None]
) -> WarmResult:
    say(f"warm: {fn.label} ({fn.runtime}, {plan.memory_mb} MB)")
    api = server.api()
    name = f"warm-{fn.key}"
    try:
        api.create_function(
            name, fn.code(), fn.runtime, fn.handler, plan.memory_mb, timeout_s=TIMEOUT_S
        )
        target = Target(server.host, server.port, render_request("POST", invoke_path(name), b"{}"))
        durations = warm_up(api, fn, name, target, plan)
        result = WarmResult(fn.key, fn.label, runs(target, plan, say))
        result.runtime_duration_ms = durations
        result.http_client_ms = http_client_latencies(
            server.host, server.port, invoke_path(name), plan.http_client_invokes
        )
    finally:
        api.close()
    return result


def measure_warm(
    server: LaminaServer, plan: WarmPlan, say: Callable[[str], None]
) -> list[WarmResult]:
    """The floor first, then each runtime's no-op function."""
    results = [measure_floor(plan, say)]
    for fn in WARM_FUNCTIONS:
        results.append(measure_function(server, fn, plan, say))
    return results
