"""Density: how many frozen idle environments fit, measured with the Rust hello at 128 MB.

    .venv/bin/python -m bench.density --count 200
    LAMINA_CONCURRENCY_LIMIT=1100 .venv/bin/python -m bench.density --count 1050 --warm 50

Releases ``count`` invokes of a Rust ``bootstrap`` at once, so (nearly) every one starts an
environment of its own, waits until they are idle and frozen, then reads what they cost:
the machine's ``MemAvailable`` drop, the memory charged to the environments' cgroups, the
sum of their processes' PSS (``/proc/<pid>/smaps_rollup``: shared pages divided among
sharers) and RSS, the server's own RSS growth, and the ``/tmp`` volumes' disk blocks; then
divides by the number of environments and extrapolates to 1,000. With ``--warm N`` it then
releases N invokes at once again and checks that frozen environments answer them warm
(no ``Init Duration``). Past 1,000 at once, raise ``LAMINA_CONCURRENCY_LIMIT`` (Lambda's
default account limit is 1,000 concurrent executions). A bench, not a test.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from bench.functions import WARM_FUNCTIONS
from bench.scale import burst, cgroup_usage_mb, meminfo_mb, rss_mb
from bench.server import TIMEOUT_S, LaminaServer


def _env_groups(server_pid: int) -> list[Path]:
    for base in (
        Path(f"/sys/fs/cgroup/memory/lamina/s{server_pid}"),
        Path(f"/sys/fs/cgroup/lamina/s{server_pid}"),
    ):
        if base.is_dir():
            return [p for p in base.iterdir() if p.is_dir()]
    return []


def _rollup_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _frozen(groups: list[Path]) -> int:
    """How many environment groups are frozen (v1 ``freezer.state``, v2 ``cgroup.events``)."""
    n = 0
    for group in groups:
        v1 = Path(str(group).replace("/memory/", "/freezer/")) / "freezer.state"
        try:
            if v1.exists():
                n += v1.read_text().strip() == "FROZEN"
            else:
                n += "frozen 1" in (group / "cgroup.events").read_text()
        except OSError:
            continue
    return n


def _left_behind(server_pid: int, data_dir: str) -> list[str]:
    """What of a stopped server is still on the host: its cgroups, loop devices backed by
    its data directory's images (they clear themselves once their filesystem is gone)."""
    left = [str(p) for p in Path("/sys/fs/cgroup").glob(f"**/lamina/s{server_pid}")]
    deadline = time.monotonic() + 30
    while True:
        loops = []
        for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
            try:
                if backing.read_text().startswith(data_dir):
                    loops.append(str(backing.parent.parent.name))
            except OSError:
                continue  # cleared meanwhile
        if not loops or time.monotonic() > deadline:
            return left + [f"/dev/{name}" for name in loops]
        time.sleep(0.2)


def measure(count: int, warm: int) -> None:
    server = LaminaServer(isolation="process").start()
    assert server.pid is not None and server._tmp is not None
    server_pid, data_dir = server.pid, server._tmp.name
    try:
        api = server.api()
        code = WARM_FUNCTIONS[0].code()  # the Rust no-op bootstrap
        api.create_function(
            "density", code, "provided.al2023", "bootstrap", 128, timeout_s=TIMEOUT_S
        )
        time.sleep(1.0)
        avail0, rss0, cg0 = meminfo_mb(), rss_mb(server.pid), cgroup_usage_mb(server.pid)
        used0 = meminfo_mb("MemTotal") - avail0
        wall, tails = burst(server, "density", b"{}", count)
        cold = sum("Init Duration" in t for t in tails)
        errors = [t for t in tails if t.startswith("ERROR")]
        time.sleep(3.0)  # idle past the freeze grace: every environment frozen
        groups = _env_groups(server.pid)
        pids = [
            int(p) for g in groups for p in (g / "cgroup.procs").read_text().split() if p.strip()
        ]
        pss_mb = sum(_rollup_kb(p, "Pss") for p in pids) / 1024
        rss_env_mb = sum(_rollup_kb(p, "Rss") for p in pids) / 1024
        avail_drop = avail0 - meminfo_mb()
        server_growth = rss_mb(server.pid) - rss0
        cg = cgroup_usage_mb(server.pid) - cg0
        assert server._tmp is not None
        volumes = Path(server._tmp.name) / "data" / "ephemeral"
        disk_mb = 0.0
        if volumes.is_dir():
            disk_mb = sum(f.stat().st_blocks * 512 for f in volumes.glob("*.img")) / (1 << 20)
        envs = len(groups)
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        frozen = _frozen(groups)
        print(f"load average at the end: {os.getloadavg()}")
        print(
            f"{count} invokes at once: {envs} environments ({cold} cold, {len(errors)} errors, "
            f"{frozen} frozen) in {wall * 1000:,.0f} ms; {len(pids)} processes; the server "
            f"holds {fds} fds"
        )
        used = meminfo_mb("MemTotal") - meminfo_mb()
        print(
            f"server RSS {rss0:.1f} → {rss_mb(server.pid):.1f} MB; host memory used "
            f"{used0 / 1024:.2f} → {used / 1024:.2f} GiB (MemTotal - MemAvailable)"
        )
        for label, total in (
            ("MemAvailable drop", avail_drop),
            ("cgroups' memory", cg),
            ("PSS of their processes", pss_mb),
            ("RSS of their processes", rss_env_mb),
            ("server RSS growth", server_growth),
            ("/tmp volumes on disk", disk_mb),
        ):
            per = total / envs if envs else 0.0
            print(
                f"  {label:24} {total:9.1f} MB total  {per:7.3f} MB/env  "
                f"→ {per * 1000 / 1024:6.2f} GiB per 1,000"
            )
        if errors:
            print("first error:", errors[0])
        if warm:
            wall, tails = burst(server, "density", b"{}", warm)
            again = sum("Init Duration" in t for t in tails)
            failed = [t for t in tails if t.startswith("ERROR")]
            print(
                f"then {warm} invokes at once: {warm - again - len(failed)} warm, {again} cold, "
                f"{len(failed)} errors in {wall * 1000:,.0f} ms; "
                f"{len(_env_groups(server.pid))} environments"
            )
    finally:
        server.stop()
    left = _left_behind(server_pid, data_dir)
    print(f"left on the host after the server stopped: {', '.join(left) if left else 'nothing'}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--count", type=int, default=200)
    p.add_argument("--warm", type=int, default=0, help="then N invokes at once, expected warm")
    args = p.parse_args()
    measure(args.count, args.warm)


if __name__ == "__main__":
    main()
