"""bench.syscall_segments reads a process's share and the crossings from a perf trace."""

from __future__ import annotations

from bench.syscall_segments import calls, crossings, segments

# Two invokes through a control plane (10) and a worker (20): the worker's blocking read
# of the first frame began before the trace did (its entry is missing).
TRACE = """\
python 10/10 [000] 1.000100: raw_syscalls:sys_enter: NR 0 (7a, 0, 3e800, 0, 0, 0)
python 10/10 [000] 1.000102: raw_syscalls:sys_exit: NR 0 = 92
python 10/10 [000] 1.000150: raw_syscalls:sys_enter: NR 1 (7c, 0, ca, 0, 0, 0)
python 20/20 [001] 1.000180: raw_syscalls:sys_exit: NR 0 = 202
python 10/10 [000] 1.000170: raw_syscalls:sys_exit: NR 1 = 202
python 10/10 [000] 1.000400: raw_syscalls:sys_enter: NR 0 (7a, 0, 3e800, 0, 0, 0)
python 10/10 [000] 1.000402: raw_syscalls:sys_exit: NR 0 = 92
python 10/10 [000] 1.000460: raw_syscalls:sys_enter: NR 1 (7c, 0, ca, 0, 0, 0)
python 10/10 [000] 1.000480: raw_syscalls:sys_exit: NR 1 = 202
python 20/20 [001] 1.000300: raw_syscalls:sys_enter: NR 0 (22, 0, 3e800, 0, 0, 0)
python 20/20 [001] 1.000500: raw_syscalls:sys_exit: NR 0 = 202
python 20/21 [001] 1.000501: raw_syscalls:sys_enter: NR 0 (5, 0, 3e800, 0, 0, 0)
python 20/21 [001] 1.000502: raw_syscalls:sys_exit: NR 0 = 202
"""


def test_a_process_share_runs_from_its_read_to_its_next_write() -> None:
    by_pid = calls(TRACE.splitlines())
    assert sorted(by_pid) == ["10", "20"]
    assert len(by_pid["20"]) == 1  # the unpaired exit and the other thread's call are left out
    shares = segments(by_pid["10"], ignore=set())
    assert {key: [round(v) for v in values] for key, values in shares.items()} == {
        (0x7A, 92, 0x7C, 202): [48, 58]
    }


def test_a_crossing_pairs_a_write_with_the_read_that_returns_next() -> None:
    by_pid = calls(TRACE.splitlines())
    crossed = crossings(by_pid)
    # The second frame's write (1.000460) and the worker's read returning at 1.000500;
    # the first write, whose read began before the trace, is not paired with it.
    assert {key: [round(v) for v in values] for key, values in crossed.items()} == {
        ("10", "20", 202): [40]
    }
