"""The cost of EMF extraction: warm invokes of a function printing one EMF line against one
printing a plain line of the same length, on a real server, plus the off-path cost of the
log store's scan and the metrics writer per EMF line (in process).

    PYTHONPATH=. .venv/bin/python -m bench.emf [invokes]
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from lamina.logs.store import scan_emf
from lamina.services.cloudwatch.custom import CustomMetrics
from tests.integration.harness import LaminaProcess, python_zip

EMF = """
import json, time
def handler(event, context):
    print(json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
        {"Namespace": "Bench", "Dimensions": [["Service"]],
         "Metrics": [{"Name": "Work", "Unit": "Milliseconds"}]}]},
        "Service": "bench", "Work": 12.5}))
    return 1
"""
EMF_LINE = json.dumps({"_aws": {"Timestamp": int(time.time() * 1000), "CloudWatchMetrics": [
    {"Namespace": "Bench", "Dimensions": [["Service"]],
     "Metrics": [{"Name": "Work", "Unit": "Milliseconds"}]}]},
    "Service": "bench", "Work": 12.5})  # fmt: skip
PLAIN = """
def handler(event, context):
    print("x" * 170)
    return 1
"""


def warm(server: LaminaProcess, name: str, n: int) -> list[float]:
    client = server.lambda_client()
    client.invoke(FunctionName=name, Payload=b"{}")  # the cold start
    times: list[float] = []
    for _ in range(n):
        t = time.perf_counter()
        client.invoke(FunctionName=name, Payload=b"{}")
        times.append((time.perf_counter() - t) * 1000)
    return times


def scan(lines: int) -> tuple[float, float]:
    """µs per line of the flush's scan: for plain lines, and for EMF lines."""
    out: list[float] = []
    for message in ("x" * 170, EMF_LINE):
        pending = {("f", "s"): [f"{i}\t{message}\n" for i in range(lines)]}
        best = min(_timed(partial(scan_emf, pending, _ignore)) for _ in range(5))
        out.append(best / lines * 1e6)
    return out[0], out[1]


def _ignore(found: list[tuple[int, str]]) -> None:
    del found


def _timed(fn: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def off_path(lines: int) -> float:
    """µs per EMF line on the metrics writer: parse and store."""
    with tempfile.TemporaryDirectory() as tmp:
        store = CustomMetrics(Path(tmp) / "metrics.db")
        batches = [[(i, EMF_LINE) for i in range(500)] for _ in range(lines // 500)]
        t = time.perf_counter()
        for batch in batches:
            store.ingest_emf(batch)
        store.series(None)  # queued after the ingest: returns once it is stored
        ingest = time.perf_counter() - t
        store.close()
    return ingest / (500 * len(batches)) * 1e6


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    plain_us, emf_us = scan(20_000)
    print(f"log flush scan: {plain_us:.3f} µs per plain line, {emf_us:.3f} µs per EMF line")
    print(f"metrics writer: parse+store {off_path(20_000):.1f} µs per EMF line")
    with tempfile.TemporaryDirectory() as tmp:
        server = LaminaProcess(Path(tmp)).start()
        try:
            server.create("bench-emf", python_zip(EMF))
            server.create("bench-plain", python_zip(PLAIN))
            rounds: dict[str, list[float]] = {"bench-emf": [], "bench-plain": []}
            for _ in range(3):  # interleaved, so load drifts hit both alike
                for name in rounds:
                    rounds[name].extend(warm(server, name, n // 3))
            for name, times in rounds.items():
                q = statistics.quantiles(times, n=100)
                print(f"{name}: n={len(times)} median {statistics.median(times):.3f} ms "
                      f"p90 {q[89]:.3f} ms mean {statistics.fmean(times):.3f} ms")  # fmt: skip
        finally:
            server.stop()


if __name__ == "__main__":
    main()
