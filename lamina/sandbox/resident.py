"""The resident memory of an environment's processes: what Lambda's Max Memory Used counts.

Lambda's figure is a microVM's memory: the runtime's anonymous memory and every file page
of the runtime and code in that VM's own page cache. Here the page cache is the host's:
a cgroup is charged only for the pages it faulted in first (the interpreter is usually
cached already: a Python hello read 7 MB where Lambda reports ~37 MB), and a process's
resident set counts only the file pages it touched, not what the kernel read around them
(Node's hello: 42 MB resident, 77-78 MB charged when the cache was dropped first).

A sample, per environment (the processes in its cgroup)::

    anon  = Σ over processes (statm resident - statm shared)
    files = Σ over distinct files (device, inode) of the pages a fresh page cache would
            hold: the processes' touched pages of the file, united, each run widened by
            the device's readahead window, clipped to the mapped span
            (:mod:`lamina.sandbox.filepages`)
    reading = anon + max(files + shared of processes that could not be walked,
                         the largest single process's shared)

``statm``'s ``shared`` is the kernel's file pages + shared-memory pages (MM_FILEPAGES +
MM_SHMEMPAGES), so ``resident - shared`` is the anonymous memory (``RssAnon``); shared
memory mappings (memfd, ``/dev/zero`` shared, SysV) are files on a device without
readahead, counted in ``files`` as their touched pages, once. Max Memory Used is the
larger of the peak of these readings over the environment's life and the cgroup's charged
peak (which catches memory allocated and freed between two samples).

Not counted: the init of the environment's pid namespace (Lamina's jail, or a forked
environment's init, a copy-on-write twin of the runtime whose pages the runtime holds
too): the platform's part, which would otherwise be counted twice. Nor files read with
``read()`` rather than mapped (Python's ``.pyc`` files): a fresh VM caches those too.

Cost: ``cgroup.procs`` and each process's ``/proc/<pid>/statm`` stay open and are re-read
with ``pread`` (about a microsecond each: ``statm`` is six numbers the kernel keeps
counted, unlike ``status`` or ``smaps_rollup``, which cost 20 µs and 2 ms here). A new
process's ``status`` is read once, to see whether it is the namespace's init. The file
walk (``maps`` + ``pagemap``, 0.5-0.8 ms for a Python or Node process) is taken only when
:func:`walk_due` says the process's mappings or file-resident count changed, and past the
eager samples at most once per :data:`WALK_INTERVAL_S`; between walks the last file
figure stands. The function controls what it maps, so a walk is bounded
(:func:`~lamina.sandbox.filepages.walk_refusal` and the touched runs it finds; a process
past the bounds counts its ``statm`` shared, as an unreadable one does), so are the runs
an environment's walks hold (:func:`~lamina.sandbox.filepages.held_refusal`), and so is a
sample (a
:class:`~lamina.sandbox.filepages.WalkBudget`: one walk at the bounds; the processes
still due wait for the next sample), and all of a server's samples share one allowance of
its event loop (:class:`SamplingAllowance`). The reading is never above the memory size
(:func:`reading_bytes`). A sample without a walk is still ~5 µs, a few per cent
of a warm invoke, so a warm environment is not sampled at every invoke: see
:func:`resample_due`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import NamedTuple

from lamina.sandbox.filepages import (
    PAGE_BYTES,
    FileKey,
    FileUse,
    Walk,
    WalkBudget,
    WindowOf,
    environment_file_pages,
    held_refusal,
    runs_held,
    walk,
)

log = logging.getLogger(__name__)

WINDOW_OF = WindowOf()  # the devices' readahead windows, read once per device


# An environment's first readings all sample: INIT and the first events (lazy imports,
# first-call set-up) map most of what the function will ever map.
EAGER_SAMPLES = 8
# After those, a reading samples again at least this often (seconds).
RESAMPLE_S = 1.0
# After those, a process is walked at most this often (seconds): a warm environment is
# sampled about once a second anyway, so this only stops a sample at every invoke (the
# charged peak rose) from walking a process that changes its mappings at every invoke.
WALK_INTERVAL_S = RESAMPLE_S


# What the resident samples of all of a server's environments may take of its event loop
# (seconds of sampling per second, and the most it may take at once): a sample runs on the
# loop, and its cost is what a function maps and forks, so without a server-wide bound many
# hostile environments, each within its own bounds, would together take the loop.
SAMPLING_SHARE = 0.1
SAMPLING_BURST_S = 0.1


class SamplingAllowance:
    """A token bucket of event-loop time for resident samples, shared by every environment
    of one server (pure: the caller passes the clock).

    A sample may start while the bucket holds anything and is then charged what it took,
    so the bucket may go below zero by one sample; samples wait until it refills at
    ``rate`` seconds per second. Over any stretch of ``T`` seconds, sampling takes at most
    ``burst + rate * T`` plus one sample. A reading whose sample waits keeps its last
    resident peak, and the cgroup's charged peak (read every time) still counts every
    allocation; under a hostile neighbour's load, readings of file pages lag, invokes
    do not."""

    __slots__ = ("_at", "_level", "burst", "rate", "refused", "spent_s")

    def __init__(self, rate: float = SAMPLING_SHARE, burst: float = SAMPLING_BURST_S) -> None:
        self.rate = rate
        self.burst = burst
        self._level = burst
        self._at: float | None = None
        self.spent_s = 0.0  # all sampling time charged, for the bench and the tests
        self.refused = 0  # samples that waited for the bucket

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._level = min(self.burst, self._level + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def allows(self, now: float) -> bool:
        """Whether a sample may start at ``now`` (monotonic seconds)."""
        self._refill(now)
        if self._level > 0:
            return True
        self.refused += 1
        return False

    def spend(self, seconds: float, now: float) -> None:
        """Charge a sample that took ``seconds``, ending at ``now``."""
        self._refill(now)
        self._level -= seconds
        self.spent_s += seconds


# The server's allowance (one process is one server).
SAMPLING = SamplingAllowance()


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


class Statm(NamedTuple):
    """The counts of a ``/proc/<pid>/statm`` text that a reading uses, in pages."""

    size: int  # the address space: changes when a mapping is added or removed
    resident: int  # anonymous + file + shared memory
    shared: int  # file + shared memory (the kernel's MM_FILEPAGES + MM_SHMEMPAGES)


def parse_statm(statm: bytes) -> Statm:
    """The first three fields of a ``/proc/<pid>/statm`` text (zeros when it is empty)."""
    fields = statm.split()
    if len(fields) < 3:
        return Statm(0, 0, 0)
    return Statm(int(fields[0]), int(fields[1]), int(fields[2]))


def walk_due(now: Statm, at_walk: Statm | None, since_walk_s: float, eager: bool) -> bool:
    """Whether a process's file mappings should be walked again: at its first sample, and
    when its address space or its file-resident count changed since the last walk (a new
    mapping, or file pages touched or reclaimed). A warm process whose counts stand still
    is not walked again. Past the environment's eager samples (``eager`` false), a changed
    process is walked at most once per :data:`WALK_INTERVAL_S` (``since_walk_s``: seconds
    since its last walk), however its counts move: a function that maps and unmaps
    something at every invoke would otherwise make every sample walk it."""
    if at_walk is None:
        return True
    if now.size == at_walk.size and now.shared == at_walk.shared:
        return False
    return eager or since_walk_s >= WALK_INTERVAL_S


def resident_bytes(
    anon_pages: int, file_pages: int, unknown_pages: int, largest_shared: int
) -> int:
    """An environment's resident memory from its processes' counts, in bytes.

    ``anon_pages``: the processes' anonymous pages, summed (statm resident - shared);
    ``file_pages``: the file figure of :func:`~lamina.sandbox.filepages.environment_file_pages`
    (each file once, widened by readahead); ``unknown_pages``: the ``shared`` counts of
    processes whose mappings could not be walked; ``largest_shared``: the largest
    ``shared`` count of one process. The file part is never below the latter, so the
    reading is never below the largest process's own resident set."""
    return (anon_pages + max(file_pages + unknown_pages, largest_shared)) * PAGE_BYTES


def reading_bytes(resident: int, charged: int, limit: int) -> int:
    """Max Memory Used from the resident peak and the cgroup's charged peak: the larger,
    and never above the memory ``limit`` (the function's memory size; 0: none). A VM's
    memory, page cache included, is at most its size; the charged peak is held under it by the cgroup already, but the file
    figure is not (a file mapped whole and touched sparsely reads its readahead windows, a
    file the host has cached may be resident past the limit), so it is clipped here."""
    peak = max(resident, charged)
    return min(peak, limit) if limit > 0 else peak


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


class _Member:
    """One counted process: its open ``statm`` and what its last walk found."""

    __slots__ = ("statm_fd", "use", "walked", "walked_at")

    def __init__(self, statm_fd: int) -> None:
        self.statm_fd = statm_fd
        self.walked: Statm | None = None  # the counts at the last walk
        self.walked_at = 0.0  # and its time (time.monotonic())
        self.use: dict[FileKey, FileUse] | None = None  # None: not walked, or unreadable


class ResidentSampler:
    """The peak, over the environment's life, of its processes' resident memory."""

    def __init__(self, procs_file: Path) -> None:
        self._procs_fd = -1
        self._members: dict[int, _Member | None] = {}  # pid -> member, None: not counted
        self._file_pages = 0  # the file figure of the last walks
        self._held_runs = 0  # the runs the members' walks hold (filepages.runs_held)
        self.peak_bytes = 0
        self.samples = 0
        self.walks = 0  # maps walks taken (for the cost measurements)
        self.refused = 0  # walks refused as too costly (a hostile function's mappings)
        self.deferred = 0  # walks due but left to a later sample (the sample's budget spent)
        try:
            self._procs_fd = os.open(procs_file, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as exc:
            log.warning("no resident-memory readings from %s: %s", procs_file, exc)

    def sample(self) -> int:
        """Read every member's counts now; returns the peak of the readings so far."""
        if self._procs_fd < 0:
            return self.peak_bytes
        try:
            pids = parse_pids(os.pread(self._procs_fd, 65536, 0))
        except OSError as exc:  # the group is gone: keep the last peak
            log.debug("cgroup.procs unreadable: %s", exc)
            return self.peak_bytes
        members = self._members
        anon = unknown = largest_shared = 0
        changed = False
        eager = self.samples < EAGER_SAMPLES
        self.samples += 1
        now = time.monotonic()
        budget = WalkBudget()
        for pid in pids:
            if pid in members:
                member = members[pid]
            else:
                member = members[pid] = _open_member(pid)
                changed = True
            if member is None:
                continue
            try:
                counts = parse_statm(os.pread(member.statm_fd, 256, 0))
            except OSError:  # exited since cgroup.procs was read: nothing resident
                continue
            anon += counts.resident - counts.shared
            largest_shared = max(largest_shared, counts.shared)
            if walk_due(counts, member.walked, now - member.walked_at, eager):
                if budget.left():
                    member.walked, member.walked_at = counts, now
                    elsewhere = self._held_runs - runs_held(member.use)
                    member.use = self._walk(pid, budget, elsewhere)
                    self._held_runs = elsewhere + runs_held(member.use)
                    changed = True
                else:  # stays due: walked at a later sample, its last walk stands
                    self.deferred += 1
            if member.use is None:
                unknown += counts.shared
        if len(members) > len(pids):
            self._forget(set(members) - set(pids))
            changed = True
        if changed:
            self._file_pages = environment_file_pages(
                (m.use for m in members.values() if m is not None and m.use is not None),
                WINDOW_OF,
            )
        total = resident_bytes(anon, self._file_pages, unknown, largest_shared)
        if total > self.peak_bytes:
            self.peak_bytes = total
        return self.peak_bytes

    def _walk(
        self, pid: int, budget: WalkBudget, held_elsewhere: int
    ) -> dict[FileKey, FileUse] | None:
        """A process's file use, or None when it is unreadable or too costly to walk or to
        keep (its ``statm`` shared stands in: the file pages it touched itself);
        ``held_elsewhere``: the runs the other processes' walks hold."""
        began = time.perf_counter()
        try:
            found: Walk = walk(pid, budget)
        except OSError as exc:  # exited, or pagemap not readable
            log.debug("no file mappings of pid %d: %s", pid, exc)
            return None
        self.walks += 1
        if found.use is not None:
            refused = held_refusal(held_elsewhere, found.use)
            if refused:
                found = Walk(None, refused)
        took_us = (time.perf_counter() - began) * 1e6
        if found.refused:
            self.refused += 1
            # Once per environment at info (a test and an operator see it), then debug:
            # a hostile function would otherwise write a line a second per process.
            log.log(
                logging.INFO if self.refused == 1 else logging.DEBUG,
                "Max Memory Used: pid %d not walked (%s, %.0f µs); its own resident file "
                "pages count instead",
                pid,
                found.refused,
                took_us,
            )
        else:
            log.debug("walked pid %d in %.0f µs", pid, took_us)
        return found.use

    def _forget(self, pids: set[int]) -> None:
        for pid in pids:
            member = self._members.pop(pid)
            if member is not None:
                self._held_runs -= runs_held(member.use)
                os.close(member.statm_fd)

    def close(self) -> None:
        """Close every descriptor (idempotent); the peak stays readable."""
        self._forget(set(self._members))
        if self._procs_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._procs_fd)
            self._procs_fd = -1


def _open_member(pid: int) -> _Member | None:
    """A counted process with its ``statm`` open, or None (not counted)."""
    try:
        with open(f"/proc/{pid}/status", "rb") as status:
            if is_namespace_init(status.read()):
                return None
        return _Member(os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC))
    except OSError:  # exited since cgroup.procs was read
        return None
