"""The server's own CPU per warm invoke: a reading that holds up on a shared machine.

Starts ``lamina serve`` from this checkout, creates a no-op function, warms it up (300
invokes per connection), then reads the server process's ``utime + stime`` (every thread)
from ``/proc/<pid>/stat`` before and after ``--invokes`` invokes over ``--connections``
client processes, and prints the difference per invoke. Run it from two checkouts in
turn (A, B, A, B) and compare; the load average is printed with each reading.

    python -m bench.server_cpu                          # Rust no-op, 10,000 invokes, c=8
    python -m bench.server_cpu --connections 1 --invokes 5000
    python -m bench.server_cpu --strace /tmp/s.txt      # system calls of the counted part

``--strace`` attaches ``strace -c -f`` to the server for the counted part (the CPU figure
is then strace's, not the server's: read the counts, divided by the invokes).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import signal
import subprocess
import time

from bench.fixed import _invoke_many
from bench.functions import WARM_FUNCTIONS
from bench.rawhttp import render_request
from bench.server import TIMEOUT_S, LaminaServer, invoke_path

FUNCTION_NAME = "cpu"
WARM_UP = 300  # invokes per connection before the counted part


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run_clients(host: str, port: int, request: bytes, connections: int, each: int) -> None:
    workers = [
        mp.Process(target=_invoke_many, args=(host, port, request, each))
        for _ in range(connections)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if any(w.exitcode != 0 for w in workers):
        raise SystemExit("a client process failed")


def run(function: str, invokes: int, connections: int, strace: str | None) -> str:
    fn = next(f for f in WARM_FUNCTIONS if f.key == function)
    with LaminaServer() as server:
        api = server.api()
        try:
            api.create_function(
                FUNCTION_NAME, fn.code(), fn.runtime, fn.handler, 1769, timeout_s=TIMEOUT_S
            )
            for _ in range(connections):
                api.invoke(FUNCTION_NAME, b"{}")
        finally:
            api.close()
        request = render_request("POST", invoke_path(FUNCTION_NAME), b"{}")
        _run_clients(server.host, server.port, request, connections, WARM_UP)
        pid = server.pid
        assert pid is not None
        tracer = None
        if strace is not None:
            cmd = ["strace", "-c", "-f", "-p", str(pid), "-o", strace]
            tracer = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
            time.sleep(1.5)  # attached to every thread before the counted part
        each = invokes // connections
        cpu0, t0 = process_cpu_s(pid), time.perf_counter()
        _run_clients(server.host, server.port, request, connections, each)
        elapsed, cpu1 = time.perf_counter() - t0, process_cpu_s(pid)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
    n = each * connections
    return (
        f"{function} c={connections} invokes={n} server_cpu_per_invoke_us="
        f"{(cpu1 - cpu0) / n * 1e6:.1f} rate={n / elapsed:,.0f}/s "
        f"load={os.getloadavg()[0]:.2f}"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m bench.server_cpu", description=__doc__.split("\n")[0]
    )
    p.add_argument("--function", default="rust", choices=[f.key for f in WARM_FUNCTIONS])
    p.add_argument("--invokes", type=int, default=10_000)
    p.add_argument("--connections", type=int, default=8)
    p.add_argument("--strace", metavar="FILE", help="write strace -c of the counted part here")
    args = p.parse_args(argv)
    if args.invokes < args.connections or args.connections < 1:
        p.error("--connections must be at least 1 and --invokes at least --connections")
    print(run(args.function, args.invokes, args.connections, args.strace))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
