"""``python -m bench.syscall_segments TRACE [PID=NAME ...]``: a warm invoke's path from the
kernel's side, read from a ``perf`` trace of system calls.

Each process on the path wakes, reads what its peer wrote, works, and writes to the next
one. From the trace this prints, per process, the median time from a read (that returned
bytes) to the next write — the process's own share, with no Python hook in it — and, per
pair of processes, the median *crossing*: from one's write entering the kernel to the
other's read of as many bytes returning (the write itself, the peer's wake-up, its
``epoll`` and ``read``). Run it on a trace taken while one connection drives warm invokes
(``bench.load`` at c=1), with the processes of the path filtered in, e.g. a cluster's
control plane, its node's worker and the function's runtime:

    F='common_pid == CP || common_pid == WORKER || common_pid == RUNTIME'
    perf record -o /tmp/hop.data -a -e sched:sched_switch -e sched:sched_wakeup \\
        -e raw_syscalls:sys_enter --filter "$F" -e raw_syscalls:sys_exit --filter "$F" \\
        -- sleep 1
    perf script -i /tmp/hop.data -F comm,pid,tid,cpu,time,event,trace > /tmp/hop.txt
    python -m bench.syscall_segments /tmp/hop.txt CP=cp WORKER=worker RUNTIME=runtime

Reads of files (a cgroup's memory reading is 9 bytes) are left out with ``--ignore-fd``.
Tracing adds ~1-2 µs to each system call: compare traces with traces.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass

_LINE = re.compile(r"^\s*\S+\s+(\d+)/(\d+)\s+\[\d+\]\s+([\d.]+):\s+(\S+):\s+(.*)$")
_ENTER = re.compile(r"NR (\d+) \((\w+)")
_EXIT = re.compile(r"NR (\d+) = (-?\d+)")
READS = {0, 17, 45}  # read, pread64, recvfrom
WRITES = {1, 20, 44, 46}  # write, writev, sendto, sendmsg
MIN_SAMPLES = 50


@dataclass(frozen=True, slots=True)
class Call:
    """One system call of a process's main thread (times in µs)."""

    entered: float
    returned: float
    nr: int
    fd: int
    result: int


def calls(lines: list[str]) -> dict[str, list[Call]]:
    """The main threads' system calls by pid, from ``perf script`` lines."""
    open_calls: dict[str, tuple[int, int, float]] = {}
    out: dict[str, list[Call]] = defaultdict(list)
    for line in lines:
        m = _LINE.match(line)
        if m is None:
            continue
        pid, tid, at, event, rest = m.groups()
        t = float(at) * 1e6
        if event == "raw_syscalls:sys_enter" and (e := _ENTER.match(rest)):
            open_calls[tid] = (int(e.group(1)), int(e.group(2), 16), t)
        elif event == "raw_syscalls:sys_exit" and (x := _EXIT.match(rest)) and pid == tid:
            started = open_calls.pop(tid, None)
            if started is not None:
                nr, fd, t0 = started
                out[pid].append(Call(t0, t, nr, fd, int(x.group(2))))
    return out


def segments(trace: list[Call], ignore: set[int]) -> dict[tuple[int, int, int, int], list[float]]:
    """Read (fd, bytes) → next write (fd, bytes): µs from the read's return to the write."""
    out: dict[tuple[int, int, int, int], list[float]] = defaultdict(list)
    last: Call | None = None
    for call in trace:
        if call.nr in READS and call.result > 0 and call.fd not in ignore:
            last = call
        elif call.nr in WRITES and last is not None:
            out[last.fd, last.result, call.fd, call.result].append(call.entered - last.returned)
            last = None
    return out


def crossings(by_pid: dict[str, list[Call]]) -> dict[tuple[str, str, int], list[float]]:
    """A write of N bytes by one process → the read of N bytes by another that returns next
    (µs; meant for one invoke in flight at a time)."""
    # A write counts from its entry, a read from its return (a blocking read entered
    # long before the write it returns with).
    merged = sorted(
        (c.returned if c.nr in READS else c.entered, pid, c)
        for pid, trace in by_pid.items()
        for c in trace
    )
    pending: list[tuple[str, Call]] = []
    out: dict[tuple[str, str, int], list[float]] = defaultdict(list)
    for _, pid, call in merged:
        if call.nr in WRITES and call.result > 0:
            pending.append((pid, call))
        elif call.nr in READS and call.result > 0:
            # The latest such write: one whose read is not in the trace (it began before
            # the trace did) must not pair every later read with the write before its own.
            for i in range(len(pending) - 1, -1, -1):
                writer, write = pending[i]
                if writer != pid and write.result == call.result:
                    out[writer, pid, call.result].append(call.returned - write.entered)
                    del pending[i]
                    break
            pending = [(w, c) for w, c in pending if call.returned - c.entered < 5000]
    return out


def _summary(values: list[float]) -> str:
    q1, _, q3 = statistics.quantiles(values)
    return f"n={len(values)} median {statistics.median(values):.1f} (q1 {q1:.1f}, q3 {q3:.1f})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.syscall_segments", description=__doc__)
    p.add_argument("trace", help="perf script -F comm,pid,tid,cpu,time,event,trace output")
    p.add_argument("names", nargs="*", help="PID=NAME to label processes")
    p.add_argument("--ignore-fd", type=int, action="append", default=[])
    args = p.parse_args(argv)
    names = dict(n.split("=", 1) for n in args.names)
    with open(args.trace) as f:
        by_pid = calls(f.readlines())
    ignore = set(args.ignore_fd)
    for pid, trace in by_pid.items():
        for (rfd, rn, wfd, wn), values in segments(trace, ignore).items():
            if len(values) >= MIN_SAMPLES:
                label = names.get(pid, pid)
                print(f"{label}: read fd {rfd} ({rn} B) -> write fd {wfd} ({wn} B): "
                      f"{_summary(values)}")  # fmt: skip
    for (a, b, n), values in crossings(by_pid).items():
        if len(values) >= MIN_SAMPLES:
            print(f"crossing {names.get(a, a)} -> {names.get(b, b)} ({n} B): {_summary(values)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
