"""What a ``/tmp`` volume costs to make: the pool's way against ``mkfs.ext4`` + ``mount``.

    .venv/bin/python -m bench.volumes --count 40   (root: loop devices and mounts)

Takes ``count`` 512 MB volumes one after another from a :class:`VolumePool` with no
ready volumes (each ``take`` makes one: template copy, loop device, ``fsmount``), then
makes ``count // 4`` the old way (``mkfs.ext4`` and ``mount -o loop`` per volume), and
prints the p50 and p90 wall time of each and the load average. A bench, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from lamina.sandbox.ephemeral import Volume, VolumePool


def _summary(times: list[float]) -> str:
    ordered = sorted(times)
    p90 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.9))]
    return f"p50 {statistics.median(ordered):.2f} ms, p90 {p90:.2f} ms (n={len(ordered)})"


async def _pool_way(pool: VolumePool, count: int) -> tuple[float, list[float]]:
    t0 = time.perf_counter()
    volumes: list[Volume] = []
    first = await pool.take(512)  # also makes the template
    first_ms = (time.perf_counter() - t0) * 1000
    times = []
    for _ in range(count):
        t0 = time.perf_counter()
        volume = await pool.take(512)
        times.append((time.perf_counter() - t0) * 1000)
        if volume is not None:
            volumes.append(volume)
    for volume in [first, *volumes]:
        if volume is not None:
            pool.release(volume)
    return first_ms, times


def _old_way(base: Path, count: int) -> list[float]:
    times = []
    for i in range(count):
        image, mount = base / f"old{i}.img", base / f"old{i}"
        t0 = time.perf_counter()
        with open(image, "wb") as f:
            f.truncate(512 << 20)
        subprocess.run(
            ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
             "-E", "root_owner=993:993,lazy_itable_init=1", str(image)],
            check=True,
        )  # fmt: skip
        mount.mkdir()
        subprocess.run(
            ["mount", "-o", "loop,nosuid,nodev,noatime", str(image), str(mount)], check=True
        )
        times.append((time.perf_counter() - t0) * 1000)
        subprocess.run(["umount", str(mount)], check=True)
        image.unlink()
        mount.rmdir()
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--count", type=int, default=40)
    count = p.parse_args().count
    with tempfile.TemporaryDirectory(prefix="lamina-volumes-") as tmp:
        pool = VolumePool(Path(tmp) / "ephemeral", 993, 993, ready=0)
        try:
            first_ms, times = asyncio.run(_pool_way(pool, count))
        finally:
            pool.close()
        print(f"pool (template copy + loop + fsmount): first {first_ms:.1f} ms, {_summary(times)}")
        print(
            f"mkfs.ext4 + mount -o loop:           {_summary(_old_way(Path(tmp), max(1, count // 4)))}"
        )
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
