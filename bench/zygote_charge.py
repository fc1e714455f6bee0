"""What each forked environment leaves charged to its zygote's own memory cgroup.

A zygote (SnapStart) forks one environment per concurrent cold invoke. Whatever the kernel
charges while a fork is still in the zygote's cgroup stays there until it is freed (cgroup
v1 moves no charge with a task), so a burst of forks can run the zygote's group out of
memory although every fork has a group of its own. This bench starts a real server in a
fresh data directory, makes a SnapStart function's zygote, releases ``--forks`` invokes
that each hold their environment for ``--sleep`` seconds (so each needs an environment of
its own), and reads the zygote group's ``memory.usage_in_bytes`` before the burst and
after it (the forked environments are still alive, idle):

    PYTHONPATH=$PWD .venv/bin/python -m bench.zygote_charge --forks 60

prints the charge's growth per restored environment, in KB, split as ``memory.stat``
splits it (``rss`` is anonymous memory, the rest is mostly kernel memory: page tables,
task structures, kernel stacks, namespaces), and the CPU spent per restored environment
by the functions' processes (the server's cpuacct group: zygote, forks, runtimes) and by
the server itself — readings that hold up on a loaded machine, unlike wall time. cgroup v1 only (the host's memory
controller); ``--rounds`` repeats the burst with a fresh function each time.
"""

from __future__ import annotations

import argparse
import base64
import os
import threading
import time
from pathlib import Path

from bench.functions import zip_files
from bench.rawhttp import RawConnection, render_request
from bench.scale import SLEEPER, burst
from bench.server import TIMEOUT_S, LaminaServer, invoke_path

MEMORY_ROOT = Path("/sys/fs/cgroup/memory/lamina")
CPUACCT_ROOT = Path("/sys/fs/cgroup/cpuacct/lamina")


def cpu_ns(server_pid: int) -> tuple[int, int]:
    """CPU spent so far by every process of the server's groups (zygotes, environments),
    and by the server process itself (user + system), in ns."""
    groups = int((CPUACCT_ROOT / f"s{server_pid}" / "cpuacct.usage").read_text())
    fields = Path(f"/proc/{server_pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime
    return groups, ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def zygote_group(server_pid: int, before: set[Path]) -> Path:
    """The memory cgroup of the zygote the server just made: the one group of the server
    that was not there before and still is (the first invoke's fork has a group too, so
    the zygote's is the one holding the most memory)."""
    groups = [g for g in (MEMORY_ROOT / f"s{server_pid}").iterdir() if g.is_dir()]
    new = [g for g in groups if g not in before]
    if not new:
        raise RuntimeError("no zygote cgroup found under the server's memory group")
    return max(new, key=lambda g: usage_kb(g))


def usage_kb(group: Path) -> int:
    return int((group / "memory.usage_in_bytes").read_text()) // 1024


def stat_kb(group: Path) -> dict[str, int]:
    stat = dict(line.split() for line in (group / "memory.stat").read_text().splitlines())
    return {key: int(stat[key]) // 1024 for key in ("rss", "cache") if key in stat}


def staggered(
    server: LaminaServer, name: str, count: int, sleep_s: float, gap_s: float
) -> tuple[float, list[str]]:
    """``count`` invokes started ``gap_s`` apart, each holding its environment until the
    last has started (each fork request then finds the zygote idle); wall seconds and each
    answer's log tail."""
    tails: list[str] = [""] * count
    t0 = time.perf_counter()

    def one(i: int) -> None:
        hold = sleep_s + (count - i) * gap_s
        request = render_request(
            "POST", invoke_path(name), f'{{"sleep": {hold:.3f}}}'.encode(),
            {"X-Amz-Log-Type": "Tail"},
        )  # fmt: skip
        conn = RawConnection(server.host, server.port)
        try:
            answer = conn.send_raw(request)
        finally:
            conn.close()
        if answer.status != 200 or answer.header("X-Amz-Function-Error"):
            tails[i] = f"ERROR {answer.status} {answer.body[:200]!r}"
        else:
            tails[i] = base64.b64decode(answer.header("X-Amz-Log-Result") or "").decode()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
        time.sleep(gap_s)
    for t in threads:
        t.join()
    return time.perf_counter() - t0, tails


def one_round(
    server: LaminaServer, name: str, forks: int, sleep_s: float, gap_s: float = 0.0
) -> str:
    assert server.pid is not None
    api = server.api()
    try:
        base = MEMORY_ROOT / f"s{server.pid}"
        before_groups = {g for g in base.iterdir() if g.is_dir()} if base.exists() else set()
        api.create_function(
            name,
            zip_files(SLEEPER),
            "python3.11",
            "app.handler",
            128,
            timeout_s=TIMEOUT_S,
            extra={"SnapStart": {"ApplyOn": "PublishedVersions"}},
        )
        api.invoke(name, b"{}", tail=False)  # makes the zygote
        time.sleep(1.0)
        group = zygote_group(server.pid, before_groups)
        usage0, stat0 = usage_kb(group), stat_kb(group)
        cpu0 = cpu_ns(server.pid)
        if gap_s > 0:
            wall, tails = staggered(server, name, forks, sleep_s, gap_s)
        else:
            wall, tails = burst(server, name, f'{{"sleep": {sleep_s}}}'.encode(), forks)
        errors = sum(1 for t in tails if t.startswith("ERROR"))
        restored = sum(1 for t in tails if "Restore Duration" in t)
        cpu1 = cpu_ns(server.pid)
        usage1, stat1 = usage_kb(group), stat_kb(group)
        per = (usage1 - usage0) / restored if restored else float("nan")
        split = ", ".join(
            f"{k} {(stat1[k] - stat0.get(k, 0)) / max(restored, 1):.0f}" for k in stat1
        )
        how = f"{forks} {gap_s * 1000:.0f} ms apart" if gap_s > 0 else f"{forks} at once"
        return (
            f"{how}: {restored} restored, {errors} errors in {wall * 1000:,.0f} ms; "
            f"zygote group {usage0:,} -> {usage1:,} KB: {per:.0f} KB per restored "
            f"environment ({split} KB); CPU per restored environment: functions' groups "
            f"{(cpu1[0] - cpu0[0]) / max(restored, 1) / 1e6:.2f} ms, server "
            f"{(cpu1[1] - cpu0[1]) / max(restored, 1) / 1e6:.2f} ms"
        )
    finally:
        api.set_variables(name, {"BENCH_RETIRE": "1"})  # retires the environments
        api.close()
        time.sleep(1.0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--forks", type=int, default=60, help="invokes released at once")
    p.add_argument("--sleep", type=float, default=2.0, help="seconds each invoke holds")
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument(
        "--gap", type=float, default=0.0,
        help="start the invokes this many seconds apart instead of at once (the zygote "
        "is idle at each fork request)",
    )  # fmt: skip
    args = p.parse_args()
    if not MEMORY_ROOT.parent.exists():
        raise SystemExit("needs cgroup v1's memory controller at /sys/fs/cgroup/memory")
    with LaminaServer(isolation="process") as server:
        for i in range(args.rounds):
            print(one_round(server, f"zcharge-{i}", args.forks, args.sleep, args.gap), flush=True)
        for line in server.warnings()[-10:]:
            print("server:", line)


if __name__ == "__main__":
    main()
