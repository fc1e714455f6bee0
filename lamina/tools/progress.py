"""A small progress bar on stderr for the tools' long runs (tuning, benchmarks).

Drawn only when stderr is a terminal, unless asked (``enabled=True``): a pipe or a CI log
gets the results, not a stream of carriage returns. Redrawn at most ten times a second,
safe to advance from worker threads, and erased when done so the results start on a clean
line.
"""

from __future__ import annotations

import shutil
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import TextIO

_REDRAW_S = 0.1


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60:02d}:{seconds % 60:02d}"


def render(label: str, done: int, total: int, elapsed_s: float, width: int) -> str:
    """One line of progress, at most ``width`` characters (pure, for tests)."""
    total = max(total, 1)
    done = min(done, total)
    fraction = done / total
    eta = elapsed_s / done * (total - done) if done else None
    tail = f" {done}/{total} {_clock(elapsed_s)}" + (f" <{_clock(eta)}" if eta is not None else "")
    room = width - len(label) - len(tail) - 3
    if room >= 10:
        bar_width = min(room, 40)
        filled = round(bar_width * fraction)
        bar = "[" + "#" * filled + "." * (bar_width - filled) + "]"
        return f"{label} {bar}{tail}"[:width]
    return f"{label}{tail}"[:width]


class Progress:
    """A progress bar for ``total`` steps; use as a context manager."""

    def __init__(
        self,
        total: int,
        label: str = "",
        *,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.label = label
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._clock = clock
        self._started = clock()
        self._drawn_at = -1.0
        self._lock = threading.Lock()
        self._shown = False

    def advance(self, steps: int = 1) -> None:
        with self._lock:
            self.done += steps
            self._draw(force=self.done >= self.total)

    def relabel(self, label: str) -> None:
        with self._lock:
            self.label = label
            self._draw(force=True)

    def close(self) -> None:
        with self._lock:
            if self.enabled and self._shown:
                self._stream.write("\r\033[2K")
                self._stream.flush()
            self._shown = False

    def _draw(self, force: bool) -> None:
        if not self.enabled:
            return
        now = self._clock()
        if not force and now - self._drawn_at < _REDRAW_S:
            return
        self._drawn_at = now
        width = shutil.get_terminal_size((80, 24)).columns - 1
        line = render(self.label, self.done, self.total, now - self._started, width)
        self._stream.write("\r\033[2K" + line)
        self._stream.flush()
        self._shown = True

    def __enter__(self) -> Progress:
        with self._lock:
            self._draw(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
