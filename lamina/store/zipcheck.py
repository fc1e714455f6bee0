"""The rules a code package must follow, as pure decisions over zip entry metadata.

Nothing here touches the file system: :func:`plan_entries` turns the central directory
into a checked :class:`ExtractPlan` (or raises a Lambda-shaped error), :func:`check_links` proves
that every symbolic link resolves inside the package, and :class:`SizeBudget` counts the
bytes an extraction really produces. Function code is hostile, so every rule assumes the
archive was crafted to escape its directory or to exhaust the disk.
"""

from __future__ import annotations

import re
import stat
import zipfile
from dataclasses import dataclass, field
from enum import Enum

from lamina.errors import InvalidParameterValue, InvalidZipFile, RequestTooLarge

# Lambda rejects a CreateFunction/UpdateFunctionCode request whose body is over 69,905,067
# bytes: the base64 of a 50 MiB zip. We check the decoded zip against 50 MiB and quote
# Lambda's own message, which talks about the request.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_REQUEST_BYTES = 69_905_067
MAX_UNZIPPED_BYTES = 262_144_000
MAX_ENTRIES = 20_000
MAX_LINK_TARGET_BYTES = 4_095
MAX_LINK_HOPS = 40  # Linux's own limit on symlinks followed in one path lookup

NOT_A_ZIP = "Could not unzip uploaded file. Please check your file, then try to upload again."

_DRIVE = re.compile(r"^[A-Za-z]:")


@dataclass(frozen=True, slots=True)
class ZipLimits:
    """The size and count limits one code store enforces (Lambda's by default)."""

    max_zipped_bytes: int = MAX_ZIPPED_BYTES
    max_unzipped_bytes: int = MAX_UNZIPPED_BYTES
    max_entries: int = MAX_ENTRIES


class Kind(Enum):
    DIR = "dir"
    FILE = "file"
    LINK = "link"


@dataclass(frozen=True, slots=True)
class Entry:
    """One checked zip member: where it goes, what it is, and its final permission bits."""

    info: zipfile.ZipInfo
    parts: tuple[str, ...]
    kind: Kind
    mode: int

    @property
    def relpath(self) -> str:
        return "/".join(self.parts)


@dataclass(slots=True)
class ExtractPlan:
    """Everything to create, in a safe order: directories, then files, then links."""

    dirs: list[tuple[str, ...]] = field(default_factory=list)
    files: list[Entry] = field(default_factory=list)
    links: list[Entry] = field(default_factory=list)
    declared_bytes: int = 0


def too_large(limit: int = MAX_UNZIPPED_BYTES) -> InvalidParameterValue:
    return InvalidParameterValue(f"Unzipped size must be smaller than {limit} bytes")


def request_too_large(operation: str) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the {operation} operation"
    )


def too_many_entries(count: int, limits: ZipLimits) -> InvalidZipFile:
    return InvalidZipFile(
        f"Zip file has {count} entries; at most {limits.max_entries} are allowed."
    )


def corrupt(detail: str = "") -> InvalidZipFile:
    return InvalidZipFile(f"{NOT_A_ZIP} ({detail})" if detail else NOT_A_ZIP)


def bad_entry(name: str, reason: str) -> InvalidZipFile:
    return InvalidZipFile(
        f"Invalid zip entry {name!r}: {reason}. "
        "Entries must be relative paths that stay inside the package."
    )


def entry_parts(name: str) -> tuple[str, ...]:
    """Split an entry name into safe path components, or raise naming the entry.

    ``.`` and empty components are dropped (``./a//b`` is ``a/b``); anything that could
    leave the package on any platform is refused rather than repaired.
    """
    if "\x00" in name:
        raise bad_entry(name, "contains a NUL character")
    if "\\" in name:
        # Windows tools use backslashes as separators; unpacked on Linux they would be
        # literal characters, and "..\\x" is a classic escape on the other side.
        raise bad_entry(name, "contains a backslash (zip entries must use '/' separators)")
    if name.startswith("/"):
        raise bad_entry(name, "is an absolute path")
    if _DRIVE.match(name):
        raise bad_entry(name, "starts with a drive letter")
    parts = tuple(p for p in name.split("/") if p not in ("", "."))
    if ".." in parts:
        raise bad_entry(name, "has a '..' component")
    for part in parts:
        if len(part.encode("utf-8", "surrogateescape")) > 255:
            raise bad_entry(name, "has a path component longer than 255 bytes")
    return parts


def unix_mode(info: zipfile.ZipInfo) -> int:
    """The Unix mode the zip tool recorded, or 0 (e.g. zips made on Windows)."""
    return (info.external_attr >> 16) & 0xFFFF


def entry_kind(info: zipfile.ZipInfo) -> Kind:
    mode = unix_mode(info)
    if stat.S_ISLNK(mode):
        return Kind.LINK
    if info.orig_filename.endswith("/") or stat.S_ISDIR(mode):
        return Kind.DIR
    return Kind.FILE


def file_mode(parts: tuple[str, ...], info: zipfile.ZipInfo) -> int:
    """Read-only for everyone; executable when the zip says so.

    A top-level ``bootstrap`` from a zip without Unix attributes (made on Windows) is
    treated as executable, since its author had no way to mark it.
    """
    mode = unix_mode(info)
    if mode & 0o111:
        return 0o555
    if parts == ("bootstrap",) and mode == 0:
        return 0o555
    return 0o444


def plan_entries(infos: list[zipfile.ZipInfo], limits: ZipLimits) -> ExtractPlan:
    """Check every entry's path, kind and declared size; return what to create."""
    if len(infos) > limits.max_entries:
        raise too_many_entries(len(infos), limits)
    plan = ExtractPlan()
    kinds: dict[tuple[str, ...], Kind] = {}
    for info in infos:
        if info.flag_bits & 0x1:
            raise corrupt(f"entry {info.filename!r} is encrypted")
        # orig_filename: zipfile cuts ``filename`` at a NUL, hiding what follows it.
        name = info.orig_filename
        parts = entry_parts(name)
        kind = entry_kind(info)
        if not parts:
            if kind is Kind.DIR:
                continue  # "./" names the package root itself
            raise bad_entry(name, "has an empty path")
        for depth in range(1, len(parts)):
            parent = parts[:depth]
            seen = kinds.setdefault(parent, Kind.DIR)
            if seen is not Kind.DIR:
                # Writing below a file or a symlink is how link-then-write escapes work.
                raise bad_entry(name, f"is inside {'/'.join(parent)!r}, not a directory")
        seen_kind = kinds.get(parts)
        if kind is Kind.DIR:
            if seen_kind not in (None, Kind.DIR):
                raise bad_entry(name, "is both a directory and a file")
            kinds[parts] = Kind.DIR
            continue
        if seen_kind is not None:
            raise bad_entry(name, "appears more than once")
        kinds[parts] = kind
        plan.declared_bytes += info.file_size
        if kind is Kind.LINK:
            plan.links.append(Entry(info, parts, kind, 0o777))
        else:
            plan.files.append(Entry(info, parts, kind, file_mode(parts, info)))
    if plan.declared_bytes > limits.max_unzipped_bytes:
        raise too_large(limits.max_unzipped_bytes)
    # Explicit directories and the parents deeper entries imply, parents first.
    plan.dirs = sorted((p for p, k in kinds.items() if k is Kind.DIR), key=len)
    return plan


def check_links(plan: ExtractPlan, targets: dict[tuple[str, ...], str]) -> None:
    """Prove every symlink, followed the way the kernel would, stays inside the package.

    A lexical check is not enough: with ``l2 -> .``, the target ``l2/../x`` looks inner
    but resolves to the package's parent. So resolution follows links inside the
    package's own tree, exactly as path lookup would at run time.
    """
    for link in plan.links:
        target = targets[link.parts]
        if not target or "\x00" in target:
            raise bad_entry(link.info.filename, "is a symbolic link with an invalid target")
        if _resolves_outside(link.parts[:-1], target, targets):
            raise bad_entry(
                link.info.filename, f"is a symbolic link to {target!r}, outside the package"
            )


def _resolves_outside(
    start: tuple[str, ...], target: str, targets: dict[tuple[str, ...], str]
) -> bool:
    if target.startswith("/") or "\\" in target or _DRIVE.match(target):
        return True
    here = list(start)
    pending = target.split("/")
    hops = 0
    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not here:
                return True
            here.pop()
            continue
        here.append(part)
        inner = targets.get(tuple(here))
        if inner is None:
            continue
        hops += 1
        if hops > MAX_LINK_HOPS or inner.startswith("/"):
            return True  # a loop or an absolute link: refuse both
        here.pop()
        pending = inner.split("/") + pending
    return False


class SizeBudget:
    """Counts the bytes an extraction really writes, whatever the headers claim."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise too_large(self.limit)
