"""The server-wide bound on the event-loop time Max Memory Used's samples take.

Each environment's sample is bounded on its own (lamina.sandbox.filepages), but a sample
runs on the server's loop and many hostile environments, each within its bounds, would
together take it: :class:`~lamina.sandbox.resident.SamplingAllowance` bounds them all.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.sandbox.readings import CgroupReadings
from lamina.sandbox.resident import SamplingAllowance


def test_a_fresh_allowance_lets_samples_start_until_its_burst_is_spent() -> None:
    allowance = SamplingAllowance(rate=0.1, burst=0.5)
    assert allowance.allows(0.0)
    allowance.spend(0.3, 0.0)
    assert allowance.allows(0.0)  # 0.2 s left
    allowance.spend(0.3, 0.0)  # one sample may overdraw
    assert not allowance.allows(0.0)
    assert allowance.refused == 1


def test_it_refills_at_its_rate_and_never_above_its_burst() -> None:
    allowance = SamplingAllowance(rate=0.1, burst=0.5)
    allowance.spend(0.6, 0.0)  # 0.1 s in debt
    assert not allowance.allows(0.9)  # refilled 0.09: still in debt
    assert allowance.allows(1.1)  # refilled 0.11: 0.01 left
    allowance.spend(0.02, 1.1)
    assert not allowance.allows(1.1)
    # An hour idle refills only up to the burst.
    allowance.allows(3600.0)
    allowance.spend(0.5, 3600.0)
    assert not allowance.allows(3600.0)


def test_a_clock_going_backwards_refills_nothing() -> None:
    allowance = SamplingAllowance(rate=0.1, burst=0.5)
    allowance.spend(0.5, 10.0)
    assert not allowance.allows(5.0)
    assert not allowance.allows(10.0)


def test_over_any_stretch_sampling_takes_at_most_burst_plus_rate_times_time_plus_one_sample() -> (
    None
):
    rng = random.Random(17)
    allowance = SamplingAllowance(rate=0.1, burst=0.5)
    now, longest = 0.0, 0.0
    for _ in range(20_000):  # samples asked for at random moments, of random cost
        now += rng.expovariate(200)
        if allowance.allows(now):
            took = rng.choice((0.0005, 0.002, 0.03, 0.08))
            longest = max(longest, took)
            now += took
            allowance.spend(took, now)
    assert allowance.refused > 0
    assert allowance.spent_s <= allowance.burst + allowance.rate * now + longest


# A process that maps one file page by page, 4,500 mappings that never merge (past the
# walk's 4,096-mapping bound, so each walk reads and parses ~0.4 MB of maps and is
# refused), and keeps mapping one more anonymous page every few milliseconds, so every
# sample finds its address space changed and a walk due.
CHANGING = """
import mmap, os, sys, time
path = sys.argv[1]
with open(path, "wb") as f:
    f.truncate(2 * 4500 * 4096)
fd = os.open(path, os.O_RDONLY)
held = [mmap.mmap(fd, 4096, prot=mmap.PROT_READ, offset=2 * i * 4096) for i in range(4500)]
print("mapped", flush=True)
grown = []
while True:
    grown.append(mmap.mmap(-1, 4096))
    time.sleep(0.003)
"""


class _Group:
    """The one thing CgroupReadings reads of a group here: where its ``cgroup.procs`` is."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def dir(self, controller: str) -> Path:
        return self.folder


class _Cgroup:
    """A stand-in for the environment's cgroup (its counters are not what this tests: the
    real processes' samples are)."""

    memory_limit_bytes = 1 << 40

    def __init__(self, folder: Path) -> None:
        self.group = _Group(folder)

    def max_memory_bytes(self) -> int:
        return 1


@pytest.fixture
def changing(tmp_path: Path) -> Iterator[list[tuple[Path, int]]]:
    """Six changing processes, each listed in a ``cgroup.procs`` of its own."""
    children: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(6):
            child = subprocess.Popen(
                [sys.executable, "-c", CHANGING, str(tmp_path / f"file-{i}")],
                stdout=subprocess.PIPE,
            )
            children.append(child)
        groups = []
        for i, child in enumerate(children):
            assert child.stdout is not None
            assert child.stdout.readline().strip() == b"mapped"
            folder = tmp_path / f"group-{i}"
            folder.mkdir()
            (folder / "cgroup.procs").write_text(f"{child.pid}\n")
            groups.append((folder, child.pid))
        yield groups
    finally:
        for child in children:
            child.kill()
            child.wait()


def sample_for(
    groups: list[tuple[Path, int]], allowance: SamplingAllowance, seconds: float
) -> float:
    """Read every environment's Max Memory Used, forcing a sample each time, for
    ``seconds``; the longest single sample, as measured around it."""
    readings = []
    for folder, _ in groups:
        reading = CgroupReadings(_Cgroup(folder))  # type: ignore[arg-type]
        reading._allowance = allowance
        readings.append(reading)
    longest = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for reading in readings:
            before = allowance.spent_s
            assert reading._memory_mb(force=True) >= 1
            longest = max(longest, allowance.spent_s - before)
    return longest


@pytest.mark.slow
def test_many_changing_environments_take_no_more_of_the_loop_than_the_allowance(
    changing: list[tuple[Path, int]],
) -> None:
    unbounded = SamplingAllowance(rate=1e9, burst=1e9)
    sample_for(changing, unbounded, 1.0)
    bounded = SamplingAllowance(rate=0.05, burst=0.05)
    began = time.monotonic()
    longest = sample_for(changing, bounded, 1.0)
    elapsed = time.monotonic() - began
    limit = bounded.burst + bounded.rate * elapsed + longest + 1e-6  # float sums
    # Unbounded, these environments' samples took more than the bound allows ...
    assert unbounded.spent_s > limit, (unbounded.spent_s, limit)
    # ... bounded, they took no more, and the rest waited.
    assert bounded.spent_s <= limit, (bounded.spent_s, limit)
    assert bounded.refused > 0
