"""Measure the durable queue's enqueue latency (not a test; run by hand).

    .venv/bin/python -m tests.events.bench_enqueue [DIR]

Prints p50/p99 of ``await queue.enqueue(...)`` (commit included) for one caller at a time
and for 64 concurrent callers (group commit), with fsync on (synchronous=FULL) and off.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lamina.events.asyncinvoke.store import AsyncInvokeStore


async def measure(path: Path, fsync: bool, concurrency: int, n: int) -> tuple[float, float, float]:
    store = AsyncInvokeStore(path, fsync=fsync)
    payload = b'{"hello":"world"}' * 8
    latencies: list[float] = []

    async def one(i: int) -> None:
        t0 = time.perf_counter()
        await store.insert(f"{fsync}-{concurrency}-{i}", "fn", None, payload, time.time())
        latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    for start in range(0, n, concurrency):
        await asyncio.gather(*(one(i) for i in range(start, min(n, start + concurrency))))
    elapsed = time.perf_counter() - started
    store.close()
    q = statistics.quantiles(latencies, n=100)
    return q[49] * 1000, q[98] * 1000, n / elapsed


async def main(root: Path) -> None:
    for fsync in (True, False):
        for conc in (1, 64):
            p50, p99, rate = await measure(root / f"q-{fsync}-{conc}.db", fsync, conc, 2000)
            print(
                f"fsync={'on ' if fsync else 'off'} concurrency={conc:<3} "
                f"p50 {p50:.3f} ms  p99 {p99:.3f} ms  {rate:,.0f} events/s"
            )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(dir=sys.argv[1] if len(sys.argv) > 1 else None) as d:
        asyncio.run(main(Path(d)))
