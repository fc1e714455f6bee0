"""Packing a directory into a deterministic zip, so the same tree gives the same sha256.

The CLI deploys a directory with this. Entries are sorted, timestamps fixed, permission
bits normalised to 0644 / 0755 (only the exec bit survives) and symbolic links stored as
links, the way ``zip -y`` does; the server decides whether a link may stay.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

# The earliest time a zip can record; any fixed value works, this one is conventional.
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def zip_directory(path: Path) -> bytes:
    """Zip everything under ``path`` (not ``path`` itself), deterministically."""
    root = Path(path)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in _walk(root):
            _add(zf, root / rel, rel)
    return buffer.getvalue()


def _walk(root: Path) -> list[str]:
    """Every path below ``root``, relative and '/'-separated, in sorted order."""
    found: list[str] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        base = Path(dirpath).relative_to(root)
        for name in dirnames + filenames:
            found.append((base / name).as_posix())
    return sorted(found)


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
    info.create_system = 3  # Unix, so unzip tools honour the mode bits below
    info.external_attr = mode << 16
    return info


def _add(zf: zipfile.ZipFile, full: Path, rel: str) -> None:
    st = full.lstat()
    if stat.S_ISLNK(st.st_mode):
        info = _entry(rel, stat.S_IFLNK | 0o777)
        zf.writestr(info, os.readlink(full).encode(), zipfile.ZIP_STORED)
    elif stat.S_ISDIR(st.st_mode):
        info = _entry(rel + "/", stat.S_IFDIR | 0o755)
        info.external_attr |= 0x10  # MS-DOS directory flag, as other zip tools set it
        zf.writestr(info, b"", zipfile.ZIP_STORED)
    elif stat.S_ISREG(st.st_mode):
        perms = 0o755 if st.st_mode & 0o111 else 0o644
        info = _entry(rel, stat.S_IFREG | perms)
        info.compress_type = zipfile.ZIP_DEFLATED
        with full.open("rb") as src, zf.open(info, "w") as dst:
            while chunk := src.read(1 << 20):
                dst.write(chunk)
    # Sockets, FIFOs and devices have no place in a code package: skipped.
