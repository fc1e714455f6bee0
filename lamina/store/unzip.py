"""Checked extraction: walk a package entry by entry, writing it or only checking it.

The same walk serves an upload (check only, nothing written) and the first use of a code
version (write into a fresh directory), so the two can never disagree about what is safe.
"""

from __future__ import annotations

import io
import os
import struct
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lamina.store.zipcheck import (
    MAX_LINK_TARGET_BYTES,
    ExtractPlan,
    SizeBudget,
    ZipLimits,
    bad_entry,
    check_links,
    corrupt,
    plan_entries,
    too_many_entries,
)
from lamina.store.zipread import declared_entry_count, entry_chunks

# What zipfile raises on malformed input, besides its own BadZipFile.
_ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    ValueError,
    struct.error,
    NotImplementedError,
    RuntimeError,
    OverflowError,
)
_ZIP_OPEN_ERRORS: tuple[type[Exception], ...] = (*_ZIP_ERRORS, OSError)


def check_package(data: bytes, limits: ZipLimits) -> None:
    """Check a whole package without writing anything; raise a Lambda-shaped error."""
    _walk_package(io.BytesIO(data), io.BytesIO(data), limits, None)


def unpack(source: Path, dest: Path, limits: ZipLimits) -> None:
    """Check and write the package at ``source`` into the empty directory ``dest``."""
    with source.open("rb") as archive, source.open("rb") as raw:
        _walk_package(archive, raw, limits, dest)


def _walk_package(archive: BinaryIO, raw: BinaryIO, limits: ZipLimits, dest: Path | None) -> None:
    """Check every entry and its real bytes; when ``dest`` is given, also write them."""
    count = declared_entry_count(archive)
    if count is None:
        raise corrupt()
    if count > limits.max_entries:
        raise too_many_entries(count, limits)
    archive.seek(0)
    try:
        zf = zipfile.ZipFile(archive)
    except _ZIP_OPEN_ERRORS as exc:
        raise corrupt() from exc
    with zf:
        plan = plan_entries(zf.infolist(), limits)
        try:
            _walk_entries(zf, raw, plan, limits, dest)
        except _ZIP_ERRORS as exc:
            # OSError is left out on purpose: a full disk is not the uploader's fault.
            raise corrupt() from exc


def _walk_entries(
    zf: zipfile.ZipFile, raw: BinaryIO, plan: ExtractPlan, limits: ZipLimits, dest: Path | None
) -> None:
    budget = SizeBudget(limits.max_unzipped_bytes)
    if dest is not None:
        for parts in plan.dirs:
            dest.joinpath(*parts).mkdir(mode=0o700)
    for entry in plan.files:
        chunks = entry_chunks(raw, zf, entry.info)
        if dest is None:
            for chunk in chunks:
                budget.spend(len(chunk))
        else:
            _write_file(dest.joinpath(*entry.parts), entry.mode, chunks, budget)
    targets: dict[tuple[str, ...], str] = {}
    for link in plan.links:
        data = b"".join(entry_chunks(raw, zf, link.info))
        budget.spend(len(data))
        if len(data) > MAX_LINK_TARGET_BYTES:
            raise bad_entry(link.info.orig_filename, "is a symbolic link with a too long target")
        targets[link.parts] = data.decode("utf-8", "surrogateescape")
    check_links(plan, targets)
    if dest is None:
        return
    for link in plan.links:
        os.symlink(targets[link.parts], dest.joinpath(*link.parts))
    # Deepest first: a read-only parent would stop us changing its children.
    for parts in sorted(plan.dirs, key=len, reverse=True):
        dest.joinpath(*parts).chmod(0o555)


def _write_file(path: Path, mode: int, chunks: Iterator[bytes], budget: SizeBudget) -> None:
    # O_EXCL | O_NOFOLLOW: never write through something already there.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    with os.fdopen(os.open(path, flags, 0o600), "wb") as out:
        for chunk in chunks:
            budget.spend(len(chunk))
            out.write(chunk)
        os.fchmod(out.fileno(), mode)
