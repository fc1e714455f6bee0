"""Merged layer trees: what a function with layers sees at ``/opt``.

Lambda extracts a function's layers into ``/opt`` in order, a later layer's file replacing
an earlier one's at the same path. Lamina builds that merge once per ordered set of
layer digests, under ``<code root>/opt/<digest of the set>/``, from the layers' unpacked
trees in the code store, and the jail bind-mounts it read-only at ``/opt``. Files are hard
links into the unpacked trees (same file system, read-only on both sides), so a merge
costs directory entries, not a copy. Built in a temp directory and renamed into place, so
a reader sees a whole merge or none.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

_TEMP_PREFIX = ".tmp-"


class LayerMerger:
    """Builds (once) and finds the merged tree of an ordered list of layer packages."""

    def __init__(self, root: Path, unpacked: Callable[[str], Path]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.root.chmod(0o755)
        self._unpacked = unpacked
        self._lock = threading.Lock()

    def key(self, shas: Sequence[str]) -> str:
        return hashlib.sha256("\n".join(shas).encode()).hexdigest()

    def merged(self, shas: Sequence[str]) -> Path:
        """The merged tree of ``shas`` (in order), built on first use. Blocking: call it
        off the event loop."""
        final = self.root / self.key(shas)
        if final.is_dir():
            return final
        with self._lock:
            if final.is_dir():
                return final
            trees = [self._unpacked(sha) for sha in shas]
            temp = self.root / f"{_TEMP_PREFIX}{uuid.uuid4().hex}"
            temp.mkdir(mode=0o755)
            try:
                for tree in trees:
                    _overlay(tree, temp)
                _seal(temp)
                os.rename(temp, final)
            finally:
                if temp.exists():
                    _remove(temp)
        return final


def _overlay(source: Path, dest: Path) -> None:
    """Put ``source``'s entries over ``dest``'s: files and links replace, directories merge."""
    for dirpath, dirnames, filenames in os.walk(source):
        rel = Path(dirpath).relative_to(source)
        target_dir = dest / rel
        for name in dirnames:
            src = Path(dirpath) / name
            dst = target_dir / name
            if src.is_symlink():
                _replace(dst)
                os.symlink(os.readlink(src), dst)
            elif dst.is_symlink() or (dst.exists() and not dst.is_dir()):
                _replace(dst)
                dst.mkdir(mode=0o755)
            elif not dst.exists():
                dst.mkdir(mode=0o755)
        # Symlinked directories were copied as links above: do not descend into them.
        dirnames[:] = [d for d in dirnames if not (Path(dirpath) / d).is_symlink()]
        for name in filenames:
            src = Path(dirpath) / name
            dst = target_dir / name
            _replace(dst)
            if src.is_symlink():
                os.symlink(os.readlink(src), dst)
            else:
                os.link(src, dst)


def _replace(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        _remove(path)


def _seal(tree: Path) -> None:
    """Directories read-only and traversable by the sandbox user (files keep their modes)."""
    for dirpath, _dirs, _files in os.walk(tree):
        os.chmod(dirpath, 0o555)


def _remove(path: Path) -> None:
    for dirpath, _dirs, _files in os.walk(path):
        os.chmod(dirpath, 0o755)
    shutil.rmtree(path, ignore_errors=True)
