"""Packing files into a deterministic zip: the same inputs give the same CodeSha256.

Sources are collected as ``archive name → file`` maps, so a package can be assembled from
a function's directory, its cached dependencies and its layers without copying anything;
later maps win over earlier ones (code over dependencies over layers), as on Lambda where
the function's own files shadow a layer's.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# Never packaged from a source directory: tool caches, VCS, Lamina's and SAM's own folders.
ALWAYS_EXCLUDED = (
    ".git",
    ".hg",
    ".svn",
    ".lamina",
    ".aws-sam",
    "__pycache__",
    "*.pyc",
    ".venv",
    "venv",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".DS_Store",
    ".idea",
    ".vscode",
)

Entries = dict[str, Path]


@dataclass(frozen=True, slots=True)
class Package:
    """A built zip and its Lambda-style CodeSha256 (base64 of the SHA-256)."""

    data: bytes

    @property
    def sha256(self) -> str:
        return base64.b64encode(hashlib.sha256(self.data).digest()).decode()


def is_excluded(name: str, extra: Iterable[str] = ()) -> bool:
    return any(fnmatch(name, pattern) for pattern in (*ALWAYS_EXCLUDED, *extra))


def collect(root: Path, *, prefix: str = "", exclude: Iterable[str] = ()) -> Entries:
    """Every file under ``root`` (or ``root`` itself, a single file), by archive name."""
    extra = tuple(exclude)
    if root.is_file():
        return {prefix + root.name: root}
    out: Entries = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_excluded(d, extra))
        base = Path(dirpath).relative_to(root)
        for name in filenames:
            if is_excluded(name, extra):
                continue
            rel = (base / name).as_posix()
            out[prefix + rel.removeprefix("./")] = Path(dirpath) / name
    return out


def zip_entries(layers: Iterable[Entries], inline: dict[str, bytes] | None = None) -> Package:
    """Zip the merged entries (later maps win) plus inline files, deterministically.

    Symbolic links are followed (a package must be self-contained); the exec bit survives
    and ``bootstrap`` is always executable.
    """
    merged: Entries = {}
    for entries in layers:
        merged.update(entries)
    blobs = dict(inline or {})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as zf:
        for name in sorted(set(merged) | set(blobs)):
            if name in blobs:
                data, mode = blobs[name], 0o755 if name == "bootstrap" else 0o644
            else:
                path = merged[name]
                data = path.read_bytes()
                executable = path.stat().st_mode & 0o111 or name == "bootstrap"
                mode = 0o755 if executable else 0o644
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3  # Unix, so the mode bits below are honoured
            info.external_attr = (stat.S_IFREG | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return Package(buffer.getvalue())


def fingerprint(layers: Iterable[Entries], inline: dict[str, bytes] | None = None) -> str:
    """A key for the zip these inputs make: names, sizes, mtimes and modes, inline bytes."""
    merged: Entries = {}
    for entries in layers:
        merged.update(entries)
    h = hashlib.sha256(b"lamina-package-v1")
    for name in sorted(merged):
        st = merged[name].stat()
        h.update(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_mode & 0o111}\n".encode())
    for name, data in sorted((inline or {}).items()):
        h.update(f"{name}\0".encode() + hashlib.sha256(data).digest())
    return h.hexdigest()[:32]


def zip_cached(
    cache: Path, layers: list[Entries], inline: dict[str, bytes] | None = None
) -> Package:
    """:func:`zip_entries`, reusing the zip made before from the very same files.

    Zipping a function with large dependencies (boto3 and Pillow: ~3,000 files) takes
    seconds; most ``lamina up`` runs change nothing, and ``--watch`` changes one file.
    """
    key = fingerprint(layers, inline)
    path = cache / "packages" / f"{key}.zip"
    try:
        return Package(path.read_bytes())
    except FileNotFoundError:
        pass
    package = zip_entries(layers, inline)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp-{os.getpid()}")
    tmp.write_bytes(package.data)
    tmp.replace(path)
    _prune(path.parent, keep=KEEP_PACKAGES)
    return package


KEEP_PACKAGES = 64  # cached zips kept (each --watch edit makes one)


def _prune(directory: Path, keep: int) -> None:
    zips = sorted(directory.glob("*.zip"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
    for old in zips[keep:]:
        old.unlink(missing_ok=True)


def zip_file_entries(path: Path) -> dict[str, bytes]:
    """The files of an existing zip (a CodeUri that is a .zip), to repack with layers."""
    with zipfile.ZipFile(path) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
