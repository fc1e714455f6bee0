"""What metrics, rollups, the console and traces add to a warm invoke, against the warm
invoke itself (issue 16's target: at most 1 % of its time).

    PYTHONPATH=. .venv/bin/python -m bench.metrics_cost [invokes]

1. A warm invoke's round trip on a real server (a Python function returning a constant,
   one keep-alive connection, the raw client of :mod:`bench.rawhttp`), median.
2. The event loop's additions per invoke, timed in process (best of 5 runs of 200 000
   calls): ``Ledger.record`` (the deque append the rollups ride on), ``RecentPayloads.add``
   (the console's recent payloads), the per-face request count (``lamina_http_requests_total``).
3. The ledger flusher's rollup work per record (another thread, but it holds the GIL the
   event loop needs): ``fold_batch`` of a 500-record batch over 10 function-minutes, the
   rollup UPSERT of those minutes into a real ``ledger.db`` (in the batch's transaction,
   as the flusher does; the COMMIT is not counted, it is the raw rows' own), and the
   running totals' merge. OTLP spans are built only when
   ``LAMINA_OTLP_ENDPOINT`` is set (an observer of the same batches) and are not counted.
4. Max Memory Used's resident sample (:mod:`lamina.sandbox.resident`) over a real Python
   process: a warm environment is sampled at most once per ``RESAMPLE_S`` (past its first
   invokes, while its charged peak stands), so its share of a warm invoke is the sample's
   cost x warm invoke time / ``RESAMPLE_S``. Its file walk (``maps`` + ``pagemap``) is due
   only when a process's mappings or file pages changed, a few times in an environment's
   life, and is printed apart, with an environment's first reading (open, walk, sample).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

from bench.rawhttp import RawConnection, render_request
from lamina.billing import invocation_cost, ledger_db, rollups_db
from lamina.billing.ledger import Ledger
from lamina.billing.prices import load_prices
from lamina.billing.rollups import Minute, RollupKey, fold_batch
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.sandbox.filepages import walk
from lamina.sandbox.resident import RESAMPLE_S, ResidentSampler
from lamina.scheduler.recent_payloads import RecentPayloads
from tests.integration.harness import LaminaProcess, aws_client, python_zip

CODE = "def handler(event, context):\n    return {'ok': True}\n"
BATCH = 500


def warm_invoke_ms(invokes: int) -> float:
    """Median round trip (ms) of warm invokes on a real server."""
    with tempfile.TemporaryDirectory(prefix="lamina-bench-metrics-") as tmp:
        server = LaminaProcess(Path(tmp) / "data").start()
        try:
            aws_client(server, "lambda").create_function(
                FunctionName="warm",
                Runtime="python3.12",
                Handler="app.handler",
                Role="arn:aws:iam::000000000000:role/r",
                Code={"ZipFile": python_zip(CODE)},
            )
            host, port = server.endpoint.removeprefix("http://").split(":")
            request = render_request("POST", "/2015-03-31/functions/warm/invocations", b'{"n": 1}')
            times: list[float] = []
            with RawConnection(host, int(port)) as conn:
                for i in range(invokes + 50):
                    t0 = time.perf_counter()
                    answer = conn.send_raw(request)
                    elapsed = time.perf_counter() - t0
                    assert answer.status == 200, answer.body
                    if i >= 50:  # the first ones start and warm the environment
                        times.append(elapsed)
        finally:
            server.stop()
    return statistics.median(times) * 1000


def per_call_us(fn: Callable[[], object], number: int = 200_000) -> float:
    return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6


def record(i: int, minute: float) -> InvocationRecord:
    return InvocationRecord(
        request_id=str(uuid.uuid4()),
        function_name=f"fn-{i % 10}",
        version="$LATEST",
        started_at=minute + (i % 60),
        duration_ms=1.0 + (i % 7),
        billed_ms=2 + (i % 7),
        memory_mb=128,
        max_memory_used_mb=40,
        init_ms=None,
        architecture="x86_64",
        outcome=Outcome.SUCCESS,
    )


def invoke_path_us(tmp: Path) -> dict[str, float]:
    """The event loop's per-invoke additions, µs."""
    ledger = Ledger(tmp / "hot.db", load_prices(), flush_interval_s=3600, batch_size=10**9)
    rec = record(0, time.time())
    recent = RecentPayloads()
    faces: Counter[str] = Counter()

    def count() -> None:
        faces["lambda"] += 1  # as the API counts a request per face

    try:
        out = {
            "Ledger.record (deque append)": per_call_us(lambda: ledger.record(rec)),
            "RecentPayloads.add": per_call_us(
                lambda: recent.add("fn", "req", b'{"n": 1}', b'{"ok": true}')
            ),
            "request count per face": per_call_us(count),
        }
        ledger._buffer.clear()  # this ledger is never written
    finally:
        ledger.close()
    return out


def flusher_us(tmp: Path) -> dict[str, float]:
    """The flusher's rollup work per record, µs (best of 20 batches)."""
    table = load_prices()
    minute = float(int(time.time() // 60) * 60)
    batch = [record(i, minute) for i in range(BATCH)]
    priced = []
    for rec in batch:
        columns = ledger_db.cost_columns(invocation_cost(rec, table))
        priced.append((rec, columns[0], columns[5]))
    totals: dict[tuple[str, str], Minute] = {}
    fold, upsert, merge = [], [], []
    with closing(ledger_db.connect(tmp / "ledger.db")) as conn:
        rollups_db.ensure_schema(conn)
        for _ in range(20):
            minutes: dict[RollupKey, Minute] = {}
            t0 = time.perf_counter()
            fold_batch(minutes, priced)
            t1 = time.perf_counter()
            conn.execute("BEGIN")
            rollups_db.add(conn, minutes)
            t2 = time.perf_counter()
            conn.execute("COMMIT")  # the raw rows' own: the flusher commits them anyway
            t2b = time.perf_counter()
            for (function, version, _), m in minutes.items():
                total = totals.get((function, version))
                if total is None:
                    totals[(function, version)] = m.copy()
                else:
                    total.merge(m)
            t3 = time.perf_counter()
            fold.append(t1 - t0)
            upsert.append(t2 - t1)
            merge.append(t3 - t2b)
    return {
        "fold_batch": min(fold) / BATCH * 1e6,
        "rollup UPSERT": min(upsert) / BATCH * 1e6,
        "running totals": min(merge) / BATCH * 1e6,
    }


def memory_sample_us(tmp: Path) -> tuple[float, float, float]:
    """A resident sample without a walk, a file walk and a first reading, µs (best of 5
    runs), over a Python process that imported what a hello function's runtime imports."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import json, socket, sys, urllib.request; sys.stdin.read()"],
        stdin=subprocess.PIPE,
    )
    procs = tmp / "cgroup.procs"
    procs.write_text(f"{child.pid}\n")
    try:
        time.sleep(1.0)  # its imports done
        firsts, walks = [], []
        for _ in range(5):
            t0 = time.perf_counter()
            sampler = ResidentSampler(procs)
            sampler.sample()
            firsts.append(time.perf_counter() - t0)
            sampler.close()
            t0 = time.perf_counter()
            walk(child.pid)  # what a sample adds when the process is due for a walk
            walks.append(time.perf_counter() - t0)
        sampler = ResidentSampler(procs)
        sampler.sample()
        plain = per_call_us(sampler.sample, number=2000)
        sampler.close()
    finally:
        child.kill()
        child.wait()
    return plain, min(walks) * 1e6, min(firsts) * 1e6


def main() -> None:
    invokes = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    warm_ms = warm_invoke_ms(invokes)
    with tempfile.TemporaryDirectory(prefix="lamina-bench-metrics-") as tmp:
        hot = invoke_path_us(Path(tmp))
        off = flusher_us(Path(tmp))
        sample_us, walk_us, first_us = memory_sample_us(Path(tmp))
    warm_us = warm_ms * 1000
    hot[f"Max Memory Used sample, 1 per {RESAMPLE_S:g} s"] = sample_us * warm_ms / 1000 / RESAMPLE_S
    print(f"load average {os.getloadavg()[0]:.2f}")
    print(f"warm invoke round trip (median of {invokes}): {warm_ms:.3f} ms")
    print(f"{'per invoke':<44} {'µs':>7} {'% of warm':>10}")
    for title, part in (("event loop", hot), ("ledger flusher (GIL)", off)):
        for name, us in part.items():
            print(f"{title + ': ' + name:<44} {us:>7.2f} {100 * us / warm_us:>9.3f}%")
    total = sum(hot.values()) + sum(off.values())
    print(f"{'total':<44} {total:>7.2f} {100 * total / warm_us:>9.3f}%")
    print(
        f"Max Memory Used, one Python process: a sample {sample_us:.1f} µs; its file walk "
        f"{walk_us:.0f} µs (a few per environment); an environment's first reading "
        f"{first_us:.0f} µs"
    )


if __name__ == "__main__":
    main()
