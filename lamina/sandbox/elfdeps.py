"""What an ELF file needs from the dynamic linker, read from its headers (no ``ldd``).

``ldd`` runs the file's own interpreter, which is not something to do with files a
function may have brought; the environments' ``/usr`` tree (:mod:`lamina.sandbox.usrtree`)
instead reads ``PT_INTERP``, ``DT_NEEDED`` and ``DT_RUNPATH``/``DT_RPATH`` itself and
resolves the names the way ``ld.so`` would: the file's run paths, then the directories of
``/etc/ld.so.conf`` (what ``ld.so.cache`` is made from), then the standard ones.
Only 64-bit little-endian ELF files are read (x86-64, aarch64); anything else needs nothing.
"""

from __future__ import annotations

import glob
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_PT_LOAD, _PT_DYNAMIC, _PT_INTERP = 1, 2, 3
_DT_NULL, _DT_NEEDED, _DT_STRTAB, _DT_RPATH, _DT_RUNPATH = 0, 1, 5, 15, 29
_MAX_DYNAMIC = 4096  # entries; a real file has a few dozen
_MAX_STRING = 4096

Reader = Callable[[int, int], bytes]  # (offset, size) -> at most size bytes


@dataclass(frozen=True, slots=True)
class ElfNeeds:
    """The dynamic-linking facts of one ELF file."""

    interp: str | None  # PT_INTERP, e.g. /lib64/ld-linux-x86-64.so.2
    needed: tuple[str, ...]  # DT_NEEDED sonames, in order
    runpath: tuple[str, ...]  # DT_RUNPATH, else DT_RPATH, split on ':'


def parse_elf(read: Reader) -> ElfNeeds | None:
    """The needs of the ELF file behind ``read`` (pure), or None if it is not a 64-bit
    little-endian ELF file or its headers do not hold together."""
    head = read(0, 64)
    if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
        return None
    (phoff,) = struct.unpack_from("<Q", head, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
    if phentsize < 56 or phnum > 256:
        return None
    table = read(phoff, phentsize * phnum)
    if len(table) < phentsize * phnum:
        return None
    loads: list[tuple[int, int, int]] = []  # (vaddr, offset, filesz)
    dynamic: tuple[int, int] | None = None
    interp = None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", table, i * phentsize
        )
        if p_type == _PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == _PT_DYNAMIC:
            dynamic = (p_offset, min(p_filesz, _MAX_DYNAMIC * 16))
        elif p_type == _PT_INTERP:
            interp = (
                read(p_offset, min(p_filesz, _MAX_STRING))
                .split(b"\0", 1)[0]
                .decode(errors="replace")
            )
    if dynamic is None:
        return ElfNeeds(interp, (), ())
    raw = read(*dynamic)
    entries = [struct.unpack_from("<qQ", raw, at) for at in range(0, len(raw) - 15, 16)]
    strtab = None
    for tag, value in entries:
        if tag == _DT_NULL:
            break
        if tag == _DT_STRTAB:
            strtab = next(
                (
                    value - vaddr + off
                    for vaddr, off, size in loads
                    if vaddr <= value < vaddr + size
                ),
                None,
            )
    if strtab is None:
        return ElfNeeds(interp, (), ())

    def string(at: int) -> str:
        return read(strtab + at, _MAX_STRING).split(b"\0", 1)[0].decode(errors="replace")

    needed: list[str] = []
    runpath: list[str] = []
    rpath: list[str] = []
    for tag, value in entries:
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(string(value))
        elif tag == _DT_RUNPATH:
            runpath += string(value).split(":")
        elif tag == _DT_RPATH:
            rpath += string(value).split(":")
    return ElfNeeds(interp, tuple(needed), tuple(p for p in runpath or rpath if p))


def read_elf(path: Path) -> ElfNeeds | None:
    """:func:`parse_elf` of a file on disk (None if unreadable or not ELF)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        return parse_elf(lambda offset, size: os.pread(fd, size, offset))
    except (OSError, struct.error):
        return None
    finally:
        os.close(fd)


def ld_so_conf_dirs(conf: Path = Path("/etc/ld.so.conf")) -> list[str]:
    """The library directories ``/etc/ld.so.conf`` (and its ``include``s) lists, in order."""
    out: list[str] = []
    seen: set[Path] = set()

    def walk(path: Path) -> None:
        if path in seen:
            return
        seen.add(path)
        try:
            text = path.read_text()
        except OSError:
            return
        for line in text.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("include "):
                pattern = line.split(None, 1)[1]
                if not pattern.startswith("/"):
                    pattern = str(path.parent / pattern)
                for name in sorted(glob.glob(pattern)):
                    walk(Path(name))
            elif line.startswith("/"):
                out.append(line)

    walk(conf)
    return out


def default_dirs(triplet: str | None) -> list[str]:
    """The dynamic linker's built-in directories (after ``ld.so.cache``)."""
    multiarch = [f"/lib/{triplet}", f"/usr/lib/{triplet}"] if triplet else []
    return [*multiarch, "/lib64", "/usr/lib64", "/lib", "/usr/lib"]
