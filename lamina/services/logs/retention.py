"""Keeping log groups bounded: retention (PutRetentionPolicy) and a size cap per group.

The decision is pure (:func:`plan_sweep`: stream files in, actions out); the driver
(:class:`RetentionKeeper`) runs it for every group every ``log_sweep_s`` seconds.

- **Retention**: a stream file whose last write is older than the group's retention is
  deleted; reads never show events older than the retention, even inside a live file.
- **Size cap** (``log_group_max_mb``, Lamina's own limit; CloudWatch has none because
  its disk is not yours): over the cap, whole stream files go oldest first; a single
  stream still over the cap keeps only its newest half-cap of bytes.

A trim copies the kept tail in a worker thread, then — on the event loop, where the log
store flushes, so no append can fall between — copies what was appended meanwhile and
renames the copy over the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lamina.logs.store import LogStore, folder_group
from lamina.services.logs.groups import GroupSettings

log = logging.getLogger("lamina.logs")

DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class StreamFile:
    path: Path
    size: int
    modified_ms: int


@dataclass(frozen=True, slots=True)
class Delete:
    path: Path


@dataclass(frozen=True, slots=True)
class Trim:
    path: Path
    keep_bytes: int


Action = Delete | Trim


def plan_sweep(
    files: list[StreamFile], retention_days: int | None, cap_bytes: int, now_ms: int
) -> list[Action]:
    """What to delete or trim in one group so it keeps its retention and its size cap."""
    actions: list[Action] = []
    kept = sorted(files, key=lambda f: f.modified_ms)
    if retention_days is not None:
        cutoff = now_ms - retention_days * DAY_MS
        actions += [Delete(f.path) for f in kept if f.modified_ms < cutoff]
        kept = [f for f in kept if f.modified_ms >= cutoff]
    total = sum(f.size for f in kept)
    while total > cap_bytes and len(kept) > 1:
        oldest = kept.pop(0)
        actions.append(Delete(oldest.path))
        total -= oldest.size
    if total > cap_bytes and kept:
        actions.append(Trim(kept[0].path, cap_bytes // 2))
    return actions


def _tail_copy(path: Path, keep_bytes: int) -> tuple[Path, int]:
    """Copy the last ``keep_bytes`` of ``path`` (from a line start) to a temp file."""
    temp = path.with_name(f".trim-{path.name}")
    with path.open("rb") as src, temp.open("wb") as out:
        size = os.fstat(src.fileno()).st_size
        src.seek(max(0, size - keep_bytes))
        if size > keep_bytes:
            src.readline()  # drop the partial first line
        while chunk := src.read(1 << 20):
            out.write(chunk)
    return temp, size


def _finish_trim(path: Path, temp: Path, copied_to: int) -> None:
    """Append what was written since the copy, then replace the stream (on the loop)."""
    with path.open("rb") as src, temp.open("ab") as out:
        src.seek(copied_to)
        while chunk := src.read(1 << 20):
            out.write(chunk)
    os.replace(temp, path)


class RetentionKeeper:
    """Runs :func:`plan_sweep` over every group, periodically."""

    def __init__(
        self,
        store: LogStore,
        groups: GroupSettings,
        cap_bytes: int,
        every_s: float,
        clock: Callable[[], float],
    ) -> None:
        self.store = store
        self.groups = groups
        self.cap_bytes = cap_bytes
        self.every_s = every_s
        self.clock = clock
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._forever())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _forever(self) -> None:
        while True:
            try:
                await self.sweep()
            except OSError:
                log.exception("log retention sweep failed; trying again later")
            await asyncio.sleep(self.every_s)

    async def sweep(self) -> int:
        """One pass over every group; returns how many actions it took."""
        self.store.flush()
        now_ms = int(self.clock() * 1000)
        done = 0
        for folder in self.store.folders():
            files = []
            for _stream, path in self.store.stream_paths(folder):
                try:
                    st = path.stat()
                except FileNotFoundError:
                    continue
                files.append(StreamFile(path, st.st_size, int(st.st_mtime * 1000)))
            retention = self.groups.retention(folder_group(folder))
            for action in plan_sweep(files, retention, self.cap_bytes, now_ms):
                if isinstance(action, Delete):
                    action.path.unlink(missing_ok=True)
                else:
                    temp, copied_to = await asyncio.to_thread(
                        _tail_copy, action.path, action.keep_bytes
                    )
                    self.store.flush()
                    _finish_trim(action.path, temp, copied_to)
                    log.warning(
                        "log group %s is over its %d MB cap: %s trimmed to its newest %d bytes",
                        folder_group(folder),
                        self.cap_bytes >> 20,
                        action.path.name,
                        action.keep_bytes,
                    )
                done += 1
        return done
