"""The resident-memory sampler behind Max Memory Used, on real processes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from lamina.sandbox.resident import (
    EAGER_SAMPLES,
    PAGE_BYTES,
    RESAMPLE_S,
    ResidentSampler,
    is_namespace_init,
    parse_pids,
    resample_due,
    resident_pages,
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
    assert resident_pages(b"2843 1234 567 1 0 300 0\n") == 1234
    assert resident_pages(b"") == 0
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
