"""Log groups and streams on disk, written in batches off the invoke path.

Layout: ``<root>/<function>/<stream with '/' as '_'>.log``, one event a line:
``<epoch ms>\\t<message>``. Appends go to an in-memory buffer; :meth:`LogStore.flush`
(called by a timer every ~100 ms and at shutdown) writes them out in one pass.
"""

from __future__ import annotations

import heapq
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp_ms: int
    message: str
    stream: str


def _stream_file(stream: str) -> str:
    return stream.replace("/", "_") + ".log"


def _file_stream(name: str) -> str:
    return name[: -len(".log")].replace("_", "/", 3)


class LogStore:
    """Per-function log groups, per-environment streams."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._buffer: dict[tuple[str, str], list[str]] = defaultdict(list)

    def append(self, function: str, stream: str, timestamp_ms: int, message: str) -> None:
        """Queue one event; O(1), no I/O. Newlines inside become separate events."""
        buf = self._buffer[(function, stream)]
        if "\n" not in message:  # the common case: no split, no loop
            buf.append(f"{timestamp_ms}\t{message}\n")
            return
        for line in message.split("\n"):
            buf.append(f"{timestamp_ms}\t{line}\n")

    def flush(self) -> None:
        """Write every queued event to its stream file."""
        if not self._buffer:
            return
        pending, self._buffer = self._buffer, defaultdict(list)
        for (function, stream), lines in pending.items():
            folder = self.root / function
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(
                folder / _stream_file(stream), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640
            )
            try:
                os.write(fd, "".join(lines).encode("utf-8", "replace"))
            finally:
                os.close(fd)

    def streams(self, function: str) -> list[str]:
        folder = self.root / function
        if not folder.is_dir():
            return []
        return sorted(_file_stream(p.name) for p in folder.iterdir() if p.suffix == ".log")

    def read(self, function: str, since_ms: int = 0, limit: int = 10_000) -> list[LogEvent]:
        """Events of every stream of ``function`` at or after ``since_ms``, oldest first."""
        self.flush()
        folder = self.root / function
        if not folder.is_dir():
            return []
        per_stream: list[list[LogEvent]] = []
        for path in folder.iterdir():
            if path.suffix != ".log":
                continue
            stream = _file_stream(path.name)
            events = []
            with path.open("r", encoding="utf-8", errors="replace") as fh:
                for raw in fh:
                    ts_text, _, message = raw.rstrip("\n").partition("\t")
                    try:
                        ts = int(ts_text)
                    except ValueError:
                        continue
                    if ts >= since_ms:
                        events.append(LogEvent(ts, message, stream))
            per_stream.append(events)
        merged = list(heapq.merge(*per_stream, key=lambda e: e.timestamp_ms))
        return merged[-limit:] if len(merged) > limit else merged

    def delete_group(self, function: str) -> None:
        self._buffer = defaultdict(
            list, {k: v for k, v in self._buffer.items() if k[0] != function}
        )
        folder = self.root / function
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()
