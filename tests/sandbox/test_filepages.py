"""The file pages an environment maps, counted as its own page cache would hold them."""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

from lamina.sandbox.filepages import (
    MAPS_MAX_BYTES,
    MAX_FILE_MAPPINGS,
    MAX_TOUCHED_RUNS,
    MAX_WALK_PAGES,
    PAGE_BYTES,
    PAGEMAP_CHUNK,
    FileMapping,
    FileUse,
    PagemapReader,
    WalkBudget,
    WindowOf,
    contiguous_spans,
    environment_file_pages,
    file_use,
    held_refusal,
    mapped_pages,
    merge,
    parse_maps,
    present_flags,
    present_runs,
    read_maps,
    readahead_pages,
    runs_held,
    touched_runs,
    walk,
    walk_refusal,
)

PRESENT = 1 << 63
LIBC = (os.makedev(0xFE, 0x00), 339380)
NODE = (os.makedev(0xFE, 0x00), 260104)

MAPS = b"""\
562edef4f000-562edef51000 r--p 00000000 fe:00 260104                     /usr/bin/node
562edef51000-562edef55000 r-xp 00002000 fe:00 260104                     /usr/bin/node
562ee0a2e000-562ee0b6c000 rw-p 00000000 00:00 0                          [heap]
7f665c3fe000-7f665c400000 r--p 00000000 fe:00 339380                     /usr/lib/libc.so.6
7f665c5d3000-7f665c5e0000 rw-p 00000000 00:00 0
7f665c614000-7f665c61b000 r--s 00000000 00:01 2048                       /memfd:x (deleted)
7ffc1c5a3000-7ffc1c5c4000 rw-p 00000000 00:00 0                          [stack]
"""


def entries(flags: str) -> bytes:
    """``pagemap`` entries: one per character, present where it is ``x``."""
    return b"".join(struct.pack("<Q", PRESENT | 5 if c == "x" else 0) for c in flags)


def test_the_maps_text_parses_to_its_file_mappings() -> None:
    got = parse_maps(MAPS)
    assert got == [
        FileMapping(0x562EDEF4F000, 0x562EDEF51000, 0, NODE),
        FileMapping(0x562EDEF51000, 0x562EDEF55000, 2, NODE),
        FileMapping(0x7F665C3FE000, 0x7F665C400000, 0, LIBC),
        FileMapping(0x7F665C614000, 0x7F665C61B000, 0, (os.makedev(0, 1), 2048)),
    ]
    assert parse_maps(b"") == []


def test_present_pages_read_as_runs() -> None:
    flags = present_flags(entries("xx..x...xxx"))
    assert flags == b"\x01\x01\x00\x00\x01\x00\x00\x00\x01\x01\x01"
    assert present_runs(flags, 100) == [(100, 102), (104, 105), (108, 111)]
    # A slice of the flags (one mapping of a span), as pages from the slice's first.
    assert present_runs(flags, 500, 1, 9) == [(500, 501), (503, 504), (507, 508)]
    assert present_runs(present_flags(entries("....")), 0) == []
    # Swapped or soft-dirty bits alone (not bit 63) are not present.
    swapped = struct.pack("<Q", 1 << 62) + struct.pack("<Q", 1 << 55)
    assert present_runs(present_flags(swapped), 0) == []


def test_runs_merge_when_they_overlap_or_touch() -> None:
    assert merge([(10, 12), (0, 4), (4, 6), (11, 20), (30, 31)]) == [(0, 6), (10, 20), (30, 31)]
    assert merge([]) == []


def test_touched_runs_widen_by_half_the_readahead_window_each_side_within_the_mapped_span() -> None:
    mapped = [(0, 1000)]
    assert readahead_pages([(500, 501)], mapped, 32) == 33  # 484..517
    assert readahead_pages([(500, 501)], mapped, 0) == 1  # no readahead: the touched page
    assert readahead_pages([(2, 3)], mapped, 32) == 19  # clipped at the span's start
    assert readahead_pages([(995, 999)], mapped, 32) == 21  # and at its end
    # Two faults whose windows overlap count their union once.
    assert readahead_pages([(100, 101), (110, 111)], mapped, 32) == 43  # 84..127
    assert readahead_pages([], mapped, 32) == 0
    # The span runs from the lowest to the highest mapped page (gaps included: readahead
    # reads the file, not the mappings).
    assert readahead_pages([(10, 11)], [(0, 4), (20, 30)], 64) == 30


def test_adjacent_mappings_are_read_in_one_span() -> None:
    mappings = parse_maps(MAPS)
    page = PAGE_BYTES
    assert contiguous_spans(mappings) == [
        (0x562EDEF4F000 // page, 0x562EDEF55000 // page),
        (0x7F665C3FE000 // page, 0x7F665C400000 // page),
        (0x7F665C614000 // page, 0x7F665C61B000 // page),
    ]


def test_a_process_file_use_maps_virtual_pages_to_file_pages() -> None:
    mappings = parse_maps(MAPS)
    node_first = 0x562EDEF4F000 // PAGE_BYTES
    libc_first = 0x7F665C3FE000 // PAGE_BYTES
    memfd_first = 0x7F665C614000 // PAGE_BYTES
    pagemaps = {
        (node_first, 6): present_flags(entries("x...xx")),  # node pages 0, then 4-5
        (libc_first, 2): present_flags(entries("..")),
        (memfd_first, 7): present_flags(entries(".xx....")),
    }
    reads: list[tuple[int, int]] = []

    def flags_at(first: int, count: int) -> bytes:
        reads.append((first, count))
        return pagemaps[(first, count)]

    use = file_use(mappings, flags_at)
    assert len(reads) == 3  # one read per span, not per mapping
    assert use[NODE] == FileUse(mapped=[(0, 6)], touched=[(0, 1), (4, 6)])
    assert use[LIBC] == FileUse(mapped=[(0, 2)], touched=[])
    assert use[(os.makedev(0, 1), 2048)] == FileUse(mapped=[(0, 7)], touched=[(1, 3)])


def test_a_file_two_processes_map_counts_once_with_their_touched_pages_united() -> None:
    a = {NODE: FileUse(mapped=[(0, 1000)], touched=[(100, 110)])}
    b = {
        NODE: FileUse(mapped=[(0, 1000)], touched=[(105, 120), (600, 601)]),
        LIBC: FileUse(mapped=[(0, 50)], touched=[(0, 5)]),
    }
    windows = {NODE[0]: 0}
    assert environment_file_pages([a], windows.__getitem__) == 10
    assert environment_file_pages([a, b], windows.__getitem__) == 20 + 1 + 5
    windows[NODE[0]] = 16
    # 92..128 (the united run 100..120 widened by 8) and 592..609, libc 0..13.
    assert environment_file_pages([a, b], windows.__getitem__) == 36 + 17 + 13
    assert environment_file_pages([], windows.__getitem__) == 0


def test_a_devices_readahead_window_is_read_from_sysfs_once(tmp_path: Path) -> None:
    (tmp_path / "254:0").mkdir()
    (tmp_path / "254:0" / "read_ahead_kb").write_text("128\n")
    window_of = WindowOf(str(tmp_path))
    assert window_of(os.makedev(254, 0)) == 128 * 1024 // PAGE_BYTES
    assert window_of(os.makedev(0, 1)) == 0  # no bdi (tmpfs, shared memory): no readahead
    (tmp_path / "254:0" / "read_ahead_kb").write_text("8192\n")
    assert window_of(os.makedev(254, 0)) == 128 * 1024 // PAGE_BYTES  # remembered


def test_a_partitions_window_is_its_disks(tmp_path: Path) -> None:
    # /sys/dev/block/8:1 -> .../sda/sda1 (a "partition" file); the bdi is the disk's only.
    disk = tmp_path / "devices" / "sda"
    (disk / "queue").mkdir(parents=True)
    (disk / "queue" / "read_ahead_kb").write_text("4096\n")
    (disk / "sda1").mkdir()
    (disk / "sda1" / "partition").write_text("1\n")
    block = tmp_path / "block"
    block.mkdir()
    (block / "8:1").symlink_to(disk / "sda1")
    (block / "8:0").symlink_to(disk)
    bdi = tmp_path / "bdi"
    bdi.mkdir()
    window_of = WindowOf(str(bdi), str(block))
    assert window_of(os.makedev(8, 1)) == 4096 * 1024 // PAGE_BYTES
    assert window_of(os.makedev(8, 0)) == 0  # a whole disk without a bdi entry: none known


def test_a_pagemap_is_read_in_chunks_of_flags(tmp_path: Path) -> None:
    pages = PAGEMAP_CHUNK + 10
    path = tmp_path / "pagemap"
    flags = "x" + "." * (PAGEMAP_CHUNK - 2) + "xx" + "." * 8 + "x"
    path.write_bytes(entries("..") + entries(flags))
    fd = os.open(path, os.O_RDONLY)
    try:
        got = PagemapReader(fd)(2, pages)
    finally:
        os.close(fd)
    assert len(got) == pages
    assert present_runs(got, 0) == [
        (0, 1),
        (PAGEMAP_CHUNK - 1, PAGEMAP_CHUNK + 1),
        (pages - 1, pages),
    ]


def test_a_real_process_walk_finds_the_pages_it_touched_of_a_file_it_maps(
    tmp_path: Path,
) -> None:
    path = tmp_path / "mapped.bin"
    path.write_bytes(bytes(4096 * PAGE_BYTES))
    st = path.stat()
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as view:
        assert view[0] == 0 and view[3000 * PAGE_BYTES] == 0  # touch pages 0 and 3000
        found = walk(os.getpid())
        assert found.use is not None and not found.refused
        use = found.use[(st.st_dev, st.st_ino)]
    assert use.mapped == [(0, 4096)]
    touched = {page for start, end in use.touched for page in range(start, end)}
    # Fault-around (and a large folio, mapped whole) may map cached neighbours too; the
    # touched pages are there, and not the whole file.
    assert {0, 3000} <= touched
    assert len(touched) < 2048


def mappings_of(*pages: int) -> list[FileMapping]:
    """Adjacent mappings of one file, of these many pages each."""
    out, at = [], 0x7F0000000000
    for count in pages:
        out.append(FileMapping(at, at + count * PAGE_BYTES, 0, LIBC))
        at += count * PAGE_BYTES
    return out


def test_a_walk_is_refused_past_its_mapping_and_page_bounds() -> None:
    assert mapped_pages(mappings_of(3, 5)) == 8
    assert walk_refusal(mappings_of(3, 5)) == ""
    assert walk_refusal(mappings_of(MAX_WALK_PAGES)) == ""  # at the cap: walked
    # A huge sparse file, mapped and never touched, costs as much as one wholly touched.
    terabyte = (1 << 40) // PAGE_BYTES
    assert "file-mapped pages" in walk_refusal(mappings_of(terabyte))
    assert "file-mapped pages" in walk_refusal(mappings_of(MAX_WALK_PAGES, 1))
    # Many small mappings: each is a pagemap read and a parse.
    assert walk_refusal(mappings_of(*[1] * MAX_FILE_MAPPINGS)) == ""
    assert "file mappings" in walk_refusal(mappings_of(*[1] * (MAX_FILE_MAPPINGS + 1)))
    assert "file mappings" in walk_refusal(mappings_of(1, 1, 1), max_mappings=2)


def test_a_walk_reads_no_further_than_its_maps_bound() -> None:
    own = read_maps(os.getpid())
    assert own is not None and b"\n" in own
    assert read_maps(os.getpid(), limit=len(own) - 1) is None  # one byte too long
    assert len(own) < MAPS_MAX_BYTES  # a Python process is walked


def test_a_real_process_mapping_a_huge_sparse_file_is_not_walked(tmp_path: Path) -> None:
    path = tmp_path / "sparse.bin"
    path.write_bytes(b"")
    os.truncate(path, 1 << 40)  # 1 TiB, no block of it written
    budget = WalkBudget()
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ):
        found = walk(os.getpid(), budget)
    assert found.use is None
    assert "file-mapped pages" in found.refused
    # Its maps were read (and spent), its pagemap not.
    assert budget.maps_bytes < MAPS_MAX_BYTES
    assert budget.pages == MAX_WALK_PAGES
    found = walk(os.getpid(), budget)  # unmapped: walked again
    assert found.use is not None and not found.refused
    assert budget.pages < MAX_WALK_PAGES


def test_a_sample_budget_lets_a_walk_start_only_while_something_is_left() -> None:
    budget = WalkBudget(maps_bytes=100, pages=10)
    assert budget.left()
    budget.pages -= 11  # a walk may overdraw it (it is bounded by the per-walk caps)
    assert not budget.left()
    assert not WalkBudget(maps_bytes=0, pages=10).left()


def test_touched_runs_are_counted_before_they_are_made() -> None:
    assert touched_runs(b"") == 0
    assert touched_runs(b"\x00\x00") == 0
    assert touched_runs(b"\x01\x01") == 1
    assert touched_runs(b"\x00\x01\x01\x00\x01") == 2
    assert touched_runs(b"\x01\x00" * 1000) == 1000


def test_a_process_touching_every_other_page_of_a_file_is_not_walked(tmp_path: Path) -> None:
    pages = 2 * (MAX_TOUCHED_RUNS + 100)
    path = tmp_path / "striped.bin"
    path.write_bytes(b"")
    os.truncate(path, pages * PAGE_BYTES)
    with path.open("r+b") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY) as view:
        # Private writes: each page copied on its own fault, no fault-around.
        for page in range(0, pages, 2):
            view[page * PAGE_BYTES] = 1
        found = walk(os.getpid())
    assert found.use is None
    assert "touched runs" in found.refused


def test_an_environment_keeps_walks_holding_a_bounded_number_of_runs() -> None:
    use = {LIBC: FileUse([(0, 10), (20, 30)], [(0, 1)]), NODE: FileUse([(0, 5)], [])}
    assert runs_held(use) == 4
    assert runs_held(None) == 0
    assert held_refusal(0, use, limit=4) == ""
    assert held_refusal(6, use, limit=10) == ""
    assert "11 runs (at most 10)" in held_refusal(7, use, limit=10)
