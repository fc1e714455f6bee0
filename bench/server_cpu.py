"""The server's own CPU per warm invoke: a reading that holds up on a shared machine.

Starts ``lamina serve`` from this checkout, creates a no-op function, warms it up (300
invokes per connection), then reads the server process's ``utime + stime`` (every thread)
from ``/proc/<pid>/stat`` before and after ``--invokes`` invokes over ``--connections``
client processes, and prints the difference per invoke, split into the event loop's
thread and the others (the ledger's flusher, the log writer, executors). Run it from two
checkouts in turn (A, B, A, B) and compare; the load average is printed with each reading.

    python -m bench.server_cpu                          # Rust no-op, 10,000 invokes, c=8
    python -m bench.server_cpu --connections 1 --invokes 5000
    python -m bench.server_cpu --strace /tmp/s.txt      # system calls of the counted part

``--strace`` attaches ``strace -c -f`` to the server for the counted part (the CPU figure
is then strace's, not the server's: read the counts, divided by the invokes).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time

from bench.fixed import prepared_server, run_clients
from bench.functions import WARM_FUNCTIONS

FUNCTION_NAME = "cpu"
WARM_UP = 300  # invokes per connection before the counted part


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    return _stat_cpu_s(f"/proc/{pid}/stat")


def loop_thread_cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid``'s main thread (the event loop's)."""
    return _stat_cpu_s(f"/proc/{pid}/task/{pid}/stat")


def _stat_cpu_s(path: str) -> float:
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(function: str, invokes: int, connections: int, strace: str | None) -> str:
    each = invokes // connections
    with prepared_server(function, FUNCTION_NAME, first_invokes=connections) as (server, request):
        run_clients(server, request, connections, WARM_UP)
        pid = server.pid
        assert pid is not None
        tracer = None
        if strace is not None:
            cmd = ["strace", "-c", "-f", "-p", str(pid), "-o", strace]
            tracer = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
            time.sleep(1.5)  # attached to every thread before the counted part
        cpu0, loop0 = process_cpu_s(pid), loop_thread_cpu_s(pid)
        elapsed = run_clients(server, request, connections, each)
        cpu1, loop1 = process_cpu_s(pid), loop_thread_cpu_s(pid)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
    n = each * connections
    return (
        f"{function} c={connections} invokes={n} server_cpu_per_invoke_us="
        f"{(cpu1 - cpu0) / n * 1e6:.1f} loop_thread_us={(loop1 - loop0) / n * 1e6:.1f} "
        f"other_threads_us={((cpu1 - cpu0) - (loop1 - loop0)) / n * 1e6:.1f} "
        f"rate={n / elapsed:,.0f}/s "
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
