"""Thin I/O over :mod:`lamina.sandbox.cgroups`: detect, prepare, create, read, freeze, destroy."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.cgroups import (
    ROOT_GROUP,
    V1_CONTROLLERS,
    V2_CONTROLLERS,
    CgroupLayout,
    EnvCgroup,
    Write,
    cpu_usage_ns,
    dead_server_groups,
    is_frozen,
    is_populated,
    oom_kills,
    prepare_plan,
    v1_layout,
    v2_controllers_usable,
    v2_layout,
)
from lamina.sandbox.limits import Limits

log = logging.getLogger("lamina.sandbox")

_SETTLE_TIMEOUT_S = 5.0


def detect_layout(
    mount: Path = Path("/sys/fs/cgroup"),
    group: str = ROOT_GROUP,
    v2_controllers: tuple[str, ...] = V2_CONTROLLERS,
) -> CgroupLayout | None:
    """The usable hierarchy under ``mount``: v2 if it offers our controllers, else v1, else None.

    A hybrid host (v1 controllers plus an empty v2 at ``unified``) is treated as v1.
    ``group`` names Lamina's root group (tests use their own so they never meet a server's).
    ``v2_controllers`` are the v2 controllers required (and then used); only tests name
    fewer, to run the driver on a hybrid host's controller-less ``unified`` hierarchy.
    """
    controllers = mount / "cgroup.controllers"
    if (
        controllers.is_file()
        and v2_controllers_usable(controllers.read_text(), v2_controllers)
        and os.access(mount / "cgroup.subtree_control", os.W_OK)
    ):
        # swap_accounting is known after prepare()
        return v2_layout(mount, swap_accounting=False, group=group, controllers=v2_controllers)
    mounted: dict[str, Path] = {}
    for controller in V1_CONTROLLERS:
        hierarchy = (mount / controller).resolve()
        if not (hierarchy / "cgroup.procs").is_file() or not os.access(hierarchy, os.W_OK):
            return None
        mounted[controller] = hierarchy
    swap = (mounted["memory"] / "memory.memsw.limit_in_bytes").exists()
    return v1_layout(mount, mounted, swap_accounting=swap, group=group)


def _write(write: Write) -> None:
    path, value = write
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise SandboxError(f"cannot write {value!r} to {path}: {exc}") from exc


def _read(path: Path) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise SandboxError(f"cannot read {path}: {exc}") from exc


class CgroupDriver:
    """Owns the ``lamina`` root groups of one server."""

    def __init__(self, layout: CgroupLayout, host_cpus: int) -> None:
        self.layout = layout
        self.host_cpus = host_cpus

    def prepare(self) -> None:
        """Create the root groups, enable controllers, and remove groups of a crashed run."""
        for root in self.layout.root_dirs():
            root.mkdir(parents=True, exist_ok=True)
        self._reclaim_dead_servers()
        for write in prepare_plan(self.layout):
            _write(write)
        if self.layout.version == 2:
            # memory.swap.max exists only in non-root groups, so ask our own root group.
            swap = (self.layout.roots["unified"] / "memory.swap.max").exists()
            self.layout = replace(self.layout, swap_accounting=swap)
        stale = {
            child.name
            for root in self.layout.root_dirs()
            for child in root.iterdir()
            if child.is_dir()
        }
        for env_id in sorted(stale):
            log.info("removing stale cgroup lamina/%s from a previous run", env_id)
            self._kill_all(self.layout.env(env_id))
            deadline = time.monotonic() + _SETTLE_TIMEOUT_S
            while self._populated(self.layout.env(env_id)) and time.monotonic() < deadline:
                time.sleep(0.001)
            self._remove(self.layout.env(env_id))

    def _reclaim_dead_servers(self) -> None:
        """Kill and remove the environments of servers that died without cleaning up."""
        parents = _distinct_parents(self.layout.root_dirs())
        names = {child.name for parent in parents for child in parent.iterdir() if child.is_dir()}
        own = {root.name for root in self.layout.root_dirs()}
        for name in dead_server_groups(names - own, _pid_alive):
            log.info("reclaiming cgroups of a server that is gone (%s)", name)
            stale = CgroupDriver(_sibling_layout(self.layout, name), self.host_cpus)
            stale._remove_children()
            stale.remove_roots()

    def _remove_children(self) -> None:
        for env_id in sorted(
            {
                c.name
                for r in self.layout.root_dirs()
                if r.is_dir()
                for c in r.iterdir()
                if c.is_dir()
            }
        ):
            self._kill_all(self.layout.env(env_id))
            deadline = time.monotonic() + _SETTLE_TIMEOUT_S
            while self._populated(self.layout.env(env_id)) and time.monotonic() < deadline:
                time.sleep(0.001)
            self._remove(self.layout.env(env_id))

    def remove_roots(self) -> None:
        """Remove the root groups if no environment is left in them (best effort)."""
        for root in self.layout.root_dirs():
            with contextlib.suppress(OSError):
                root.rmdir()

    def create(self, env_id: str, limits: Limits) -> CgroupHandle:
        group = self.layout.env(env_id)
        try:
            for d in group.dirs():
                d.mkdir()
            for write in group.limit_writes(limits, self.host_cpus):
                _write(write)
        except (OSError, SandboxError) as exc:
            self._remove(group)
            raise SandboxError(f"cannot create cgroup for environment {env_id}: {exc}") from exc
        return CgroupHandle(self, group, limits.memory_mb * 1024 * 1024)

    def _populated(self, group: EnvCgroup) -> bool:
        if self.layout.version == 2:
            events = group.dir("memory") / "cgroup.events"
            return events.exists() and is_populated(2, _read(events))
        return any(
            (d / "cgroup.procs").exists() and is_populated(1, _read(d / "cgroup.procs"))
            for d in group.dirs()
        )

    def _kill_all(self, group: EnvCgroup) -> None:
        kill_file = group.kill_file()
        if kill_file is not None and kill_file.exists():
            _write((kill_file, "1"))
            return
        # Without cgroup.kill: freeze so nothing can fork while we list and kill, then thaw
        # so the SIGKILLs are delivered.
        freezer = group.freeze_write(True)[0]
        if freezer.exists():
            with contextlib.suppress(SandboxError):
                _write(group.freeze_write(True))
        for d in group.dirs():
            procs = d / "cgroup.procs"
            if not procs.exists():
                continue
            for pid in _read(procs).split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
        if freezer.exists():
            with contextlib.suppress(SandboxError):
                _write(group.freeze_write(False))

    def _try_remove(self, group: EnvCgroup) -> bool:
        """Remove the group's directories; False while the kernel still reports one busy."""
        busy = False
        for d in group.dirs():
            try:
                d.rmdir()
            except FileNotFoundError:
                pass
            except OSError as exc:
                if exc.errno != errno.EBUSY:
                    raise SandboxError(f"cannot remove {d}: {exc}") from exc
                busy = True
        return not busy

    def _remove(self, group: EnvCgroup) -> None:
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while not self._try_remove(group):
            if time.monotonic() > deadline:
                raise SandboxError(f"cgroup of environment {group.env_id} stayed busy")
            time.sleep(0.001)


class CgroupHandle:
    """One environment's live group: readings, freezer and destruction."""

    def __init__(self, driver: CgroupDriver, group: EnvCgroup, memory_limit_bytes: int) -> None:
        self._driver = driver
        self.group = group
        self.memory_limit_bytes = memory_limit_bytes  # the function's memory size, as written
        self._version = group.layout.version
        self._removed = False
        self._dying = False
        self._peak_fd = -1
        # Keep the peak-memory file open: every invoke resets it and reads it, and a pread /
        # pwrite on an open descriptor costs a fraction of an open-by-path (v2's memory.peak
        # also resets per open file on Linux 6.12+, so it needs one descriptor anyway).
        with contextlib.suppress(OSError):
            self._peak_fd = os.open(group.peak_memory_file(), os.O_RDWR | os.O_CLOEXEC)

    def join_files(self) -> list[Path]:
        return self.group.join_files()

    def contains(self, pid: int) -> bool:
        """Whether ``pid`` has joined the group (the freezer's, which every version has)."""
        procs = self.group.dir("freezer") / "cgroup.procs"
        return not self._removed and str(pid) in _read(procs).split()

    def max_memory_bytes(self) -> int:
        if self._removed:
            return 0
        if self._peak_fd >= 0:  # read at every invoke's end: int() parses the bytes as they are
            try:
                return int(os.pread(self._peak_fd, 64, 0))
            except ValueError:  # empty
                return 0
        path = self.group.peak_memory_file()
        if not path.exists():  # v2 before 5.19: the best we have is the current usage
            path = self.group.current_memory_file()
        return int(_read(path).strip() or 0)

    def current_memory_bytes(self) -> int:
        return 0 if self._removed else int(_read(self.group.current_memory_file()).strip() or 0)

    def set_cpu_share(self, memory_mb: int) -> None:
        if not self._removed:
            for write in self.group.cpu_writes(memory_mb, self._driver.host_cpus):
                _write(write)

    def reset_peak_memory(self) -> None:
        if self._removed:
            return
        if self._version == 1:
            if self._peak_fd >= 0:
                os.pwrite(self._peak_fd, b"0", 0)
            else:
                _write((self.group.peak_memory_file(), "0"))
        elif self._peak_fd >= 0:
            with contextlib.suppress(OSError):  # kernels before 6.12 cannot reset the peak
                os.write(self._peak_fd, b"reset\n")

    def oom_kills(self) -> int:
        return 0 if self._removed else oom_kills(self._version, _read(self.group.oom_file()))

    def cpu_time_ns(self) -> int:
        return (
            0 if self._removed else cpu_usage_ns(self._version, _read(self.group.cpu_usage_file()))
        )

    def thaw_now(self) -> None:
        """Ask for a thaw without waiting for it (used on the way to a kill).

        From here on the group is dying: a freeze still settling stops writing FROZEN, so
        it can never re-freeze tasks that must run to act on their SIGKILL.
        """
        self._dying = True
        if not self._removed:
            with contextlib.suppress(SandboxError):
                _write(self.group.freeze_write(False))

    async def set_frozen(self, frozen: bool) -> None:
        """Freeze or thaw, returning once the kernel reports the new state."""
        if frozen and self._dying:
            return  # a kill has begun: freezing now would trap the SIGKILLed tasks
        write = self.group.freeze_write(frozen)
        state = self.group.freeze_state_file()
        _write(write)
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        delay = 0.0002
        while is_frozen(self._version, _read(state)) != frozen:
            if time.monotonic() > deadline:
                raise SandboxError(
                    f"environment {self.group.env_id} did not settle frozen={frozen}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.01)
            if frozen and self._dying:
                return
            if frozen and self._version == 1:
                _write(write)  # v1 may stall in FREEZING; writing FROZEN again retries
        return None

    def destroy_now(self) -> None:
        """Remove a group no process ever joined (a failed start); blocks only on the kernel."""
        if self._removed:
            return
        if self._peak_fd >= 0:
            os.close(self._peak_fd)
            self._peak_fd = -1
        self._driver._remove(self.group)
        self._removed = True

    async def destroy(self, reap: Callable[[], Awaitable[object]] | None = None) -> None:
        """SIGKILL every process, wait until the group is empty, remove it. Idempotent.

        ``reap`` collects the caller's own child: an unreaped zombie keeps a v1 group busy.
        """
        if self._removed:
            return
        self._driver._kill_all(self.group)
        deadline = time.monotonic() + _SETTLE_TIMEOUT_S
        while self._driver._populated(self.group):
            if time.monotonic() > deadline:
                raise SandboxError(f"environment {self.group.env_id} did not die")
            await asyncio.sleep(0.001)
        if reap is not None:
            await reap()
        if self._peak_fd >= 0:
            os.close(self._peak_fd)
            self._peak_fd = -1
        while not self._driver._try_remove(self.group):
            if time.monotonic() > deadline:
                raise SandboxError(f"cgroup of environment {self.group.env_id} stayed busy")
            await asyncio.sleep(0.001)
        self._removed = True


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def _distinct_parents(roots: list[Path]) -> list[Path]:
    return list(dict.fromkeys(r.parent for r in roots))


def _sibling_layout(layout: CgroupLayout, name: str) -> CgroupLayout:
    return replace(layout, roots={k: v.parent / name for k, v in layout.roots.items()})
