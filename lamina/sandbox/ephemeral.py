"""Ephemeral storage on disk: each environment's ``/tmp`` is a volume of its own.

Lambda's ``/tmp`` (``EphemeralStorage``, 512 MB to 10 GB) is separate from memory. Here
each started environment gets a fresh ext4 filesystem in a sparse image file of exactly
its size, on a loop device, mounted with ``fsmount(2)`` as a *detached* mount that the
jail moves onto ``/tmp`` (``lamina-jail -m FD``); a forked environment attaches it with
``move_mount`` the same way:

* writing past the size fails with ENOSPC, and nothing of it is charged to memory (only
  the page cache, which the kernel reclaims, as for any file);
* the host's disk is protected: an image only takes the blocks written to it, every
  image is deleted when its environment is, and no volume is made when the disk would be
  left with less than :data:`MIN_FREE_FRACTION` free (the environment then gets a tmpfs
  ``/tmp``, charged to its memory, and Lamina logs why);
* a volume is never in the host's mount table: a jail's new mount namespace copies the
  host's table, so a thousand host mounts made every cold start copy (and detach) a
  thousand mounts;
* making one is cheap: ``mkfs.ext4`` runs once per size (a *template*, ~0.3 MB of
  metadata in a sparse file); each volume copies the template's data extents, attaches a
  loop device (``LOOP_CONFIGURE``, autoclear) and mounts it, all in-process: ~1-3 ms,
  where ``mkfs.ext4`` plus ``mount -o loop`` per volume took ~80 ms. Volumes of the
  default size are still made ahead on two worker threads (:class:`VolumePool`).

A volume is never reused: its only mount is the environment's; the server keeps a
descriptor of it until the environment is gone, then closes it and deletes the image in
the background (the filesystem and its loop device go with that last reference). A crashed server's images are removed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import fcntl
import logging
import os
import shutil
import stat
import struct
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


# The new mount API: one number on every architecture Linux added it to at once (5.2).
_SYS_FSOPEN = 430
_SYS_FSCONFIG = 431
_SYS_FSMOUNT = 432
_FSOPEN_CLOEXEC = 1
_FSMOUNT_CLOEXEC = 1
_FSCONFIG_SET_FLAG = 0
_FSCONFIG_SET_STRING = 1
_FSCONFIG_CMD_CREATE = 6
_MOUNT_ATTR_NOSUID = 0x2
_MOUNT_ATTR_NODEV = 0x4
_MOUNT_ATTR_NOATIME = 0x10
_AT_FDCWD = -100
# Loop devices (linux/loop.h).
_LOOP_CTL_GET_FREE = 0x4C82
_LOOP_CONFIGURE = 0x4C0A
_LO_FLAGS_AUTOCLEAR = 4
_LOOP_MAJOR = 7
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _syscall(name: str, number: int, *args: object) -> int:
    result = int(_libc.syscall(number, *args))
    if result < 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{name}: {os.strerror(err)}")
    return result


def loop_config(backing_fd: int) -> bytes:
    """``struct loop_config`` for ``LOOP_CONFIGURE``: ``backing_fd``, autoclear (pure).

    Layout: fd, block_size (u32 each); ``struct loop_info64`` (232 bytes: five u64, four
    u32 of which the last is lo_flags, three name/key arrays, two u64); 64 reserved bytes."""
    info = struct.pack("=5Q4I64s64s32s2Q", 0, 0, 0, 0, 0, 0, 0, 0, _LO_FLAGS_AUTOCLEAR,
                       b"", b"", b"", 0, 0)  # fmt: skip
    return struct.pack("=II", backing_fd, 0) + info + bytes(64)


def _loop_device(number: int) -> int:
    """Open ``/dev/loopN``, making the node if this ``/dev`` has none for it yet."""
    path = f"/dev/loop{number}"
    try:
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mknod(path, 0o660 | stat.S_IFBLK, os.makedev(_LOOP_MAJOR, number))
        return os.open(path, os.O_RDWR | os.O_CLOEXEC)


def attach_loop(image: Path) -> tuple[int, int]:
    """A free loop device backed by ``image``, autoclear: ``(number, open descriptor)``.
    The device detaches itself once its last user (the filesystem) lets go of it."""
    backing = os.open(image, os.O_RDWR | os.O_CLOEXEC)
    control = os.open("/dev/loop-control", os.O_RDWR | os.O_CLOEXEC)
    try:
        for _ in range(64):
            number = fcntl.ioctl(control, _LOOP_CTL_GET_FREE)
            device = _loop_device(number)
            try:
                fcntl.ioctl(device, _LOOP_CONFIGURE, loop_config(backing))
            except OSError as exc:
                os.close(device)
                if exc.errno == errno.EBUSY:  # another thread or process took it first
                    continue
                raise
            return number, device
        raise OSError(errno.EBUSY, "no free loop device after 64 tries")
    finally:
        os.close(control)
        os.close(backing)


def mount_detached(device: str) -> int:
    """The ext4 on ``device`` as a detached mount (nosuid, nodev, noatime): a descriptor
    for ``move_mount``. ``noinit_itable``: the kernel would otherwise zero every inode table
    in the background (megabytes written per volume that is thrown away with it)."""
    fs = _syscall("fsopen ext4", _SYS_FSOPEN, b"ext4", _FSOPEN_CLOEXEC)
    try:
        _syscall("fsconfig source", _SYS_FSCONFIG, fs, _FSCONFIG_SET_STRING, b"source",
                 device.encode(), 0)  # fmt: skip
        _syscall("fsconfig noinit_itable", _SYS_FSCONFIG, fs, _FSCONFIG_SET_FLAG,
                 b"noinit_itable", None, 0)  # fmt: skip
        _syscall(f"mount {device}", _SYS_FSCONFIG, fs, _FSCONFIG_CMD_CREATE, None, None, 0)
        attrs = _MOUNT_ATTR_NOSUID | _MOUNT_ATTR_NODEV | _MOUNT_ATTR_NOATIME
        return _syscall("fsmount", _SYS_FSMOUNT, fs, _FSMOUNT_CLOEXEC, attrs)
    finally:
        os.close(fs)


def copy_sparse(source: Path, target: Path) -> None:
    """Copy ``source`` to a new ``target`` of the same size, only its data extents (its
    holes stay holes: a 512 MB template holds ~0.3 MB of data)."""
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            size = os.fstat(src).st_size
            os.ftruncate(dst, size)
            offset = 0
            while offset < size:
                try:
                    start = os.lseek(src, offset, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # only a hole is left
                        break
                    raise
                end = os.lseek(src, start, os.SEEK_HOLE)
                while start < end:
                    copied = os.copy_file_range(src, dst, end - start, start, start)
                    if copied == 0:
                        raise OSError(errno.EIO, f"{source} shrank while being copied")
                    start += copied
                offset = end
        finally:
            os.close(dst)
    finally:
        os.close(src)


def enough_space(free_bytes: int, total_bytes: int, size_mb: int) -> bool:
    """Whether a volume of ``size_mb`` fits and leaves the reserve free (pure)."""
    return free_bytes - size_mb * 1024 * 1024 >= total_bytes * MIN_FREE_FRACTION


@dataclass(slots=True)
class Volume:
    """One ephemeral filesystem: its image file and, until an environment takes it over,
    the server's descriptor of its detached mount."""

    image: Path
    size_mb: int
    fd: int  # the mount (fsmount): detached until an environment attaches it; -1 once closed

    def close_mount(self) -> None:
        """Drop the server's descriptor (in the remover thread, after the environment is
        gone): the filesystem's last reference, so its unmount and write-back happen here
        rather than in the exit of the environment's processes."""
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)


def _run(argv: list[str]) -> None:
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SandboxError(f"{' '.join(argv)} failed: {done.stderr.strip()}")


class VolumePool:
    """Makes, hands out and removes the ``/tmp`` volumes of one server."""

    def __init__(self, base: Path, uid: int, gid: int, ready: int) -> None:
        if shutil.which("mkfs.ext4") is None:
            raise SandboxError("ephemeral storage on disk needs mkfs.ext4 (Debian: e2fsprogs)")
        if not Path("/dev/loop-control").exists():
            raise SandboxError("ephemeral storage on disk needs loop devices (/dev/loop-control)")
        self.base = base
        self._uid, self._gid = uid, gid
        self._size = max(0, ready)
        self._ready: deque[Volume] = deque()
        self._filling = 0
        self._counter = 0
        self._lock = threading.Lock()
        self._templates: dict[int, Path] = {}
        self._template_lock = threading.Lock()
        # Two makers, and removal apart, so a cold start never queues behind an unmount.
        self._executor = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lamina-tmp")
        self._remover = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lamina-tmp-rm")
        self._closed = False
        self._refill_timer: asyncio.TimerHandle | None = None
        self._warned = False
        base.mkdir(parents=True, exist_ok=True)
        self.remove_leftovers()

    def remove_leftovers(self) -> None:
        """Unmount and delete every volume under ``base`` (a crashed run's; volumes of
        older versions were mounted there)."""
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

    # -- the worker threads --------------------------------------------------------------
    def _template(self, size_mb: int) -> Path:
        """The empty filesystem every volume of ``size_mb`` is copied from, made once:
        ``mkfs.ext4`` (no journal, root owned by the sandbox user), then mounted once to
        make its root world-writable and sticky, as ``/tmp`` is, without ``lost+found``."""
        with self._template_lock:
            template = self._templates.get(size_mb)
            if template is not None:
                return template
            template = self.base / f"template-{size_mb}.ext4"
            template.unlink(missing_ok=True)
            try:
                with open(template, "wb") as f:
                    f.truncate(size_mb * 1024 * 1024)
                _run(
                    [
                        "mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal",
                        "-E", f"root_owner={self._uid}:{self._gid},lazy_itable_init=1",
                        str(template),
                    ]
                )  # fmt: skip
                number, device = attach_loop(template)
                try:
                    mount = mount_detached(f"/dev/loop{number}")
                finally:
                    os.close(device)
                try:
                    os.rmdir("lost+found", dir_fd=mount)
                    os.chmod(f"/proc/self/fd/{mount}", 0o1777)
                finally:
                    os.close(mount)  # unmounts: the superblock is written back before this returns
            except BaseException:
                template.unlink(missing_ok=True)
                raise
            self._templates[size_mb] = template
            return template

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
        template = self._template(size_mb)
        with self._lock:
            self._counter += 1
            name = f"v{self._counter}"
        image = self.base / f"{name}.img"
        try:
            copy_sparse(template, image)
            number, device = attach_loop(image)
            try:
                fd = mount_detached(f"/dev/loop{number}")
            finally:
                os.close(device)  # the mounted filesystem holds the device from here
        except OSError as exc:
            image.unlink(missing_ok=True)
            raise SandboxError(f"could not make a /tmp volume: {exc}") from exc
        except BaseException:
            image.unlink(missing_ok=True)
            raise
        return Volume(image, size_mb, fd)

    def _remove(self, volume: Volume) -> None:
        # The loop device keeps the deleted image until the filesystem on it is gone (with
        # the environment's last process); then the device clears itself and frees the file.
        volume.close_mount()
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
