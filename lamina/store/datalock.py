"""One server per data directory: an exclusive lock held for the server's lifetime.

Two servers on one data directory would share one SQLite database, one async queue and
one code store, and each would deliver the other's events. ``flock`` (not a pid file)
because the kernel releases it when the process dies, however it dies: a crashed
server never leaves a stale lock behind.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from lamina.errors import ConfigError

LOCK_NAME = "lamina.lock"


class DataDirLock:
    """Held while a server runs on ``data_dir``; :meth:`acquire` fails if another holds it."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> DataDirLock:
        """Take the lock, or raise :class:`ConfigError` naming the server that holds it."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise ConfigError(
                f"another Lamina server (pid {holder}) is using the data directory "
                f"{self.path.parent}; stop it, or give this one another --data-dir "
                "(LAMINA_DATA_DIR)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
