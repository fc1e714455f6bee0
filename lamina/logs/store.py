"""Log groups and streams on disk, written in batches off the invoke path.

Layout: ``<root>/<function>/<stream with '/' as '_'>.log``, one event a line:
``<epoch ms>\\t<message>``. Appends go to an in-memory buffer; :meth:`LogStore.flush`
(called by a timer every ~100 ms and at shutdown) writes them out in one pass. The buffer
is bounded: past :data:`MAX_BUFFERED_CHARS` an append flushes at once, so a function that
floods its output costs disk writes on the way, never memory.
"""

from __future__ import annotations

import heapq
import os
import re
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote

from lamina.logs.emf import MARKER

# Queued characters (all streams) before an append writes them out itself.
MAX_BUFFERED_CHARS = 4 * 1024 * 1024

# Receives the (epoch ms, message) of flushed lines that may be EMF documents.
EmfSink = Callable[[list[tuple[int, str]]], None]


@dataclass(frozen=True, slots=True)
class LogEvent:
    timestamp_ms: int
    message: str
    stream: str


def _stream_file(stream: str) -> str:
    """A stream's file name. Lambda's streams (``2024/01/02/[$LATEST]<hex>``) keep their
    short legacy form; any other name (PutLogEvents' own streams) is percent-encoded so
    it comes back exactly (legacy names never contain ``%``)."""
    legacy = stream.replace("/", "_")
    if "%" not in stream and legacy.replace("_", "/", 3) == stream:
        return legacy + ".log"
    return quote(stream, safe="").replace("_", "%5F").replace(".", "%2E") + ".log"


def _file_stream(name: str) -> str:
    stem = name[: -len(".log")]
    return unquote(stem) if "%" in stem else stem.replace("_", "/", 3)


_FUNCTION_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def group_folder(group: str) -> str:
    """The folder of log group ``group``: a function's name for ``/aws/lambda/<name>``
    (its folder since the first Lamina), else ``~`` and the percent-encoded group name
    (neither function nor group names contain ``~``)."""
    prefix = "/aws/lambda/"
    rest = group[len(prefix) :]
    if group.startswith(prefix) and _FUNCTION_NAME.fullmatch(rest):
        return rest
    return "~" + quote(group, safe="").replace(".", "%2E")


def folder_group(folder: str) -> str:
    return unquote(folder[1:]) if folder.startswith("~") else f"/aws/lambda/{folder}"


def scan_emf(pending: dict[tuple[str, str], list[str]], sink: EmfSink) -> None:
    """Hand the queued lines that mention ``"_aws"`` to ``sink`` (one call per flush)."""
    found: list[tuple[int, str]] = []
    for lines in pending.values():
        for line in lines:
            if MARKER in line:
                ts_text, _, message = line.rstrip("\n").partition("\t")
                found.append((int(ts_text), message))
    if found:
        sink(found)


class LogStore:
    """Per-function log groups, per-environment streams."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._buffer: dict[tuple[str, str], list[str]] = defaultdict(list)
        self._buffered = 0  # characters queued in _buffer
        # Embedded Metric Format: flushed lines mentioning ``"_aws"`` go to this sink (the
        # custom metrics store parses them on its own thread). Scanning happens here, at
        # flush, so an invoke's ``append`` pays nothing for it.
        self.on_emf: EmfSink | None = None

    def append(self, function: str, stream: str, timestamp_ms: int, message: str) -> None:
        """Queue one event; O(1), no I/O. Newlines inside become separate events."""
        buf = self._buffer[(function, stream)]
        if "\n" not in message:  # the common case: no split, no loop
            buf.append(f"{timestamp_ms}\t{message}\n")
        else:
            for line in message.split("\n"):
                buf.append(f"{timestamp_ms}\t{line}\n")
        self._buffered += len(message) + 16
        if self._buffered > MAX_BUFFERED_CHARS:
            self.flush()

    def flush(self) -> None:
        """Write every queued event to its stream file."""
        if not self._buffer:
            return
        pending, self._buffer = self._buffer, defaultdict(list)
        self._buffered = 0
        if self.on_emf is not None:
            scan_emf(pending, self.on_emf)
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
            per_stream.append(
                [LogEvent(ts, m, stream) for ts, m in read_events(path) if ts >= since_ms]
            )
        merged = list(heapq.merge(*per_stream, key=lambda e: e.timestamp_ms))
        return merged[-limit:] if len(merged) > limit else merged

    def recent(
        self, function: str, max_bytes: int = 256 * 1024, streams: int = 20
    ) -> list[LogEvent]:
        """The events in the last ``max_bytes`` of each of ``function``'s ``streams`` most
        recently written streams, each stream oldest first: a bounded read, whatever the
        files' size or number (the console's recent invocations are near their ends).
        Reads only the files: :meth:`flush` first, on the loop, to include queued lines."""
        folder = self.root / function
        try:
            paths = [p for p in folder.iterdir() if p.suffix == ".log"]
            newest = sorted(paths, key=lambda p: p.stat().st_mtime, reverse=True)[:streams]
        except FileNotFoundError:
            return []
        found: list[LogEvent] = []
        for path in newest:
            stream = _file_stream(path.name)
            found += (LogEvent(ts, m, stream) for ts, m in read_tail(path, max_bytes))
        return found

    # -- groups and streams by folder (the CloudWatch Logs service) ---------------------------
    def folders(self) -> list[str]:
        """Every log group's folder (see :func:`group_folder`)."""
        self.flush()
        return sorted(p.name for p in self.root.iterdir() if p.is_dir())

    def stream_paths(self, folder: str) -> list[tuple[str, Path]]:
        """(stream name, file) of every stream of a group, by name."""
        path = self.root / folder
        if not path.is_dir():
            return []
        found = [(_file_stream(p.name), p) for p in path.iterdir() if p.suffix == ".log"]
        return sorted(found)

    def stream_path(self, folder: str, stream: str) -> Path:
        return self.root / folder / _stream_file(stream)

    def create(self, folder: str, stream: str | None = None) -> None:
        """Make a group's folder (and an empty stream file)."""
        path = self.root / folder
        path.mkdir(parents=True, exist_ok=True)
        if stream is not None:
            self.stream_path(folder, stream).touch()

    def delete_stream(self, folder: str, stream: str) -> None:
        self._buffer.pop((folder, stream), None)
        self.stream_path(folder, stream).unlink(missing_ok=True)

    def delete_group(self, function: str) -> None:
        self._buffer = defaultdict(
            list, {k: v for k, v in self._buffer.items() if k[0] != function}
        )
        self._buffered = sum(len(line) for lines in self._buffer.values() for line in lines)
        folder = self.root / function
        if folder.is_dir():
            for path in folder.iterdir():
                path.unlink(missing_ok=True)
            folder.rmdir()


# CloudWatch's largest event; longer lines are cut here, so a read never holds more.
MAX_EVENT_CHARS = 256 * 1024


def read_events(path: Path) -> Iterator[tuple[int, str]]:
    """(epoch ms, message) of each event of a stream file, in file order."""
    try:
        fh = path.open("r", encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        continuation = False
        while raw := fh.readline(MAX_EVENT_CHARS):
            whole = raw.endswith("\n")
            if continuation:  # the rest of a line that was cut: skip it
                continuation = not whole
                continue
            continuation = not whole
            ts_text, _, message = raw.rstrip("\n").partition("\t")
            try:
                ts = int(ts_text)
            except ValueError:
                continue
            yield ts, message


def read_tail(path: Path, max_bytes: int) -> list[tuple[int, str]]:
    """(epoch ms, message) of the whole events in the last ``max_bytes`` of a stream file."""
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - max_bytes))
            data = fh.read(max_bytes)
    except FileNotFoundError:
        return []
    lines = data.decode("utf-8", "replace").split("\n")
    if size > max_bytes:
        lines = lines[1:]  # started inside an event
    events = []
    for line in lines:
        ts_text, tab, message = line.partition("\t")
        if tab and ts_text.isdigit():
            events.append((int(ts_text), message))
    return events
