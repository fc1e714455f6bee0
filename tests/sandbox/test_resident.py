"""The resident-memory sampler behind Max Memory Used, on real processes."""

from __future__ import annotations

import functools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.sandbox import resident
from lamina.sandbox.filepages import PAGE_BYTES, WalkBudget, held_refusal, runs_held, walk
from lamina.sandbox.resident import (
    EAGER_SAMPLES,
    RESAMPLE_S,
    WALK_INTERVAL_S,
    ResidentSampler,
    Statm,
    is_namespace_init,
    parse_pids,
    parse_statm,
    reading_bytes,
    resample_due,
    resident_bytes,
    walk_due,
)

MB = 1024 * 1024

# Holds 60 MB (every page touched) until told, then frees it and waits to be told again.
HOLDER = """
import sys
hoard = bytearray(60 * 1024 * 1024)
for i in range(0, len(hoard), 4096):
    hoard[i] = 1
print("held", flush=True)
sys.stdin.readline()
del hoard
print("freed", flush=True)
sys.stdin.readline()
"""


def test_the_texts_parse() -> None:
    assert parse_statm(b"2843 1234 567 1 0 300 0\n") == Statm(size=2843, resident=1234, shared=567)
    assert parse_statm(b"") == Statm(0, 0, 0)
    assert parse_pids(b"12\n345\n") == [12, 345]
    assert is_namespace_init(b"Name:\tx\nNSpid:\t4242\t1\n")
    assert not is_namespace_init(b"Name:\tx\nNSpid:\t4242\t2\n")
    assert not is_namespace_init(b"Name:\tx\nNSpid:\t1\n")  # the host's own init


def test_the_peak_of_the_summed_resident_sets_outlives_the_memory_and_the_process(
    tmp_path: Path,
) -> None:
    procs = tmp_path / "cgroup.procs"
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdin is not None and child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "held"
        procs.write_text(f"{child.pid}\n")
        sampler = ResidentSampler(procs)
        held = sampler.sample()
        assert held >= 60 * MB
        assert held % PAGE_BYTES == 0
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().strip() == "freed"
        assert sampler.sample() == held  # a peak: freeing does not lower it
        child.stdin.write("\n")
        child.stdin.flush()
        child.wait(timeout=30)
        procs.write_text("")
        assert sampler.sample() == held  # nor does the process's exit
        sampler.close()
        sampler.close()
        assert sampler.sample() == held
    finally:
        child.kill()
        child.wait()


def test_an_unreadable_group_reads_zero(tmp_path: Path) -> None:
    sampler = ResidentSampler(tmp_path / "missing" / "cgroup.procs")
    assert sampler.sample() == 0


def test_a_warm_environment_is_sampled_again_only_when_something_changed() -> None:
    # The first readings always sample.
    assert all(resample_due(n, 10 * MB, 10 * MB, 0.0) for n in range(EAGER_SAMPLES))
    later = EAGER_SAMPLES
    assert not resample_due(later, 10 * MB, 10 * MB, 0.01)  # nothing new: the peak stands
    assert resample_due(later, 11 * MB, 10 * MB, 0.01)  # the charged peak rose
    assert resample_due(later, 10 * MB, 10 * MB, RESAMPLE_S)  # and at least this often


def test_a_process_is_walked_again_only_when_its_mappings_or_file_pages_changed() -> None:
    then = Statm(size=1000, resident=300, shared=200)
    for eager in (True, False):
        assert walk_due(then, None, 0.0, eager)  # never walked
        assert not walk_due(then, then, 3600.0, eager)
        # anonymous memory alone: no new files
        assert not walk_due(Statm(1000, 350, 200), then, 3600.0, eager)
    # a new mapping (a dlopen, a file mmap), file pages touched or reclaimed
    assert walk_due(Statm(1200, 300, 200), then, 0.0, True)
    assert walk_due(Statm(1000, 310, 210), then, 0.0, True)


def test_past_the_eager_samples_a_process_is_walked_at_most_once_per_interval() -> None:
    then = Statm(size=1000, resident=300, shared=200)
    moved = Statm(size=1200, resident=300, shared=210)  # a function remapping at every invoke
    assert not walk_due(moved, then, 0.0, False)
    assert not walk_due(moved, then, WALK_INTERVAL_S * 0.99, False)
    assert walk_due(moved, then, WALK_INTERVAL_S, False)
    assert walk_due(moved, then, WALK_INTERVAL_S * 0.01, True)  # eager: at once


def test_max_memory_used_is_never_above_the_memory_size() -> None:
    assert reading_bytes(100 * MB, 80 * MB, 128 * MB) == 100 * MB
    assert reading_bytes(60 * MB, 80 * MB, 128 * MB) == 80 * MB
    # A file figure past the memory size (a file mapped whole, touched sparsely): clipped.
    assert reading_bytes(4096 * MB, 80 * MB, 128 * MB) == 128 * MB
    assert reading_bytes(4096 * MB, 80 * MB, 0) == 4096 * MB  # no limit known


def test_the_reading_is_anonymous_memory_plus_the_file_figure_never_below_one_process() -> None:
    page = PAGE_BYTES
    assert resident_bytes(100, 500, 0, 300) == 600 * page
    # Processes that could not be walked count their own file-resident pages.
    assert resident_bytes(100, 500, 40, 300) == 640 * page
    # The file figure never falls below the largest process's own file-resident pages.
    assert resident_bytes(100, 200, 0, 300) == 400 * page


# Maps a file shared, touches every page, says so, then waits to be told to exit.
MAPPER = """
import mmap, sys
with open(sys.argv[1], "rb") as f:
    view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
total = sum(view[i] for i in range(0, len(view), mmap.PAGESIZE))
print("mapped", flush=True)
sys.stdin.readline()
"""


def statm_resident_bytes(pid: int) -> int:
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_BYTES


def test_a_file_two_processes_map_counts_once(tmp_path: Path) -> None:
    shared = tmp_path / "shared.bin"
    shared.write_bytes(bytes(range(256)) * (48 * MB // 256))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", MAPPER, str(shared)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == "mapped"
        procs = tmp_path / "cgroup.procs"
        procs.write_text(f"{children[0].pid}\n")
        one = ResidentSampler(procs)
        alone = one.sample()
        procs.write_text(f"{children[0].pid}\n{children[1].pid}\n")
        both = ResidentSampler(procs)
        together = both.sample()
        summed = sum(statm_resident_bytes(child.pid) for child in children)
        assert alone >= 48 * MB  # the whole file was touched
        # The second process adds its own anonymous memory and interpreter, not the file again.
        assert together < summed - 40 * MB, (together, summed)
        assert alone < together < alone + 40 * MB, (alone, together)
        assert both.walks == 2
        assert both.sample() == together
        assert both.walks == 2  # nothing changed: not walked again
        one.close()
        both.close()
    finally:
        for child in children:
            child.kill()
            child.wait()


# Maps a 1 TiB sparse file (never touched) and touches 8 MB of a real one, says so, waits.
SPARSE_MAPPER = """
import mmap, sys
with open(sys.argv[1], "rb") as f:
    huge = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
with open(sys.argv[2], "rb") as f:
    real = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
total = sum(real[i] for i in range(0, len(real), mmap.PAGESIZE))
print("mapped", flush=True)
sys.stdin.readline()
"""


def test_a_process_mapping_a_huge_sparse_file_is_counted_by_its_own_resident_pages(
    tmp_path: Path,
) -> None:
    sparse, real = tmp_path / "sparse.bin", tmp_path / "real.bin"
    with sparse.open("wb") as f:
        f.truncate(1 << 40)
    real.write_bytes(bytes(range(256)) * (8 * MB // 256))
    child = subprocess.Popen(
        [sys.executable, "-c", SPARSE_MAPPER, str(sparse), str(real)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "mapped"
        procs = tmp_path / "cgroup.procs"
        procs.write_text(f"{child.pid}\n")
        sampler = ResidentSampler(procs)
        reading = sampler.sample()
        assert sampler.refused == 1  # its pagemap (268 M entries) was not read
        own = statm_resident_bytes(child.pid)
        # Its statm counts stand in: its own resident set (the 8 MB touched among it), not
        # the terabyte it maps.
        assert own <= reading < own + 8 * MB, (own, reading)
        assert reading >= 8 * MB
        assert sampler.sample() == reading
        assert sampler.walks == 1  # unchanged: not walked (nor refused) again
        sampler.close()
    finally:
        child.kill()
        child.wait()


@pytest.fixture
def two_holders() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes holding their memory (HOLDER), killed after the test."""
    children = [
        subprocess.Popen(
            [sys.executable, "-c", HOLDER], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"held"
        yield children
    finally:
        for child in children:
            child.kill()
            child.wait()


def sampler_of(tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> ResidentSampler:
    """A sampler over a ``cgroup.procs`` file that lists ``processes``."""
    procs = tmp_path / "cgroup.procs"
    procs.write_text("".join(f"{child.pid}\n" for child in processes))
    return ResidentSampler(procs)


def test_a_sample_past_its_walk_budget_leaves_the_rest_to_the_next_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_holders: list[subprocess.Popen[bytes]]
) -> None:
    # A budget the first walk spends: the second process waits for the next sample.
    monkeypatch.setattr(resident, "WalkBudget", lambda: WalkBudget(maps_bytes=1, pages=1))
    sampler = sampler_of(tmp_path, two_holders)
    first = sampler.sample()
    assert (sampler.walks, sampler.deferred) == (1, 1)
    # The one not walked counts its own resident set meanwhile.
    assert first >= sum(statm_resident_bytes(child.pid) for child in two_holders) - 8 * MB
    sampler.sample()
    assert (sampler.walks, sampler.deferred) == (2, 1)
    sampler.sample()
    assert (sampler.walks, sampler.deferred) == (2, 1)  # nothing due any more
    sampler.close()


def test_a_walk_past_the_runs_an_environment_may_hold_is_not_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, two_holders: list[subprocess.Popen[bytes]]
) -> None:
    # Room for the first process's walk, not for the second's as well.
    first = runs_held(walk(two_holders[0].pid).use)
    assert first > 0
    monkeypatch.setattr(resident, "held_refusal", functools.partial(held_refusal, limit=first))
    sampler = sampler_of(tmp_path, two_holders)
    reading = sampler.sample()
    assert (sampler.walks, sampler.refused) == (2, 1)
    # The second counts its own resident set: the reading is about both (the first's
    # file pages counted as a fresh cache would hold them, not as the host's does).
    assert reading >= sum(statm_resident_bytes(child.pid) for child in two_holders) - 8 * MB
    sampler.close()
