"""The server's own CPU per warm invoke: a reading that holds up on a shared machine.

Starts ``lamina serve`` from this checkout, creates a no-op function, warms it up (300
invokes per connection), then reads the server process's ``utime + stime`` (every thread)
from ``/proc/<pid>/stat`` before and after ``--invokes`` invokes over ``--connections``
client processes, and prints the difference per invoke: user and system (the kernel's
part: the loopback sends, reads, polls), and the event loop's thread against the others
(the ledger's flusher, the log writer, executors), and how often the loop's thread gave up
its CPU to wait and was preempted. Run it from two
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
    return sum(_stat_cpu_s(f"/proc/{pid}/stat"))


def _stat_cpu_s(path: str) -> tuple[float, float]:
    """(user, system) CPU seconds from a ``/proc`` ``stat`` file."""
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def _switches(pid: int) -> tuple[int, int]:
    """(voluntary, involuntary) context switches of ``pid``'s main thread so far: it gives
    up its CPU when it waits for I/O, and is preempted (a woken process took its CPU)."""
    counts = {}
    with open(f"/proc/{pid}/task/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name.endswith("ctxt_switches"):
                counts[name] = int(value)
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]


def _readings(pid: int) -> tuple[float, float, float, int, int]:
    """(all threads' user, all threads' system, the main thread's user + system) seconds,
    and the main thread's context switches: the main thread runs the event loop."""
    user, system = _stat_cpu_s(f"/proc/{pid}/stat")
    return user, system, sum(_stat_cpu_s(f"/proc/{pid}/task/{pid}/stat")), *_switches(pid)


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
        before = _readings(pid)
        elapsed = run_clients(server, request, connections, each)
        after = _readings(pid)
        if tracer is not None:
            tracer.send_signal(signal.SIGINT)
            tracer.wait()
    n = each * connections
    user, system, loop = ((b - a) / n * 1e6 for a, b in zip(before[:3], after[:3], strict=True))
    waits, preempted = ((b - a) / n for a, b in zip(before[3:], after[3:], strict=True))
    return (
        f"{function} c={connections} invokes={n} server_cpu_per_invoke_us="
        f"{user + system:.1f} (user {user:.1f} system {system:.1f}; "
        f"loop thread {loop:.1f} other threads {user + system - loop:.1f}) "
        f"loop_switches_per_invoke={waits:.2f} waiting {preempted:.2f} preempted "
        f"rate={n / elapsed:,.0f}/s load={os.getloadavg()[0]:.2f}"
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
