"""Closed-loop load: C connections, each sending its next request when the last answers.

The connections are spread over several client processes (``multiprocessing``) so one
Python client is not the bottleneck; within a process they are driven by one
``selectors`` loop over blocking sockets (a socket is read only once it is readable,
and the small requests always fit the send buffer). Every process connects first, then
all start together behind a barrier and run for the same wall time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import selectors
import time
from dataclasses import dataclass, field
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier

from bench.rawhttp import HttpClientError, RawConnection, split_response


@dataclass(slots=True)
class LoadResult:
    """What one load run measured: completed requests, failures, per-request latencies."""

    concurrency: int
    processes: int
    elapsed_s: float
    ok: int = 0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    first_error: str = ""

    @property
    def throughput(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where to send load: host, port and the complete request bytes."""

    host: str
    port: int
    request: bytes
    # When set, an answer with this header counts as an error (X-Amz-Function-Error).
    error_header: str | None = "x-amz-function-error"


def _is_error(status: int, headers: dict[str, str], target: Target) -> bool:
    return status != 200 or (target.error_header is not None and target.error_header in headers)


@dataclass(frozen=True, slots=True)
class _WorkerReport:
    ok: int
    errors: int
    latencies_ms: list[float]
    first_error: str
    elapsed_s: float


def _drive(target: Target, conns: int, barrier: Barrier, duration_s: float) -> _WorkerReport:
    """Run ``conns`` closed loops for ``duration_s`` and report what they measured."""
    sel = selectors.DefaultSelector()
    socks = [RawConnection(target.host, target.port) for _ in range(conns)]
    bufs = [bytearray() for _ in socks]
    sent_at = [0] * conns
    latencies: list[float] = []
    ok = errors = 0
    first_error = ""
    barrier.wait()
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(duration_s * 1e9)
    for i, conn in enumerate(socks):
        sel.register(conn.socket, selectors.EVENT_READ, i)
        sent_at[i] = clock()
        conn.socket.sendall(target.request)
    open_conns = conns
    while open_conns:
        for key, _ in sel.select(timeout=60):
            i = key.data
            sock = socks[i].socket
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpClientError("server closed a keep-alive connection")
            buf = bufs[i]
            buf += chunk
            got = split_response(buf)
            if got is None:
                continue
            response, used = got
            del buf[:used]
            now = clock()
            latencies.append((now - sent_at[i]) / 1e6)
            if _is_error(response.status, response.headers, target):
                errors += 1
                if not first_error:
                    first_error = f"{response.status} {response.body[:300]!r}"
            else:
                ok += 1
            if now < deadline:
                sent_at[i] = clock()
                sock.sendall(target.request)
            else:
                sel.unregister(sock)
                open_conns -= 1
    elapsed = (clock() - start) / 1e9
    for conn in socks:
        conn.close()
    return _WorkerReport(ok, errors, latencies, first_error, elapsed)


def _worker(
    target: Target, conns: int, barrier: Barrier, duration_s: float, out: Queue[object]
) -> None:
    try:
        out.put(_drive(target, conns, barrier, duration_s))
    except Exception as exc:
        barrier.abort()
        out.put(f"{type(exc).__name__}: {exc}")


def default_processes(concurrency: int) -> int:
    """Client processes for a run: two per core, never more than the connections."""
    cores = len(os.sched_getaffinity(0))
    return max(1, min(concurrency, 2 * cores))


def run_load(
    target: Target, concurrency: int, duration_s: float, processes: int | None = None
) -> LoadResult:
    """Drive ``target`` with ``concurrency`` closed-loop connections for ``duration_s``."""
    procs = processes or default_processes(concurrency)
    procs = min(procs, concurrency)
    shares = [concurrency // procs + (1 if i < concurrency % procs else 0) for i in range(procs)]
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(procs)
    out: Queue[object] = ctx.Queue()
    workers = [
        ctx.Process(target=_worker, args=(target, n, barrier, duration_s, out), daemon=True)
        for n in shares
    ]
    for w in workers:
        w.start()
    result = LoadResult(concurrency, procs, 0.0)
    failures: list[str] = []
    for _ in workers:
        item = out.get(timeout=duration_s + 300)
        if not isinstance(item, _WorkerReport):
            failures.append(str(item))
            continue
        result.ok += item.ok
        result.errors += item.errors
        result.latencies_ms.extend(item.latencies_ms)
        result.elapsed_s = max(result.elapsed_s, item.elapsed_s)
        result.first_error = result.first_error or item.first_error
    for w in workers:
        w.join(timeout=30)
    if failures:
        raise HttpClientError("load worker failed: " + "; ".join(failures))
    return result
