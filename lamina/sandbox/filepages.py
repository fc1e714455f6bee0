"""The file pages an environment maps, counted as its own page cache would hold them.

Lambda's Max Memory Used is a microVM's memory: every file page the runtime and code
touched, plus what the kernel read around each of those faults (readahead), is that VM's
page cache. Here the page cache is the host's, shared: the pages are usually cached
already, so neither the cgroup's charge (it counts only pages it faulted in first) nor
the resident set (it counts only pages this process touched) says what a fresh VM would
hold, and counting the host's cached pages of the mapped files reads whatever any process
on the host ever read of them (the whole 94 MB ``node`` binary on a busy host).

So the file figure is rebuilt from the environment's own faults: from ``/proc/<pid>/maps``
its file mappings, from ``/proc/<pid>/pagemap`` which of their pages the process has
mapped (touched), in file-page offsets; per file (device, inode), the union over all the
environment's processes (a VM's page cache holds one copy), each touched run widened by
the backing device's readahead window (``read_ahead_kb``: the kernel's mmap read-around
reads that window centred on a faulting page), clipped to the span of the file that is
mapped. Files on devices without readahead (tmpfs, shared memory) count their touched
pages only.

Pure functions here (:func:`parse_maps`, :func:`present_runs`, :func:`readahead_pages`,
:func:`walk_refusal`), the reads in :func:`walk` and :class:`WindowOf`. A walk costs a
``maps`` read and a ``pagemap`` read over the file mappings (~0.5 ms for Node's 23,000
mapped pages), so :mod:`lamina.sandbox.resident` walks a process only when its mapping or
file-resident counts changed, and at most once per ``WALK_INTERVAL_S``.

The function's code is hostile, and a walk's cost is what it maps: a 1 TiB sparse file
mapped and never touched is 268 M pagemap entries (4.5-4.9 s of the server's event loop
and 550 MB of its memory on the unbounded walk, measured), 60,000 small mappings a 6.3 MB
``maps`` text (~50 ms to read, ~140 ms to parse). So a walk is bounded
(:class:`WalkBudget`, :func:`walk_refusal`): at most :data:`MAPS_MAX_BYTES` of ``maps``,
:data:`MAX_FILE_MAPPINGS` file mappings and :data:`MAX_WALK_PAGES` file-mapped pages,
and no more than :data:`MAX_TOUCHED_RUNS` runs of touched pages made into objects; a
process past a bound is not walked, and the sampler counts its own file-resident pages
instead (``statm`` shared: what it touched, without readahead).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_PAGEMAP_ENTRY = 8  # bytes per page in /proc/<pid>/pagemap; bit 63: present
_PRESENT_RUN = re.compile(rb"\x01+")
# bytes -> 1 where the byte's top bit (the entry's bit 63) is set, else 0
_TOP_BIT = bytes(int(b >= 0x80) for b in range(256))

PAGEMAP_CHUNK = 65536  # pages per pagemap read: 512 KiB of entries

# The bounds of one walk (the function chooses what it maps). A bare Python's ``maps`` is
# 4 KB, Node's 7 KB, a Python process with a few libraries imported ~30 KB; 512 KiB is
# ~5,000 lines, read and parsed in ~11 ms here. 1 Mi pages (4 GiB of file mappings, 8 MiB
# of pagemap entries, a 15 ms walk here) is 45 times Node's 23,000; a function mapping
# more (a data file of gigabytes) counts its own resident file pages instead (no
# readahead widening), which for such a function is most of the figure anyway.
MAPS_MAX_BYTES = 512 * 1024
MAX_FILE_MAPPINGS = 4096
MAX_WALK_PAGES = 1 << 20
# Runs of touched pages, counted once the pagemap is read: each is a few Python objects in
# the file figure (every other page of 1 Mi touched, 512 Ki runs, costs 2.3 s there). Node's
# hello touches 120 runs, a Python process with a few libraries 65.
MAX_TOUCHED_RUNS = 8192
# The runs (mapped and touched) the walks of all an environment's processes hold: the file
# figure is recomputed over all of them when one walk changes, so a function forking a
# thousand processes that share one striped mapping would otherwise make that seconds.
MAX_ENVIRONMENT_RUNS = 2 * MAX_TOUCHED_RUNS
FileKey = tuple[int, int]  # (device number, inode)
Runs = list[tuple[int, int]]  # half-open page ranges [start, end), sorted, disjoint


class FileMapping(NamedTuple):
    """One file-backed line of ``/proc/<pid>/maps``."""

    start: int  # virtual address
    end: int
    page: int  # the file page mapped at ``start``
    file: FileKey


_MAPS_LINE = re.compile(
    rb"^([0-9a-f]+)-([0-9a-f]+) \S+ ([0-9a-f]+) ([0-9a-f]+):([0-9a-f]+) ([0-9]+)", re.MULTILINE
)


def parse_maps(text: bytes) -> list[FileMapping]:
    """The file-backed mappings (inode ≠ 0) of a ``/proc/<pid>/maps`` text."""
    return [
        FileMapping(
            int(start, 16),
            int(end, 16),
            int(offset, 16) // PAGE_BYTES,
            (os.makedev(int(major, 16), int(minor, 16)), int(inode)),
        )
        for start, end, offset, major, minor, inode in _MAPS_LINE.findall(text)
        if inode != b"0"
    ]


def mapped_pages(mappings: Sequence[FileMapping]) -> int:
    """The pages the ``mappings`` span: the pagemap entries a walk of them reads."""
    return sum((m.end - m.start) // PAGE_BYTES for m in mappings)


def walk_refusal(
    mappings: Sequence[FileMapping],
    max_mappings: int = MAX_FILE_MAPPINGS,
    max_pages: int = MAX_WALK_PAGES,
) -> str:
    """Why reading the pagemap of these (parsed) file mappings would cost more than a walk
    may ('' when it would not): more than ``max_mappings`` of them, or more than
    ``max_pages`` pages mapped (a huge sparse file, mapped and never touched, costs as
    much to walk as one wholly touched)."""
    if len(mappings) > max_mappings:
        return f"{len(mappings)} file mappings (at most {max_mappings})"
    pages = mapped_pages(mappings)
    if pages > max_pages:
        return f"{pages} file-mapped pages (at most {max_pages})"
    return ""


def touched_runs(flags: bytes) -> int:
    """The runs of present pages in ``flags`` (of :func:`present_flags`), counted at C
    speed (~2 ms for 1 Mi pages) before any run is made an object."""
    return flags.count(b"\x00\x01") + flags.startswith(b"\x01")


def runs_held(use: dict[FileKey, FileUse] | None) -> int:
    """The runs a walk's file use holds (mapped and touched): its share of the work of
    :func:`environment_file_pages`."""
    if use is None:
        return 0
    return sum(len(runs.mapped) + len(runs.touched) for runs in use.values())


def held_refusal(
    held_elsewhere: int, use: dict[FileKey, FileUse], limit: int = MAX_ENVIRONMENT_RUNS
) -> str:
    """Why an environment should not keep a process's walk ('' when it may): with the runs
    its other processes' walks hold (``held_elsewhere``), more than ``limit``."""
    held = held_elsewhere + runs_held(use)
    if held > limit:
        return f"the environment's walks would hold {held} runs (at most {limit})"
    return ""


def present_flags(pagemap: bytes) -> bytes:
    """One byte per ``pagemap`` entry: 1 where the page is present (bit 63), else 0."""
    return pagemap[_PAGEMAP_ENTRY - 1 :: _PAGEMAP_ENTRY].translate(_TOP_BIT)


def present_runs(flags: bytes, first_page: int, start: int = 0, end: int | None = None) -> Runs:
    """The runs of present pages in ``flags[start:end]`` (of :func:`present_flags`), as
    pages from ``first_page`` (the page at ``start``)."""
    stop = len(flags) if end is None else end
    shift = first_page - start
    return [(m.start() + shift, m.end() + shift) for m in _PRESENT_RUN.finditer(flags, start, stop)]


def merge(runs: Iterable[tuple[int, int]]) -> Runs:
    """Sorted, disjoint runs covering the same pages (touching runs joined)."""
    out: Runs = []
    for start, end in sorted(runs):
        if out and start <= out[-1][1]:
            if end > out[-1][1]:
                out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
    return out


def pages_in(runs: Runs) -> int:
    return sum(end - start for start, end in runs)


def readahead_pages(touched: Runs, mapped: Runs, window: int) -> int:
    """Pages a fresh page cache would hold of a file: each touched run widened by half a
    readahead ``window`` (pages) on each side, clipped to the span of ``mapped``, merged.
    """
    if not touched:
        return 0
    half = window // 2
    low = min(start for start, _ in mapped) if mapped else 0
    high = max(end for _, end in mapped) if mapped else max(end for _, end in touched)
    widened = ((max(low, start - half), min(high, end + half)) for start, end in touched)
    return pages_in(merge(run for run in widened if run[0] < run[1]))


class FileUse(NamedTuple):
    """What one process maps and has touched of one file (file-page runs)."""

    mapped: Runs
    touched: Runs


def contiguous_spans(mappings: Sequence[FileMapping]) -> Runs:
    """The virtual page spans the (address-ordered) ``mappings`` cover, adjacent ones joined:
    one ``pagemap`` read per span instead of one per mapping (a library's four or five
    mappings are adjacent)."""
    spans: Runs = []
    for m in mappings:
        first, end = m.start // PAGE_BYTES, m.end // PAGE_BYTES
        if spans and spans[-1][1] == first:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((first, end))
    return spans


def file_use(
    mappings: Sequence[FileMapping], flags_at: Callable[[int, int], bytes]
) -> dict[FileKey, FileUse]:
    """Per file, the mapped and touched page runs of one process's (address-ordered)
    mappings; ``flags_at(first, count)`` reads the present flags (:func:`present_flags`)
    of a virtual page span."""
    mapped: dict[FileKey, list[tuple[int, int]]] = {}
    touched: dict[FileKey, list[tuple[int, int]]] = {}
    i = 0
    for span_first, span_end in contiguous_spans(mappings):
        flags = flags_at(span_first, span_end - span_first)
        while i < len(mappings) and mappings[i].start // PAGE_BYTES < span_end:
            m = mappings[i]
            i += 1
            first = m.start // PAGE_BYTES
            count = m.end // PAGE_BYTES - first
            mapped.setdefault(m.file, []).append((m.page, m.page + count))
            at = first - span_first
            runs = present_runs(flags, m.page, at, at + count)
            touched.setdefault(m.file, []).extend(runs)
    return {key: FileUse(merge(mapped[key]), merge(touched[key])) for key in mapped}


def environment_file_pages(
    uses: Iterable[dict[FileKey, FileUse]], window_of: Callable[[int], int]
) -> int:
    """The file figure of an environment, in pages: per file, the union of its processes'
    mapped and touched runs, widened by the file's device's readahead window."""
    mapped: dict[FileKey, list[tuple[int, int]]] = {}
    touched: dict[FileKey, list[tuple[int, int]]] = {}
    for use in uses:
        for key, runs in use.items():
            mapped.setdefault(key, []).extend(runs.mapped)
            touched.setdefault(key, []).extend(runs.touched)
    # readahead_pages unites the (widened) touched runs itself and needs only the mapped span.
    return sum(readahead_pages(touched[key], mapped[key], window_of(key[0])) for key in mapped)


# -- the reads ----------------------------------------------------------------------------
class PagemapReader:
    """Reads the present flags of an open ``/proc/<pid>/pagemap``, at most
    :data:`PAGEMAP_CHUNK` pages per read (a large mapped file costs 1 byte per page
    kept, not 8)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def __call__(self, first: int, count: int) -> bytes:
        """The present flags of ``count`` pages from virtual page ``first``."""
        chunks = []
        for at in range(first, first + count, PAGEMAP_CHUNK):
            n = min(PAGEMAP_CHUNK, first + count - at)
            chunks.append(
                present_flags(os.pread(self._fd, n * _PAGEMAP_ENTRY, at * _PAGEMAP_ENTRY))
            )
        return b"".join(chunks)


class WindowOf:
    """The readahead window (pages) of a device, read once from sysfs and remembered."""

    def __init__(self, sysfs: str = "/sys/class/bdi", block: str = "/sys/dev/block") -> None:
        self._sysfs = sysfs
        self._block = block
        self._known: dict[int, int] = {}

    def __call__(self, dev: int) -> int:
        window = self._known.get(dev)
        if window is None:
            window = self._known[dev] = readahead_window(self._sysfs, dev, self._block)
        return window


def readahead_window(sysfs: str, dev: int, block: str = "/sys/dev/block") -> int:
    """A block device's ``read_ahead_kb`` in pages; 0 for a device without one (tmpfs,
    shared memory: nothing is read around a fault there).

    A partition has no backing device of its own: its files are read ahead by its disk's
    (``/sys/dev/block/<M:m>`` of a partition has a ``partition`` file, and its parent
    directory is the disk, whose ``queue/read_ahead_kb`` is the window)."""
    number = f"{os.major(dev)}:{os.minor(dev)}"
    window = _kb_in_pages(f"{sysfs}/{number}/read_ahead_kb")
    if window is None and os.path.exists(f"{block}/{number}/partition"):
        disk = os.path.dirname(os.path.realpath(f"{block}/{number}"))
        window = _kb_in_pages(f"{disk}/queue/read_ahead_kb")
    return window or 0


def _kb_in_pages(path: str) -> int | None:
    """A sysfs file's kilobytes in pages, or None when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return int(f.read()) * 1024 // PAGE_BYTES
    except (OSError, ValueError):
        return None


class WalkBudget:
    """What the walks of one sample may still read: ``maps`` bytes and pagemap pages.

    A walk starts only while both are left and may overdraw them (it is bounded by the
    per-walk caps itself), so a sample reads at most the budget plus one walk at the caps;
    the processes still due then wait for the next sample."""

    __slots__ = ("maps_bytes", "pages")

    def __init__(self, maps_bytes: int = MAPS_MAX_BYTES, pages: int = MAX_WALK_PAGES) -> None:
        self.maps_bytes = maps_bytes
        self.pages = pages

    def left(self) -> bool:
        return self.maps_bytes > 0 and self.pages > 0


class Walk(NamedTuple):
    """What a walk found: the process's file use, or why it was not taken (``refused``)."""

    use: dict[FileKey, FileUse] | None
    refused: str = ""


def read_maps(pid: int, limit: int = MAPS_MAX_BYTES) -> bytes | None:
    """A process's ``maps`` text, or None when it is longer than ``limit`` bytes (read no
    further than that: a process with 60,000 mappings has 6 MB of it)."""
    fd = os.open(f"/proc/{pid}/maps", os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, 65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)
            size += len(chunk)
        return None
    finally:
        os.close(fd)


def walk(pid: int, budget: WalkBudget | None = None) -> Walk:
    """A process's file use now, within the per-walk bounds; what it read is taken from
    ``budget`` (raises OSError when the process is gone or unreadable)."""
    text = read_maps(pid)
    if budget is not None:
        budget.maps_bytes -= MAPS_MAX_BYTES if text is None else len(text)
    if text is None:
        return Walk(None, f"maps longer than {MAPS_MAX_BYTES} bytes")
    mappings = parse_maps(text)
    refused = walk_refusal(mappings)
    if refused:
        return Walk(None, refused)
    if budget is not None:
        budget.pages -= mapped_pages(mappings)
    fd = os.open(f"/proc/{pid}/pagemap", os.O_RDONLY | os.O_CLOEXEC)
    try:
        read = PagemapReader(fd)
        flags = {first: read(first, end - first) for first, end in contiguous_spans(mappings)}
    finally:
        os.close(fd)
    runs = sum(map(touched_runs, flags.values()))
    if runs > MAX_TOUCHED_RUNS:
        return Walk(None, f"{runs} touched runs (at most {MAX_TOUCHED_RUNS})")
    return Walk(file_use(mappings, lambda first, _count: flags[first]))
