"""A node agent's cache of code packages and layer archives, fetched by SHA-256.

Functions and layers are stored on the control plane as zips named by the hex SHA-256 of
their bytes (:class:`lamina.store.code.CodeStore`, ``zips/<sha256>.zip``). An agent on
another machine asks for a digest, gets the bytes from a source
(:mod:`lamina.cluster.codesource`: the control plane's ``/lamina/v1/cluster/code`` route, or
an S3-compatible bucket) and keeps them as ``<root>/<sha256>.zip`` — the same layout as
the code store's ``zips/`` folder, so a :class:`~lamina.store.code.CodeStore` rooted one
level up unpacks from the cache directly.

Guarantees:

- **Verified**: the bytes are hashed while they are written; a mismatch deletes them and
  raises :class:`CodeHashMismatch`. A file is only ever named ``<sha256>.zip`` after its
  bytes hashed to that digest.
- **Atomic**: written to a temp file, fsynced, renamed into place; a reader sees a whole
  package or none, and a crash leaves only a temp file (deleted at the next start). One
  agent owns the directory.
- **One fetch per digest**: concurrent callers asking for the same missing digest wait for
  the one fetch in progress (single flight); different digests fetch in parallel.
- **Bounded**: after each fetch, least recently used packages are evicted until the cache
  holds at most ``max_bytes`` — except those ``protect`` names (the code and layers of
  the agent's live environments), which are never deleted under a running sandbox. The
  bound can therefore be exceeded while everything cached is in use; it is a target for
  what is idle, not a quota.

Use from asyncio with ``await asyncio.to_thread(cache.ensure, sha)``: a fetch blocks.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Set
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import LaminaError, ResourceNotFound, ServiceError
from lamina.store.code import fsync_dir

__all__ = [
    "CacheEntry",
    "CodeCache",
    "CodeFetchError",
    "CodeHashMismatch",
    "CodeTooLarge",
    "Fetch",
    "check_digest",
    "plan_eviction",
]

log = logging.getLogger("lamina.cluster.codecache")

# What a source returns for a digest: all the bytes, or chunks of them (a stream, so a
# 250 MB layer is never in memory at once). A source raises ResourceNotFound when it does
# not have the digest.
Chunks = bytes | Iterable[bytes]
Fetch = Callable[[str], Chunks]

DEFAULT_MAX_BYTES = 2 * 1024**3
# A source that streams without end must not fill the disk: no stored package is larger
# than Lambda's 250 MB unzipped limit allows its zip to be.
DEFAULT_MAX_PACKAGE_BYTES = 262_144_000
_SHA = re.compile(r"^[0-9a-f]{64}$")
_TEMP_PREFIX = ".tmp-"


class CodeFetchError(ServiceError):
    """Raised when a code package could not be fetched from its source (the invoke that
    needed it fails with ``ServiceException``; the caller may retry)."""


class CodeHashMismatch(CodeFetchError):
    """Raised when fetched bytes do not hash to the digest asked for (they were deleted)."""


class CodeTooLarge(CodeFetchError):
    """Raised when a source sends more bytes than any package may have."""


def check_digest(sha256: str) -> str:
    """``sha256`` if it is 64 lower-case hex digits; it becomes a file name, so nothing
    else is accepted (raises :class:`~lamina.errors.ResourceNotFound`)."""
    if not _SHA.match(sha256):
        raise ResourceNotFound(f"Code package not found: {sha256!r} is not a SHA-256 digest")
    return sha256


@dataclass(frozen=True, slots=True)
class CacheEntry:
    """One cached package: its digest and size, in least-recently-used order."""

    sha256: str
    size: int


def plan_eviction(entries: Iterable[CacheEntry], max_bytes: int, protected: Set[str]) -> list[str]:
    """The digests to delete, oldest first, so that what remains fits in ``max_bytes``.

    ``entries`` come least recently used first. Protected digests stay whatever their
    age; if they alone exceed the bound, everything else goes and the bound is exceeded.
    """
    entries = list(entries)
    total = sum(e.size for e in entries)
    victims: list[str] = []
    for entry in entries:
        if total <= max_bytes:
            break
        if entry.sha256 in protected:
            continue
        victims.append(entry.sha256)
        total -= entry.size
    return victims


class _Flight:
    """A fetch in progress that other callers of the same digest wait for."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class CodeCache:
    """Code packages by SHA-256 under ``root``, fetched with ``fetch`` when missing."""

    def __init__(
        self,
        root: Path,
        fetch: Fetch,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        max_package_bytes: int = DEFAULT_MAX_PACKAGE_BYTES,
        protect: Callable[[], Set[str]] | None = None,
        on_evict: Callable[[str], None] | None = None,
    ) -> None:
        """``protect`` names the digests in use (never evicted); ``on_evict`` is told each
        digest evicted (e.g. to delete its unpacked tree)."""
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fetch = fetch
        self.max_bytes = max_bytes
        self.max_package_bytes = max_package_bytes
        self._protect = protect
        self._on_evict = on_evict
        self._lock = threading.Lock()
        self._flights: dict[str, _Flight] = {}
        self._lru: OrderedDict[str, int] = OrderedDict()  # digest -> size, oldest first
        self.fetches = 0  # completed fetches (each one a download), for tests and metrics
        self._load()

    # -- reading ---------------------------------------------------------------------------
    def path(self, sha256: str) -> Path:
        """Where package ``sha256`` is (or would be) cached."""
        return self.root / f"{check_digest(sha256)}.zip"

    def has(self, sha256: str) -> bool:
        with self._lock:
            return check_digest(sha256) in self._lru

    def entries(self) -> list[CacheEntry]:
        """What is cached, least recently used first."""
        with self._lock:
            return [CacheEntry(sha, size) for sha, size in self._lru.items()]

    @property
    def size(self) -> int:
        with self._lock:
            return sum(self._lru.values())

    def ensure(self, sha256: str) -> Path:
        """The cached zip of ``sha256``, fetched and verified first if it is missing.

        Raises :class:`CodeFetchError` (or a subclass) when the source fails, and
        :class:`~lamina.errors.ResourceNotFound` when no source has the digest.
        """
        final = self.path(sha256)
        lead = False
        with self._lock:
            if sha256 in self._lru:
                self._lru.move_to_end(sha256)
                flight = None
            else:
                flight = self._flights.get(sha256)
                if flight is None:
                    flight = self._flights[sha256] = _Flight()
                    lead = True
        if lead and flight is not None:
            return self._lead(sha256, final, flight)
        if flight is None:
            if _touch(final):  # the order survives a restart (it is rebuilt from mtimes)
                return final
            with self._lock:
                self._lru.pop(sha256, None)
            return self.ensure(sha256)
        flight.done.wait()
        error = flight.error
        if error is not None:
            # A fresh exception per waiter: one instance raised in many threads would
            # share (and grow) one traceback.
            if isinstance(error, ResourceNotFound):
                raise ResourceNotFound(error.message) from error
            raise CodeFetchError(str(error)) from error
        with self._lock:
            if sha256 in self._lru:
                self._lru.move_to_end(sha256)
        return final

    def _lead(self, sha256: str, final: Path, flight: _Flight) -> Path:
        """Fetch ``sha256`` for every caller waiting on ``flight``."""
        try:
            size = self._download(sha256, final)
        except BaseException as exc:
            flight.error = exc
            raise
        else:
            with self._lock:
                self._lru[sha256] = size
                self._lru.move_to_end(sha256)
                self.fetches += 1
        finally:
            with self._lock:
                del self._flights[sha256]
            flight.done.set()
        self._evict(keep=sha256)
        return final

    # -- writing ---------------------------------------------------------------------------
    def _download(self, sha256: str, final: Path) -> int:
        """Fetch into a temp file, verify, rename into place; the bytes stored."""
        temp = self.root / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
        digest = hashlib.sha256()
        size = 0
        chunks: Chunks = b""
        try:
            try:
                chunks = self._fetch(sha256)
                with temp.open("xb") as out:
                    for chunk in [chunks] if isinstance(chunks, bytes) else chunks:
                        size += len(chunk)
                        if size > self.max_package_bytes:
                            raise CodeTooLarge(
                                f"Code package {sha256} is larger than "
                                f"{self.max_package_bytes} bytes: refused"
                            )
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
            except LaminaError:
                raise
            except Exception as exc:
                log.warning("fetching code package %s failed: %s", sha256, exc)
                raise CodeFetchError(f"Could not fetch code package {sha256}: {exc}") from exc
            got = digest.hexdigest()
            if got != sha256:
                log.error("code package %s arrived with SHA-256 %s: deleted", sha256, got)
                raise CodeHashMismatch(
                    f"Code package {sha256} failed verification: its bytes hash to {got}"
                )
            temp.chmod(0o400)
            os.replace(temp, final)
            fsync_dir(self.root)
            return size
        finally:
            temp.unlink(missing_ok=True)
            # A stream cut short (too large, a write error) releases its connection now.
            close = getattr(chunks, "close", None)
            if callable(close):
                close()

    def _evict(self, keep: str) -> None:
        protected = set(self._protect()) if self._protect is not None else set()
        protected.add(keep)
        with self._lock:
            # Digests being fetched are not in the index yet; nothing to protect there.
            entries = [CacheEntry(sha, size) for sha, size in self._lru.items()]
            victims = plan_eviction(entries, self.max_bytes, protected)
            for sha in victims:
                del self._lru[sha]
        for sha in victims:
            (self.root / f"{sha}.zip").unlink(missing_ok=True)
            log.info("evicted code package %s from the cache", sha)
            if self._on_evict is not None:
                try:
                    self._on_evict(sha)
                except Exception:
                    log.exception("on_evict(%s) failed; the package file is gone already", sha)

    def _load(self) -> None:
        """Index what a previous run left (oldest modification first) and drop its temps."""
        found: list[tuple[float, str, int]] = []
        for path in self.root.iterdir():
            if path.name.startswith(_TEMP_PREFIX):
                path.unlink(missing_ok=True)
            elif path.suffix == ".zip" and _SHA.match(path.stem) and path.is_file():
                stat = path.stat()
                found.append((stat.st_mtime, path.stem, stat.st_size))
        for _mtime, sha, size in sorted(found):
            self._lru[sha] = size


def _touch(path: Path) -> bool:
    try:
        os.utime(path)
    except FileNotFoundError:
        # Deleted behind our back (an operator cleaning up): fetch it again.
        log.warning("cached code package %s vanished; fetching it again", path.name)
        return False
    return True
