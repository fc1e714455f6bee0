"""Ephemeral storage on disk: each environment's ``/tmp`` is a volume of its own.

Lambda's ``/tmp`` (``EphemeralStorage``, 512 MB to 10 GB) is separate from memory. Here
each started environment gets a fresh ext4 filesystem in a sparse image file of exactly
its size, loop-mounted on the host under ``<data_dir>/ephemeral`` and bound at ``/tmp``
by the jail (``lamina-jail -t DIR``):

* writing past the size fails with ENOSPC, and nothing of it is charged to memory (only
  the page cache, which the kernel reclaims, as for any file);
* the host's disk is protected: an image only takes the blocks written to it, every
  image is deleted when its environment is, and no volume is made when the disk would be
  left with less than :data:`MIN_FREE_FRACTION` free (the environment then gets a tmpfs
  ``/tmp``, charged to its memory, and Lamina logs why);
* making a volume (``truncate``, ``mkfs.ext4`` without journal, ``mount -o loop``) takes
  ~80 ms, so volumes of the default size are made ahead of time on two worker threads
  (:class:`VolumePool`); other sizes are made when asked for. A burst of cold starts
  larger than the pool waits for volumes (see docs/sandbox.md).

A volume is never reused: it is unmounted and deleted with its environment, so no byte
of one function's ``/tmp`` reaches another. A crashed server's volumes are removed at the
next start.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import shutil
import subprocess
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.netns import REFILL_DELAY_S

log = logging.getLogger("lamina.sandbox")

MIN_FREE_FRACTION = 0.10  # never fill the host's disk past 90 % with /tmp volumes
DEFAULT_MB = 512


# open_tree(2): the same number on every architecture Linux added it to at once (5.2).
_SYS_OPEN_TREE = 428
_OPEN_TREE_CLONE = 1
_OPEN_TREE_CLOEXEC = os.O_CLOEXEC
_AT_FDCWD = -100
_libc = ctypes.CDLL(None, use_errno=True)


def detached_copy(mount: Path) -> int:
    """A descriptor of a detached copy of the mount at ``mount`` (``open_tree`` with
    ``OPEN_TREE_CLONE``). A process in another mount namespace — an environment forked from
    a zygote, in the user namespace it made — attaches it with ``move_mount(2)``: that is
    how a forked environment gets a volume made after its zygote's namespace was sealed."""
    fd = int(
        _libc.syscall(
            _SYS_OPEN_TREE, _AT_FDCWD, str(mount).encode(), _OPEN_TREE_CLONE | _OPEN_TREE_CLOEXEC
        )
    )
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"open_tree {mount}: {os.strerror(err)}")
    return fd


def enough_space(free_bytes: int, total_bytes: int, size_mb: int) -> bool:
    """Whether a volume of ``size_mb`` fits and leaves the reserve free (pure)."""
    return free_bytes - size_mb * 1024 * 1024 >= total_bytes * MIN_FREE_FRACTION


@dataclass(slots=True)
class Volume:
    """One mounted ephemeral filesystem."""

    image: Path
    mount: Path
    size_mb: int


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


class VolumePool:
    """Makes, hands out and removes the ``/tmp`` volumes of one server."""

    def __init__(self, base: Path, uid: int, gid: int, ready: int) -> None:
        for tool in ("mkfs.ext4", "mount", "umount"):
            if shutil.which(tool) is None:
                raise SandboxError(f"ephemeral storage on disk needs {tool} (Debian: e2fsprogs)")
        self.base = base
        self._uid, self._gid = uid, gid
        self._size = max(0, ready)
        self._ready: deque[Volume] = deque()
        self._filling = 0
        self._counter = 0
        self._lock = threading.Lock()
        # Two makers, and removal apart, so a cold start never queues behind an unmount.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lamina-tmp")
        self._remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lamina-tmp-rm")
        self._closed = False
        self._refill_timer: asyncio.TimerHandle | None = None
        self._warned = False
        base.mkdir(parents=True, exist_ok=True)
        self.remove_leftovers()

    def remove_leftovers(self) -> None:
        """Unmount and delete every volume under ``base`` (a crashed run's)."""
        mounted = set()
        with open("/proc/self/mounts") as f:
            for line in f:
                target = line.split()[1]
                if target.startswith(f"{self.base}/"):
                    mounted.add(target)
        for target in sorted(mounted, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)
        for child in self.base.iterdir():
            if child.is_dir():
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)

    # -- the worker thread ---------------------------------------------------------------
    def _make(self, size_mb: int) -> Volume | None:
        usage = shutil.disk_usage(self.base)
        if not enough_space(usage.free, usage.total, size_mb):
            if not self._warned:
                self._warned = True
                log.warning(
                    "no disk volume for /tmp (%d MB): less than %d%% of %s would stay free; "
                    "environments get a tmpfs /tmp charged to their memory until space frees",
                    size_mb,
                    int(MIN_FREE_FRACTION * 100),
                    self.base,
                )
            return None
        with self._lock:
            self._counter += 1
            name = f"v{self._counter}"
        image, mount = self.base / f"{name}.img", self.base / name
        try:
            with open(image, "wb") as f:
                f.truncate(size_mb * 1024 * 1024)
            _run(
                [
                    "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                    "-E", f"root_owner={self._uid}:{self._gid},lazy_itable_init=1",
                    str(image),
                ]
            )  # fmt: skip
            mount.mkdir()
            _run(["mount", "-o", "loop,nosuid,nodev,noatime", str(image), str(mount)])
            (mount / "lost+found").rmdir()
            mount.chmod(0o1777)
        except BaseException:
            self._remove(Volume(image, mount, size_mb))
            raise
        return Volume(image, mount, size_mb)

    def _remove(self, volume: Volume) -> None:
        if os.path.ismount(volume.mount):
            # Lazy: the environment's mount namespace may still be dying.
            subprocess.run(["umount", "-l", str(volume.mount)], capture_output=True, check=False)
        if volume.mount.is_dir():
            volume.mount.rmdir()
        volume.image.unlink(missing_ok=True)

    # -- the event loop --------------------------------------------------------------
    async def take(self, size_mb: int) -> Volume | None:
        """A fresh volume of ``size_mb`` (None when the disk has no room for it)."""
        if self._closed:
            raise SandboxError("the ephemeral storage pool is closed")
        volume = None
        if size_mb == DEFAULT_MB and self._ready:
            volume = self._ready.popleft()
        self._refill_soon()
        if volume is not None:
            return volume
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, self._make, size_mb)
        except SandboxError as exc:
            # No loop devices in this container, say: the environment still starts.
            log.error("no /tmp volume (%s); this environment gets a tmpfs /tmp", exc)
            return None

    def release(self, volume: Volume) -> None:
        """The environment is gone: unmount and delete its volume (in the background)."""
        if self._closed:
            self._remove(volume)
            return
        self._remover.submit(self._remove_logged, volume)

    def _remove_logged(self, volume: Volume) -> None:
        try:
            self._remove(volume)
        except OSError as exc:
            log.error("could not remove the /tmp volume %s: %s", volume.image, exc)

    def fill(self) -> None:
        """Make the ready volumes now (in the background)."""
        self._refill()

    def _refill_soon(self) -> None:
        """Refill once the cold start that took a volume is under way: ``mkfs.ext4`` costs
        tens of ms of CPU, which on a small host would compete with that start."""
        if self._refill_timer is None:
            loop = asyncio.get_running_loop()
            self._refill_timer = loop.call_later(REFILL_DELAY_S, self._refill_now)

    def _refill_now(self) -> None:
        self._refill_timer = None
        self._refill()

    def _refill(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closed and len(self._ready) + self._filling < self._size:
            self._filling += 1
            fut = loop.run_in_executor(self._executor, self._make, DEFAULT_MB)
            fut.add_done_callback(self._filled)

    def _filled(self, fut: asyncio.Future[Volume | None]) -> None:
        self._filling -= 1
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.error("could not pre-make a /tmp volume: %s", exc)
            return
        volume = fut.result()
        if volume is None:
            return
        if self._closed:
            self._remove(volume)
        else:
            self._ready.append(volume)

    def close(self) -> None:
        self._closed = True
        if self._refill_timer is not None:
            self._refill_timer.cancel()
            self._refill_timer = None
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._remover.shutdown(wait=True)
        while self._ready:
            self._remove(self._ready.popleft())
        self.remove_leftovers()
