"""``lamina up --watch``: poll the sources, redeploy what changed.

Polling file metadata every 200 ms needs no extra dependency and works on every file
system (inotify misses changes on some mounts). A change is acted on once two polls agree
(an editor's save is often several writes), so a redeploy follows an edit by ~0.2-0.6 s
plus the build. Only the functions whose sources changed are rebuilt; the rest keep their
packages. A template change redeploys everything. Lamina drains the old code's warm
environments on UpdateFunctionCode, so an invoke after the update never runs old code.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lamina.sam.builds.builder import excludes_for
from lamina.sam.builds.package import is_excluded
from lamina.sam.model import FunctionSpec

Snapshot = dict[str, tuple[int, int]]  # path → (mtime_ns, size)


@dataclass(frozen=True)
class Root:
    path: Path
    excludes: tuple[str, ...] = ()


def roots_of(fn: FunctionSpec) -> list[Root]:
    """The paths whose changes mean ``fn`` must be rebuilt: its code and its layers."""
    out: list[Root] = []
    if fn.code.path is not None:
        out.append(Root(fn.code.path, excludes_for(fn)))
    out.extend(Root(layer.code.path) for layer in fn.layers if layer.code.path is not None)
    return out


def snapshot(roots: Iterable[Root]) -> Snapshot:
    out: Snapshot = {}
    for root in roots:
        path = root.path
        if path.is_file():
            st = path.stat()
            out[str(path)] = (st.st_mtime_ns, st.st_size)
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = [d for d in dirnames if not is_excluded(d, root.excludes)]
            for name in filenames:
                if is_excluded(name, root.excludes):
                    continue
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except OSError:
                    continue  # removed between listing and stat
                out[full] = (st.st_mtime_ns, st.st_size)
    return out


def changed_paths(old: Snapshot, new: Snapshot) -> set[str]:
    """Paths added, removed or modified between two snapshots (pure)."""
    return {p for p in old.keys() | new.keys() if old.get(p) != new.get(p)}


def affected(functions: dict[str, list[Root]], changed: set[str]) -> set[str]:
    """The functions (logical ids) with a changed path under one of their roots (pure)."""
    out = set()
    for lid, roots in functions.items():
        for root in roots:
            prefix = str(root.path)
            if any(p == prefix or p.startswith(prefix + os.sep) for p in changed):
                out.add(lid)
                break
    return out


class Watcher:
    """Tells which functions changed (or that the template did) since the last call."""

    def __init__(
        self, template: Path, functions: dict[str, FunctionSpec], since_ns: int = 0
    ) -> None:
        self.template = template
        self._last: Snapshot = {}
        self.reset(functions, since_ns)

    def reset(self, functions: dict[str, FunctionSpec], since_ns: int = 0) -> None:
        """Watch these functions from now on.

        ``since_ns``: when the deploy that just ended started. A file modified after it was
        edited while that deploy ran (it may hold code the deploy did not see), so the next
        poll reports it; files seen before keep their old metadata for the same reason.
        """
        self.roots = {lid: roots_of(fn) for lid, fn in functions.items()}
        fresh = self._take()
        old = self._last
        self._last = {
            p: old.get(p, (-1, -1) if since_ns and meta[0] >= since_ns else meta)
            for p, meta in fresh.items()
        }

    def _take(self) -> Snapshot:
        roots = [Root(self.template)] + [r for rs in self.roots.values() for r in rs]
        return snapshot(roots)

    def poll(
        self, interval: float = 0.2, sleep: Callable[[float], None] = time.sleep
    ) -> tuple[bool, set[str]] | None:
        """``(template changed, functions changed)`` once a change has settled, else None."""
        now = self._take()
        changed = changed_paths(self._last, now)
        if not changed:
            return None
        for _ in range(25):  # wait (at most ~5 s) for the writes to settle
            sleep(interval)
            later = self._take()
            if later == now:
                break
            changed |= changed_paths(now, later)
            now = later
        self._last = now
        return str(self.template) in changed, affected(self.roots, changed)
