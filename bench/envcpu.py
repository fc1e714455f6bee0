"""CPU per warm invoke, split by who spends it: the environment, its runtime, the server.

Wall-clock latency swings 2-3x on a shared machine; CPU time spent on a fixed number of
invokes holds up much better. This starts a server, creates one no-op function, warms it,
then makes ``--invokes`` sequential invokes on one keep-alive connection (concurrency 1,
the same raw-socket client as ``bench.invoke``) and reads, before and after:

* the environment's cgroup CPU (v1 ``cpuacct.usage``, v2 ``cpu.stat``): everything its
  processes spent, the kernel's share of their socket calls included;
* the runtime process's own user and system time (``/proc/<pid>/stat``);
* the server process's user and system time.

    python -m bench.envcpu --function python --invokes 3000

Run it once per checkout, interleaved (A, B, A, B), and compare medians.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.functions import WARM_FUNCTIONS
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.stats import median, percentile

FUNCTION_NAME = "envcpu"
WARMUP_INVOKES = 300
CGROUP_MOUNT = Path("/sys/fs/cgroup")


@dataclass(frozen=True, slots=True)
class ProcCpu:
    """A process's user and system time, in clock ticks."""

    user: int
    system: int


def proc_cpu(pid: int) -> ProcCpu:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return ProcCpu(int(fields[11]), int(fields[12]))


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (through ``/proc/<pid>/task/*/children``)."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # it exited meanwhile
        for task in tasks:
            try:
                kids = [
                    int(x) for x in Path(f"/proc/{parent}/task/{task}/children").read_text().split()
                ]
            except OSError:
                continue
            found += kids
            todo += kids
    return found


def cpu_file(cgroup_text: str) -> Path:
    """The CPU accounting file of the group a ``/proc/<pid>/cgroup`` text names."""
    unified: str | None = None
    for line in cgroup_text.splitlines():
        _, controllers, path = line.split(":", 2)
        if "cpuacct" in controllers.split(","):
            return CGROUP_MOUNT / controllers / path.lstrip("/") / "cpuacct.usage"
        if controllers == "":
            unified = path
    if unified is None:
        raise SystemExit("the runtime is in no CPU-accounted cgroup")
    return CGROUP_MOUNT / unified.lstrip("/") / "cpu.stat"


def cpu_ns(path: Path) -> int:
    text = path.read_text()
    if path.name == "cpuacct.usage":
        return int(text.strip())
    usage = next(line for line in text.splitlines() if line.startswith("usage_usec "))
    return int(usage.split()[1]) * 1000


def runtime_pid(server_pid: int) -> int:
    """The environment's runtime: the newest descendant that is not the sandbox's helper."""
    pids = [p for p in children(server_pid) if Path(f"/proc/{p}/cgroup").exists()]
    inside = [p for p in pids if "/lamina/" in Path(f"/proc/{p}/cgroup").read_text()]
    if not inside:
        raise SystemExit("no environment process found under the server")
    return max(inside, key=lambda p: proc_cpu(p).user + proc_cpu(p).system)


def run(function: str, invokes: int) -> str:
    fn = next(f for f in WARM_FUNCTIONS if f.key == function)
    hz = os.sysconf("SC_CLK_TCK")
    with LaminaServer() as server:
        assert server.pid is not None
        api = server.api()
        try:
            api.create_function(
                FUNCTION_NAME, fn.code(), fn.runtime, fn.handler, 1769, timeout_s=TIMEOUT_S
            )
            api.invoke(FUNCTION_NAME, b"{}")
        finally:
            api.close()
        request = render_request("POST", invoke_path(FUNCTION_NAME), b"{}")
        latencies: list[float] = []
        clock = time.perf_counter_ns
        with RawConnection(server.host, server.port) as conn:
            for _ in range(WARMUP_INVOKES):
                conn.send_raw(request)
            runtime = runtime_pid(server.pid)
            group = cpu_file(Path(f"/proc/{runtime}/cgroup").read_text())
            env0, rt0, srv0 = cpu_ns(group), proc_cpu(runtime), proc_cpu(server.pid)
            for _ in range(invokes):
                t0 = clock()
                answer = conn.send_raw(request)
                latencies.append((clock() - t0) / 1e6)
                if answer.status != 200 or "x-amz-function-error" in answer.headers:
                    raise SystemExit(f"invoke failed: {answer.status} {answer.body[:200]!r}")
            env1, rt1, srv1 = cpu_ns(group), proc_cpu(runtime), proc_cpu(server.pid)

    def per_invoke_us(ticks: int) -> float:
        return ticks / hz / invokes * 1e6

    return (
        f"{fn.label}: {invokes} invokes, load {os.getloadavg()[0]:.1f}\n"
        f"  environment cgroup CPU  {(env1 - env0) / invokes / 1000:7.1f} us/invoke\n"
        f"  runtime process         {per_invoke_us(rt1.user - rt0.user):7.1f} us user"
        f" + {per_invoke_us(rt1.system - rt0.system):.1f} us system per invoke\n"
        f"  server process          {per_invoke_us(srv1.user - srv0.user):7.1f} us user"
        f" + {per_invoke_us(srv1.system - srv0.system):.1f} us system per invoke\n"
        f"  latency p50 {median(latencies):.3f} ms, p90 {percentile(latencies, 90):.3f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.envcpu", description=__doc__.split("\n")[0])
    p.add_argument("--function", default="python", choices=[f.key for f in WARM_FUNCTIONS])
    p.add_argument("--invokes", type=int, default=3000)
    args = p.parse_args(argv)
    if args.invokes < 1:
        p.error("--invokes must be at least 1")
    print(run(args.function, args.invokes))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
