"""``python -m bench.concurrency``: c=8 against c=64 for one no-op, with the CPU it costs.

One server, one no-op function (1769 MB, as ``bench.invoke`` uses), warmed exactly as
``bench.invoke`` warms it (:func:`bench.warm.warm_up`); then ``--rounds`` pairs of runs,
c=8 then c=64, each ``--seconds`` long. For every run it prints throughput, p50, p99,
and CPU per invoke: the environments' (the sum of their cgroups' ``cpuacct.usage``, or
v2 ``cpu.stat``) and the server's (``/proc/<pid>/stat``). CPU per invoke holds up on a
shared machine far better than throughput does; quote both with the load average.

With ``bench/freeze_hook`` on ``PYTHONPATH`` and ``LAMINA_BENCH_FREEZES`` set, it also
prints per run the freezes and thaws the server made and how many thaws an event waited
over 5 ms for (the hook's docstring says how).

    python -m bench.concurrency --function node --rounds 3
    LAMINA_BENCH_FREEZES=/tmp/freezes PYTHONPATH=$PWD:$PWD/bench/freeze_hook \
        python -m bench.concurrency --function python --rounds 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.functions import WARM_FUNCTIONS
from bench.load import Target, run_load
from bench.rawhttp import render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path
from bench.stats import median, percentile
from bench.warm import WarmPlan, warm_up

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CGROUP_MOUNT = Path("/sys/fs/cgroup")
FREEZES = os.environ.get("LAMINA_BENCH_FREEZES")  # bench/freeze_hook's output, if set


def _children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (read from /proc, so a racing exit is skipped)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _usage_file(pid: int) -> Path | None:
    """The CPU accounting file of the cgroup ``pid`` is in, if it is an environment's."""
    try:
        lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, group = line.split(":", 2)
        if "/lamina/" not in group:
            continue
        if "cpuacct" in controllers.split(","):
            return CGROUP_MOUNT / "cpuacct" / group.lstrip("/") / "cpuacct.usage"
        if controllers == "":
            return CGROUP_MOUNT / group.lstrip("/") / "cpu.stat"
    return None


def _read_ns(path: Path) -> int:
    try:
        text = path.read_text()
    except OSError:
        return 0
    if path.name == "cpu.stat":
        for line in text.splitlines():
            if line.startswith("usage_usec "):
                return int(line.split()[1]) * 1000
        return 0
    return int(text)


def env_cpu_ns(server_pid: int) -> dict[Path, int]:
    """CPU used so far by each environment cgroup of the server's descendants."""
    files = {f for f in map(_usage_file, _children(server_pid)) if f is not None}
    return {f: _read_ns(f) for f in files}


def env_sys_ns(usage: dict[Path, int]) -> dict[Path, int]:
    """The kernel's part of :func:`env_cpu_ns` (v1 ``cpuacct.usage_sys``; v2: none)."""
    return {
        f: _read_ns(f.with_name("cpuacct.usage_sys")) for f in usage if f.name == "cpuacct.usage"
    }


def freeze_counts(server_pid: int) -> dict[str, int]:
    """What bench/freeze_hook counted in the server so far (empty without the hook)."""
    if not FREEZES:
        return {}
    try:
        counts: dict[str, int] = json.loads(Path(f"{FREEZES}.{server_pid}").read_text())
    except (OSError, ValueError):
        return {}
    return counts


def proc_cpu_ns(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1_000_000_000 // CLOCK_TICKS


@dataclass(frozen=True, slots=True)
class Round:
    concurrency: int
    throughput: float
    p50_ms: float
    p99_ms: float
    env_us: float  # environments' CPU per invoke
    env_sys_us: float  # the kernel's part of it
    server_us: float
    environments: int
    freezes: dict[str, int]  # bench/freeze_hook's counts during the run (empty without it)


def measure(server: LaminaServer, target_request: bytes, c: int, seconds: float) -> Round:
    assert server.pid is not None
    target = Target(server.host, server.port, target_request)
    env0 = env_cpu_ns(server.pid)
    sys0 = env_sys_ns(env0)
    srv0 = proc_cpu_ns(server.pid)
    frz0 = freeze_counts(server.pid)
    result = run_load(target, c, seconds)
    srv1 = proc_cpu_ns(server.pid)
    env1 = env_cpu_ns(server.pid)
    sys1 = env_sys_ns(env1)
    if FREEZES:
        time.sleep(0.2)  # the hook writes its counts every 0.1 s
    frz1 = freeze_counts(server.pid)
    if result.errors:
        raise SystemExit(f"c={c}: {result.errors} errors, first: {result.first_error}")
    # An environment born during the run counts from zero (its INIT included).
    env_ns = sum(v - env0.get(k, 0) for k, v in env1.items())
    sys_ns = sum(v - sys0.get(k, 0) for k, v in sys1.items())
    n = max(result.ok, 1)
    return Round(
        c,
        result.throughput,
        median(result.latencies_ms),
        percentile(result.latencies_ms, 99),
        env_ns / n / 1000,
        sys_ns / n / 1000,
        (srv1 - srv0) / n / 1000,
        len(env1),
        {k: v - frz0.get(k, 0) for k, v in frz1.items()},
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.concurrency", description=__doc__)
    p.add_argument("--function", default="node", choices=[f.key for f in WARM_FUNCTIONS])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=4.0)
    p.add_argument("--concurrency", type=int, nargs="+", default=[8, 64])
    args = p.parse_args(argv)
    fn = next(f for f in WARM_FUNCTIONS if f.key == args.function)
    plan = WarmPlan()
    print(f"load average before: {os.getloadavg()}", file=sys.stderr)
    with LaminaServer() as server:
        api = server.api()
        try:
            name = f"conc-{fn.key}"
            api.create_function(
                name, fn.code(), fn.runtime, fn.handler, plan.memory_mb, timeout_s=TIMEOUT_S
            )
            request = render_request("POST", invoke_path(name), b"{}")
            warm_up(api, fn, name, Target(server.host, server.port, request), plan)
        finally:
            api.close()
        extra = " freezes / thaws / waits > 5 ms |" if FREEZES else ""
        print(
            "| round | c | invokes/s | p50 ms | p99 ms | p99/p50 | env CPU µs/inv | of which kernel | server CPU µs/inv | envs |"
            + extra
        )
        print("|---|---|---|---|---|---|---|---|---|---|" + ("---|" if FREEZES else ""))
        for i in range(args.rounds):
            for c in args.concurrency:
                r = measure(server, request, c, args.seconds)
                print(
                    f"| {i + 1} | {c} | {r.throughput:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
                    f"| {r.p99_ms / r.p50_ms:.1f} | {r.env_us:,.0f} | {r.env_sys_us:,.0f} | {r.server_us:,.0f} "
                    f"| {r.environments} |"
                    + (
                        f" {r.freezes.get('freezes', 0)} / {r.freezes.get('thaws', 0)}"
                        f" / {r.freezes.get('waited_5ms', 0)} |"
                        if FREEZES
                        else ""
                    ),
                    flush=True,
                )
        for w in server.warnings():
            print(w, file=sys.stderr)
    print(f"load average after: {os.getloadavg()}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
