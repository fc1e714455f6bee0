"""The resident memory of an environment's processes: what Lambda's Max Memory Used counts.

A cgroup is charged only for the pages it faulted in first. The interpreter, its shared
libraries and the function's code are usually in the page cache already (another
environment, the zygote or the server read them), so the cgroup's peak misses them: a
Python hello function read 7 MB where Lambda reports ~37 MB. Lambda's figure is the
sandbox's resident memory, file-backed pages included. The closest cheap reading of that
here is the resident set (anonymous, file-backed and shared pages) of the environment's
processes, summed, sampled at the end of every invoke; its peak over the environment's
life, combined with the cgroup's own peak (which catches memory allocated and freed
between two samples), is Max Memory Used.

Not counted: the init of the environment's pid namespace (Lamina's jail, or a forked
environment's init, a copy-on-write twin of the runtime whose pages the runtime holds
too): the platform's part, which would otherwise be counted twice.

Cost: ``cgroup.procs`` and each process's ``/proc/<pid>/statm`` stay open and are re-read
with ``pread`` (about a microsecond each: ``statm`` is six numbers the kernel keeps
counted, unlike ``status`` or ``smaps_rollup``, which cost 20 µs and 2 ms here). A new
process's ``status`` is read once, to see whether it is the namespace's init. A whole
sample is still ~5 µs, a few per cent of a warm invoke, so a warm environment is not
sampled at every invoke: see :func:`resample_due`.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_SKIPPED = -1  # a pid that is not counted (the namespace's init)


# An environment's first readings all sample: INIT and the first events (lazy imports,
# first-call set-up) map most of what the function will ever map.
EAGER_SAMPLES = 8
# After those, a reading samples again at least this often (seconds).
RESAMPLE_S = 1.0


def resample_due(samples: int, charged: int, charged_then: int, since_s: float) -> bool:
    """Whether a Max Memory Used reading should sample the resident sets again.

    ``samples``: samples taken so far; ``charged``: the cgroup's charged peak now, and
    ``charged_then`` at the last sample; ``since_s``: seconds since the last sample.
    Yes for the first :data:`EAGER_SAMPLES`; after that when the charged peak rose since
    the last sample (the function touched memory it never had, and new mappings come with
    it), or :data:`RESAMPLE_S` have passed. Otherwise the last resident peak stands; the
    reading still takes the charged peak, read every time, so an allocation shows at once
    either way."""
    return samples < EAGER_SAMPLES or charged > charged_then or since_s >= RESAMPLE_S


def resident_pages(statm: bytes) -> int:
    """Resident pages from a ``/proc/<pid>/statm`` text (its second field)."""
    fields = statm.split()
    return int(fields[1]) if len(fields) > 1 else 0


def is_namespace_init(status: bytes) -> bool:
    """Whether a ``/proc/<pid>/status`` text is pid 1 of a nested pid namespace."""
    for line in status.splitlines():
        if line.startswith(b"NSpid:"):
            pids = line.split()[1:]
            return len(pids) > 1 and pids[-1] == b"1"
    return False


def parse_pids(procs: bytes) -> list[int]:
    """The pids in a ``cgroup.procs`` text."""
    return [int(word) for word in procs.split()]


class ResidentSampler:
    """The peak, over the environment's life, of its processes' summed resident sets."""

    def __init__(self, procs_file: Path) -> None:
        self._procs_fd = -1
        self._statm: dict[int, int] = {}  # pid -> open /proc/<pid>/statm, or _SKIPPED
        self.peak_bytes = 0
        try:
            self._procs_fd = os.open(procs_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("no resident-memory readings from %s: %s", procs_file, exc)

    def sample(self) -> int:
        """Read every member's resident set now; returns the peak of the sums so far."""
        if self._procs_fd < 0:
            return self.peak_bytes
        try:
            pids = parse_pids(os.pread(self._procs_fd, 65536, 0))
        except OSError as exc:  # the group is gone: keep the last peak
            log.debug("cgroup.procs unreadable: %s", exc)
            return self.peak_bytes
        pages = 0
        known = self._statm
        for pid in pids:
            fd = known.get(pid)
            if fd is None:
                fd = known[pid] = _open_member(pid)
            if fd == _SKIPPED:
                continue
            try:
                pages += resident_pages(os.pread(fd, 256, 0))
            except OSError:  # exited since cgroup.procs was read: nothing resident
                continue
        if len(known) > len(pids):
            self._forget(set(known) - set(pids))
        total = pages * PAGE_BYTES
        if total > self.peak_bytes:
            self.peak_bytes = total
        return self.peak_bytes

    def _forget(self, pids: set[int]) -> None:
        for pid in pids:
            fd = self._statm.pop(pid)
            if fd != _SKIPPED:
                os.close(fd)

    def close(self) -> None:
        """Close every descriptor (idempotent); the peak stays readable."""
        self._forget(set(self._statm))
        if self._procs_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._procs_fd)
            self._procs_fd = -1


def _open_member(pid: int) -> int:
    """An open ``statm`` of a counted process, or ``_SKIPPED``."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            if is_namespace_init(status.read()):
                return _SKIPPED
        return os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
    except OSError:  # exited since cgroup.procs was read
        return _SKIPPED
