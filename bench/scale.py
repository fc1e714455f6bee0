"""Scale-out and density: 0 → N concurrent environments, then what N idle ones cost.

Scale-out: N client threads, each with its own connection, send one invoke at the same
instant to a function that has no environment; each invoke holds its environment for a
short sleep, so every one needs an environment of its own. The figure is the wall time
from the release of the barrier to the last answer, and how many invokes were cold.

Density: right after, the N environments are idle (frozen after the grace period). The
bench reads the machine's ``MemAvailable`` and the Lamina server's RSS before and after,
and the memory charged to the environments' cgroups, and divides by N. The environments
are then retired (an UpdateFunctionConfiguration drains idle ones) before the next
function, so each runtime is measured on its own.
"""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import server_groups
from bench.functions import zip_files
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.together import release_together

SLEEPER = {
    "app.py": "import time\n\ndef handler(event, context):\n    time.sleep(event.get('sleep', 0))\n    return {}\n"
}


@dataclass(frozen=True, slots=True)
class ScaleCase:
    key: str
    label: str
    runtime: str
    handler: str
    code: bytes
    payload: bytes
    snap_start: bool = False


@dataclass(slots=True)
class ScaleResult:
    case: ScaleCase
    count: int
    wall_s: float = 0.0
    cold: int = 0
    restored: int = 0
    errors: list[str] = field(default_factory=list)
    available_drop_mb: float = 0.0  # MemAvailable before - after, whole machine
    cgroup_mb: float = 0.0  # charged to the environments' cgroups (page cache included)
    server_rss_growth_mb: float = 0.0
    available_before_mb: float = 0.0

    def per_env_mb(self) -> float:
        return self.available_drop_mb / self.count if self.count else 0.0


def meminfo_mb(key: str = "MemAvailable") -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def burst(server: LaminaServer, name: str, payload: bytes, count: int) -> tuple[float, list[str]]:
    """``count`` invokes released together; wall seconds and each answer's log tail."""
    request = render_request("POST", invoke_path(name), payload, {"X-Amz-Log-Type": "Tail"})
    conns = [RawConnection(server.host, server.port) for _ in range(count)]
    tails: list[str] = [""] * count

    def one(i: int, go: Callable[[], object]) -> None:
        go()
        answer = conns[i].send_raw(request)
        if answer.status != 200 or answer.header("X-Amz-Function-Error"):
            tails[i] = f"ERROR {answer.status} {answer.body[:200]!r}"
        else:
            tails[i] = base64.b64decode(answer.header("X-Amz-Log-Result") or "").decode()

    t0 = release_together([functools.partial(one, i) for i in range(count)])
    wall = time.perf_counter() - t0
    for c in conns:
        c.close()
    return wall, tails


def measure_case(
    server: LaminaServer, case: ScaleCase, count: int, say: Callable[[str], None]
) -> ScaleResult:
    api = server.api()
    name = f"scale-{case.key}"
    result = ScaleResult(case, count)
    assert server.pid is not None
    try:
        extra = {"SnapStart": {"ApplyOn": "PublishedVersions"}} if case.snap_start else None
        api.create_function(
            name, case.code, case.runtime, case.handler, 128, timeout_s=TIMEOUT_S, extra=extra
        )
        if case.snap_start:
            api.invoke(name, b"{}", tail=False)  # makes the zygote (what a publish does on Lambda)
        time.sleep(0.5)
        before_avail = meminfo_mb()
        before_rss = rss_mb(server.pid)
        before_cg = server_groups.memory_usage_mb(server.pid)
        result.available_before_mb = before_avail
        result.wall_s, tails = burst(server, name, case.payload, count)
        for tail in tails:
            if tail.startswith("ERROR"):
                result.errors.append(tail)
            elif "Init Duration" in tail:
                result.cold += 1
            elif "Restore Duration" in tail:
                result.restored += 1
        time.sleep(1.0)  # idle long enough to be frozen
        result.available_drop_mb = before_avail - meminfo_mb()
        result.server_rss_growth_mb = rss_mb(server.pid) - before_rss
        result.cgroup_mb = server_groups.memory_usage_mb(server.pid) - before_cg
        say(
            f"scale: {case.label}: {count} at once in {result.wall_s * 1000:,.0f} ms "
            f"({result.cold} cold, {result.restored} restored, {len(result.errors)} errors); "
            f"{result.per_env_mb():.2f} MB per idle environment"
        )
        api.set_variables(name, {"BENCH_RETIRE": "1"})  # retires the idle environments
        time.sleep(1.0)
    finally:
        api.close()
    return result


def scale_cases(python_zip: bytes, rust_zip: bytes) -> list[ScaleCase]:
    sleep = b'{"sleep": 0.3}'
    return [
        ScaleCase("rust", "Rust bootstrap", "provided.al2023", "bootstrap", rust_zip, b"{}"),
        ScaleCase("python", "Python 3.11 (INIT each)", "python3.11", "app.handler", python_zip, sleep),
        ScaleCase("python-zygote", "Python 3.11, zygote (SnapStart)", "python3.11", "app.handler",
                  python_zip, sleep, snap_start=True),
    ]  # fmt: skip


def measure_scale(
    server: LaminaServer, count: int, say: Callable[[str], None], rust_zip: bytes
) -> list[ScaleResult]:
    return [
        measure_case(server, case, count, say) for case in scale_cases(zip_files(SLEEPER), rust_zip)
    ]
