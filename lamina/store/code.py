"""The code store: content-addressed zip packages and their unpacked, read-only trees.

Layout under ``root`` (``<data_dir>/code``)::

    zips/<sha256>.zip        the package as uploaded, named by the hex digest of its bytes
    unpacked/<sha256>/       the package unpacked once, read-only, bind-mounted into sandboxes

Every zip is fully checked when it is stored (paths, links, sizes, real decompressed bytes),
and checked again while it is unpacked, so a tampered file on disk cannot do more than a
rejected upload. Both writes are atomic: a temp file or directory renamed into place, so a
reader sees a complete package or none. One server process owns a data directory.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import ResourceNotFound
from lamina.store.unzip import check_package, unpack
from lamina.store.zipcheck import ZipLimits, request_too_large
from lamina.store.zipdir import zip_directory

__all__ = ["CodePackage", "CodeStore", "ZipLimits", "zip_directory"]

_SHA = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".tmp-"
_TRASH_PREFIX = ".trash-"


@dataclass(frozen=True, slots=True)
class CodePackage:
    """A stored package: its hex SHA-256 (the store's key) and its size in bytes."""

    sha256_hex: str
    size: int

    @property
    def code_sha256(self) -> str:
        """Lambda's ``CodeSha256``: the base64 of the raw digest."""
        return base64.b64encode(bytes.fromhex(self.sha256_hex)).decode("ascii")


class CodeStore:
    """Stores, checks, unpacks and collects code packages under one directory."""

    def __init__(self, root: Path, *, limits: ZipLimits | None = None) -> None:
        self.root = Path(root)
        self.limits = limits or ZipLimits()
        self._zips = self.root / "zips"
        self._unpacked = self.root / "unpacked"
        # The sandbox's unprivileged user must traverse down to unpacked/<sha>.
        for directory, mode in ((self.root, 0o755), (self._zips, 0o700), (self._unpacked, 0o755)):
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(mode)
        self._lock = threading.Lock()
        self._unpack_locks: dict[str, threading.Lock] = {}
        self._in_progress: set[str] = set()

    # -- storing ---------------------------------------------------------------------------

    def put_zip(self, data: bytes, *, operation: str = "CreateFunction") -> CodePackage:
        """Check and store a package; storing identical bytes again is a no-op.

        ``operation`` only words the too-large error (CreateFunction, UpdateFunctionCode).
        """
        if len(data) > self.limits.max_zipped_bytes:
            raise request_too_large(operation)
        sha = hashlib.sha256(data).hexdigest()
        package = CodePackage(sha, len(data))
        final = self._zips / f"{sha}.zip"
        if final.exists():
            # Fresh mtime: a concurrent gc treats it as new and leaves it alone.
            os.utime(final)
            return package
        check_package(data, self.limits)
        with self._temp_name(self._zips) as temp:
            with temp.open("wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            temp.chmod(0o400)
            os.replace(temp, final)
        fsync_dir(self._zips)
        return package

    def zip_path(self, sha: str) -> Path:
        """Where package ``sha`` is stored (it may not exist)."""
        return self._zips / f"{_checked_sha(sha)}.zip"

    def has(self, sha: str) -> bool:
        return self.zip_path(sha).exists()

    def unzipped_size(self, sha: str) -> int:
        """The bytes package ``sha`` unpacks to (checked against the real bytes when stored)."""
        try:
            with zipfile.ZipFile(self.zip_path(sha)) as archive:
                return sum(info.file_size for info in archive.infolist())
        except FileNotFoundError:
            raise ResourceNotFound(f"Code package not found: {sha}") from None

    # -- unpacking -------------------------------------------------------------------------

    def unpacked(self, sha: str) -> Path:
        """The read-only tree of package ``sha``, unpacked on first use.

        Threads of this process wait for one unpack; another process racing us loses the
        final rename and throws its copy away, so the tree is never half-written.
        """
        final = self._unpacked / _checked_sha(sha)
        if final.is_dir():
            return final
        with self._lock:
            lock = self._unpack_locks.setdefault(sha, threading.Lock())
        with lock:
            if final.is_dir():
                return final
            source = self.zip_path(sha)
            if not source.exists():
                raise ResourceNotFound(f"Code package not found: {sha}")
            with self._temp_name(self._unpacked) as temp:
                temp.mkdir(mode=0o700)
                try:
                    unpack(source, temp, self.limits)
                    os.sync()  # the tree is a cache, but must never be half-written
                    if os.geteuid() == 0:
                        temp.chmod(0o555)
                    os.rename(temp, final)
                except OSError:
                    if not final.is_dir():
                        raise
                finally:
                    if temp.exists():
                        _remove_tree(temp)
            if os.geteuid() != 0:
                # A non-root owner cannot rename a directory it may not write into.
                final.chmod(0o555)
        return final

    # -- collecting ------------------------------------------------------------------------

    def gc(self, keep: set[str], *, grace_s: float = 600.0) -> list[str]:
        """Delete packages not in ``keep`` and not stored in the last ``grace_s`` seconds.

        The server runs this once at start (:meth:`lamina.functions.Functions.collect_code`),
        before any environment exists, so no running environment can be using a package it
        deletes. The grace period covers an upload whose function is not saved yet. Also
        clears temp and trash left by a crash. Returns the deleted digests.
        """
        deleted: list[str] = []
        cutoff = time.time() - grace_s
        with self._lock:
            shas = {p.stem for p in self._zips.glob("*.zip")}
            shas |= {p.name for p in self._unpacked.iterdir() if _SHA.match(p.name)}
            for sha in sorted(shas - keep):
                if not _SHA.match(sha):
                    continue
                zip_file = self._zips / f"{sha}.zip"
                if zip_file.exists() and zip_file.stat().st_mtime > cutoff:
                    continue
                self._delete_unlocked(sha)
                deleted.append(sha)
            for folder in (self._zips, self._unpacked):
                for leftover in folder.iterdir():
                    if leftover.name.startswith((_TEMP_PREFIX, _TRASH_PREFIX)) and (
                        leftover.name not in self._in_progress
                    ):
                        _remove_tree(leftover)
        return deleted

    def _delete_unlocked(self, sha: str) -> None:
        tree = self._unpacked / sha
        if tree.exists():
            # Rename first: a reader sees the whole tree or none, never a half-deleted one.
            trash = self._unpacked / f"{_TRASH_PREFIX}{sha}-{uuid.uuid4().hex}"
            os.rename(tree, trash)
            _remove_tree(trash)
        (self._zips / f"{sha}.zip").unlink(missing_ok=True)

    @contextmanager
    def _temp_name(self, folder: Path) -> Iterator[Path]:
        name = f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        with self._lock:
            self._in_progress.add(name)
        try:
            yield folder / name
        finally:
            with self._lock:
                self._in_progress.discard(name)
            leftover = folder / name
            if leftover.is_file():
                leftover.unlink()


def _remove_tree(path: Path) -> None:
    """Delete a tree whose directories are read-only (root would not care; others do)."""
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
        return
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, stat.S_IRWXU)
    shutil.rmtree(path, ignore_errors=True)


def fsync_dir(path: Path) -> None:
    """Make a rename or new file in directory ``path`` durable (fsync the directory)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _checked_sha(sha: str) -> str:
    # The digest becomes a path component: never let it be anything but 64 hex digits.
    if not _SHA.match(sha):
        raise ValueError(f"not a sha256 hex digest: {sha!r}")
    return sha
