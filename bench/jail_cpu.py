"""CPU time of one jailed environment's start and end, per isolation feature (needs root).

Spawns ``/bin/true`` through the process tier (``lamina.sandbox``) with each feature on
its own and all together, round-robin, and reads the CPU time of the jail's whole process
tree (jail, init, runtime) from ``wait4``. CPU time, unlike wall time, hardly moves with
the load other work puts on a shared machine; it leaves out what the kernel does later
in its own threads (freeing a network namespace) and what the pools do in the background.

    sudo .venv/bin/python -m bench.jail_cpu --count 40
    sudo .venv/bin/python -m bench.jail_cpu --count 40 --command "/usr/bin/python3 -c pass"

``--command`` runs something else than ``/bin/true`` (a program under ``/usr``); the wall
time from ``spawn`` to the tree's exit is printed too (it moves with the machine's load).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import lamina.sandbox.child as child_module
from lamina.config import Settings
from lamina.sandbox import Limits, SandboxSpec, create_sandbox
from lamina.sandbox.process_tier import ProcessSandbox

VARIANTS: dict[str, dict[str, Any]] = {
    "host tree, host network, tmpfs /tmp": dict(
        network_isolation=False, own_rootfs=False, ephemeral_on_disk=False
    ),
    "+ own network namespace (pooled)": dict(
        network_isolation=True, own_rootfs=False, ephemeral_on_disk=False
    ),
    "+ own root filesystem": dict(
        network_isolation=False, own_rootfs=True, ephemeral_on_disk=False
    ),
    "+ /tmp volume (pooled)": dict(
        network_isolation=False, own_rootfs=False, ephemeral_on_disk=True
    ),
    "everything": dict(network_isolation=True, own_rootfs=True, ephemeral_on_disk=True),
}

_last_cpu_ms: list[float] = [0.0]


def _reap_with_rusage(self: child_module.Child) -> None:
    """``Child._reap`` with ``wait4``: the tree's CPU time comes with the exit status."""
    self._loop.remove_reader(self._pidfd)
    os.close(self._pidfd)
    _, status, usage = os.wait4(self.pid, 0)
    _last_cpu_ms[0] = (usage.ru_utime + usage.ru_stime) * 1000
    code = os.waitstatus_to_exitcode(status)
    self._exited.set_result(128 - code if code < 0 else code)


async def run(count: int, argv: list[str]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    base = Path(tempfile.mkdtemp(prefix="lamina-jail-cpu-"))
    code = base / "code"
    code.mkdir()
    boxes: dict[str, ProcessSandbox] = {}
    for i, (name, features) in enumerate(VARIANTS.items()):
        settings = Settings(data_dir=base / f"d{i}", isolation="process", **features)
        box = create_sandbox(settings, cgroup_group=f"lamina-jail-cpu-{os.getpid()}-{i}")
        assert isinstance(box, ProcessSandbox)
        box.warm_up()
        if box.network is not None:
            box.network.start(None, None)
        boxes[name] = box
    await asyncio.sleep(2)  # let the pools fill
    samples: dict[str, list[float]] = {name: [] for name in boxes}
    walls: dict[str, list[float]] = {name: [] for name in boxes}
    n = 0
    try:
        for round_ in range(count + 3):
            for name, box in boxes.items():
                n += 1
                net = await box.network.take() if box.network is not None else None
                spec = SandboxSpec(
                    env_id=f"cpu{os.getpid()}-{n}",
                    argv=argv,
                    env={"PATH": "/usr/bin:/bin"},
                    code_dir=code,
                    runtime_dir=None,
                    limits=Limits(memory_mb=128),
                    netns_fd=net.fd if net is not None else None,
                )
                read_fd, write_fd = os.pipe()
                t0 = time.perf_counter()
                process = await box.spawn(spec, write_fd)
                os.close(write_fd)
                status = await process.wait()
                wall_ms = (time.perf_counter() - t0) * 1000
                await process.kill()
                if net is not None:
                    net.close()
                os.close(read_fd)
                if status != 0:
                    raise RuntimeError(f"{name}: {argv[0]} exited {status}")
                if round_ >= 3:
                    samples[name].append(_last_cpu_ms[0])
                    walls[name].append(wall_ms)
                await asyncio.sleep(0.02)
    finally:
        for box in boxes.values():
            box.close()
    return samples, walls


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--command", default="/bin/true", help="what runs in the jail")
    args = p.parse_args()
    child_module.Child._reap = _reap_with_rusage  # type: ignore[method-assign]
    samples, walls = asyncio.run(run(args.count, shlex.split(args.command)))
    first = statistics.median(next(iter(samples.values())))
    first_wall = statistics.median(next(iter(walls.values())))
    print(f"`{args.command}`, load average {os.getloadavg()[0]:.1f}")
    print("| configuration | CPU p50 ms | vs first ms | wall p50 ms | vs first ms |")
    print("|---|---|---|---|---|")
    for name, values in samples.items():
        p50, wall = statistics.median(values), statistics.median(walls[name])
        print(
            f"| {name} | {p50:.2f} | {p50 - first:+.2f} | {wall:.2f} | {wall - first_wall:+.2f} |"
        )


if __name__ == "__main__":
    main()
