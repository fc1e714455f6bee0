"""Fixed work for CPU comparisons: a server, one no-op function, N invokes, then stop.

Throughput and latency need a quiet machine; CPU time spent on a fixed amount of work
does not (much): run this under ``/usr/bin/time -v`` (or any tool that reads the
finished process tree's own accounting), once per checkout, interleaved, and compare
user + system seconds. Everything the invokes cost is in that figure: the server, the
client processes, and the environments (their processes are the server's descendants).

    python -m bench.fixed                     # Rust no-op, 16,000 invokes over 8 connections
    python -m bench.fixed --function python --invokes 4000 --connections 1

Prints the invokes per second it saw to stderr (a wall-clock figure: noisy when shared).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench.functions import WARM_FUNCTIONS
from bench.rawhttp import RawConnection, render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path

FUNCTION_NAME = "fixed"


def _invoke_many(host: str, port: int, request: bytes, count: int) -> None:
    """One client process: ``count`` invokes, one after another, on one connection."""
    with RawConnection(host, port) as conn:
        for _ in range(count):
            answer = conn.send_raw(request)
            if answer.status != 200 or "x-amz-function-error" in answer.headers:
                raise SystemExit(f"invoke failed: {answer.status} {answer.body[:200]!r}")


@contextmanager
def prepared_server(
    function: str, name: str = FUNCTION_NAME, first_invokes: int = 1
) -> Iterator[tuple[LaminaServer, bytes]]:
    """A running server with the no-op ``function`` (a ``WARM_FUNCTIONS`` key) created as
    ``name`` at 1,769 MB and invoked ``first_invokes`` times (its cold start, before any
    counted part); yields the server and the raw invoke request to send."""
    fn = next(f for f in WARM_FUNCTIONS if f.key == function)
    with LaminaServer() as server:
        api = server.api()
        try:
            api.create_function(name, fn.code(), fn.runtime, fn.handler, 1769, timeout_s=TIMEOUT_S)
            for _ in range(first_invokes):
                api.invoke(name, b"{}")
        finally:
            api.close()
        yield server, render_request("POST", invoke_path(name), b"{}")


def run_clients(server: LaminaServer, request: bytes, connections: int, each: int) -> float:
    """``connections`` client processes, ``each`` invokes apiece, all at once; returns the
    seconds from the first start to the last end. Any failed invoke stops the bench."""
    workers = [
        mp.Process(target=_invoke_many, args=(server.host, server.port, request, each))
        for _ in range(connections)
    ]
    t0 = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t0
    failed = [w.exitcode for w in workers if w.exitcode != 0]
    if failed:
        raise SystemExit(f"{len(failed)} client processes failed")
    return elapsed


def run(function: str, invokes: int, connections: int) -> float:
    """Do the work; returns invokes per second over the invoking part."""
    each = invokes // connections
    with prepared_server(function) as (server, request):
        elapsed = run_clients(server, request, connections, each)
    return each * connections / elapsed


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fixed", description=__doc__.split("\n")[0])
    p.add_argument("--function", default="rust", choices=[f.key for f in WARM_FUNCTIONS])
    p.add_argument("--invokes", type=int, default=16_000)
    p.add_argument("--connections", type=int, default=8)
    args = p.parse_args(argv)
    if args.invokes < 1 or args.connections < 1:
        p.error("--invokes and --connections must be at least 1")
    rate = run(args.function, args.invokes, args.connections)
    print(f"{rate:,.0f} invokes/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
