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

from bench import server_groups
from bench.functions import WARM_FUNCTIONS
from bench.scale import burst, meminfo_mb, rss_mb
from bench.server import TIMEOUT_S, LaminaServer


def _rollup_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def _left_behind(server_pid: int, data_dir: str) -> list[str]:
    """What of a stopped server is still on the host: its cgroups, loop devices backed by
    its data directory's images (they clear themselves once their filesystem is gone)."""
    left = server_groups.left_behind(server_pid)
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
        avail0, rss0, cg0 = (
            meminfo_mb(),
            rss_mb(server.pid),
            server_groups.memory_usage_mb(server.pid),
        )
        used0 = meminfo_mb("MemTotal") - avail0
        wall, tails = burst(server, "density", b"{}", count)
        cold = sum("Init Duration" in t for t in tails)
        errors = [t for t in tails if t.startswith("ERROR")]
        time.sleep(3.0)  # idle past the freeze grace: every environment frozen
        env_ids = server_groups.environment_ids(server.pid)
        pids = server_groups.processes(server.pid, env_ids)
        pss_mb = sum(_rollup_kb(p, "Pss") for p in pids) / 1024
        rss_env_mb = sum(_rollup_kb(p, "Rss") for p in pids) / 1024
        avail_drop = avail0 - meminfo_mb()
        server_growth = rss_mb(server.pid) - rss0
        cg = server_groups.memory_usage_mb(server.pid) - cg0
        assert server._tmp is not None
        volumes = Path(server._tmp.name) / "data" / "ephemeral"
        disk_mb = 0.0
        if volumes.is_dir():
            disk_mb = sum(f.stat().st_blocks * 512 for f in volumes.glob("*.img")) / (1 << 20)
        envs = len(env_ids)
        fds = len(os.listdir(f"/proc/{server.pid}/fd"))
        frozen = server_groups.frozen_count(server.pid, env_ids)
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
                f"{len(server_groups.environment_ids(server.pid))} environments"
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
