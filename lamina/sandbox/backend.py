"""The sandbox interface the scheduler uses, and the choice of tier at start-up."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol

from lamina.config import Settings
from lamina.errors import SandboxError
from lamina.sandbox.cgroup_driver import CgroupDriver, detect_layout
from lamina.sandbox.cgroups import server_group
from lamina.sandbox.ephemeral import VolumePool
from lamina.sandbox.jail import ensure_jail_binary
from lamina.sandbox.limits import SandboxSpec
from lamina.sandbox.netns import NetnsPool
from lamina.sandbox.outbound import Outbound
from lamina.sandbox.process_tier import ProcessSandbox
from lamina.sandbox.rlimit_tier import NOT_ENFORCED, RlimitSandbox
from lamina.sandbox.rootfs import host_rootfs, prepare_etc
from lamina.sandbox.usrbuild import UsrTree, prepare_usr
from lamina.sandbox.usrtree import interpreter_prefixes
from lamina.sandbox.watchdog import Watchdog
from lamina.sandbox.zygote import ZygoteHost

log = logging.getLogger("lamina.sandbox")

DEFAULT_UID = 993
DEFAULT_GID = 993


class EnvironmentProcess(Protocol):
    """One running execution environment (a process tree).

    Readings stay available after :meth:`kill`, which must always be called, also after the
    runtime exited by itself, to release the environment's cgroup.
    """

    pid: int

    async def freeze(self) -> None: ...
    async def thaw(self) -> None: ...
    def max_memory_used_mb(self) -> int: ...
    def oom_killed(self) -> bool: ...
    def cpu_time_ns(self) -> int: ...
    def reset_peak_memory(self) -> None: ...
    def end_init_boost(self, memory_mb: int) -> None:
        """INIT is over: hold the environment to its memory-proportional CPU share."""

    async def wait(self) -> int:
        """Exit status of the runtime, or 128 + signal if it was killed."""
        ...

    def terminate(self) -> bool:
        """SIGTERM to the runtime (Lambda's SHUTDOWN); False if it cannot be signalled."""
        ...

    async def kill(self) -> None:
        """SIGKILL the whole tree, reap it, release its resources. Idempotent."""
        ...


class Sandbox(Protocol):
    """Creates execution environments; one per server, chosen by :func:`create_sandbox`."""

    tier: str

    def task_root(self, code_dir: Path) -> str:
        """Where the function's code is seen from inside (``LAMBDA_TASK_ROOT``)."""
        ...

    def runtime_root(self, runtime_dir: Path) -> str:
        """Where Lamina's runtime bootstraps are seen from inside."""
        ...

    def opt_root(self, opt_dir: Path) -> str:
        """Where the function's merged layers are seen from inside (``/opt`` on Lambda)."""
        ...

    def close(self) -> None:
        """Release what the sandbox holds on the host (cgroup roots) after every kill."""
        ...

    async def spawn(
        self, spec: SandboxSpec, stdout_fd: int, *, extensions_fd: int | None = None
    ) -> EnvironmentProcess:
        """Start the runtime; its stdout and stderr go to ``stdout_fd`` (the caller's pipe).
        ``extensions_fd`` (another pipe of the caller's) becomes the environment's fd 3:
        Lamina's extension launcher sends the extensions' output there."""
        ...


def zygote_host(sandbox: Sandbox) -> ZygoteHost | None:
    """The zygote capability of ``sandbox``'s tier, or None when it cannot keep forked
    environments apart (only the ``process`` tier can: cgroups and namespaces)."""
    return ZygoteHost(sandbox) if isinstance(sandbox, ProcessSandbox) else None


def create_sandbox(
    settings: Settings,
    *,
    uid: int = DEFAULT_UID,
    gid: int = DEFAULT_GID,
    cgroup_mount: Path = Path("/sys/fs/cgroup"),
    cgroup_group: str | None = None,
    hidden: tuple[Path, ...] = (),
) -> Sandbox:
    """The sandbox for ``settings.isolation``.

    ``auto`` picks the process tier when running as root with usable cgroups, else the
    rlimits fallback (with one warning); ``process`` raises :class:`SandboxError` when that
    is impossible; ``none`` always uses the fallback. ``hidden`` adds host directories to
    cover, besides the data directory and ``/root``; ``cgroup_group`` names the root group
    (one per server: its stale children are killed at start).
    """
    if settings.isolation == "none":
        log.warning("isolation=none: running functions with rlimits only: %s", NOT_ENFORCED)
        return RlimitSandbox()
    if cgroup_group is None:
        cgroup_group = server_group(os.getpid())
    try:
        return _process_sandbox(settings, uid, gid, cgroup_mount, cgroup_group, hidden)
    except SandboxError as exc:
        reason = str(exc)
    if settings.isolation == "process":
        raise SandboxError(f"isolation=process is not possible here: {reason}")
    log.warning(
        "process isolation unavailable (%s); running functions with rlimits only: %s",
        reason,
        NOT_ENFORCED,
    )
    return RlimitSandbox()


def _process_sandbox(
    settings: Settings,
    uid: int,
    gid: int,
    cgroup_mount: Path,
    cgroup_group: str,
    hidden: tuple[Path, ...],
) -> ProcessSandbox:
    if os.geteuid() != 0:
        raise SandboxError("Lamina is not running as root")
    layout = detect_layout(cgroup_mount, cgroup_group)
    if layout is None:
        raise SandboxError(
            f"no writable cgroup v2, nor v1 memory/cpu/cpuacct/freezer/pids, under {cgroup_mount}"
        )
    driver = CgroupDriver(layout, os.cpu_count() or 1)
    driver.prepare()
    jail = ensure_jail_binary(settings.data_dir / "bin")
    volumes = _volumes(settings, uid, gid)
    network = _network(settings)
    outbound = network.outbound if network is not None else None
    watchdog = Watchdog(
        jail,
        driver.layout.root_dirs(),
        volumes.base if volumes is not None else None,
        outbound.nft_table() if outbound is not None else None,
    )
    rootfs = None
    if settings.own_rootfs:
        base = settings.data_dir / "rootfs"
        tree = _usr_tree(settings, base)
        usr = tree.usr if tree is not None else None
        etc = prepare_etc(base, uid, gid, usr_tree=usr)
        ld_cache = tree.ld_cache if tree is not None else None
        rootfs = host_rootfs(etc, usr_dir=usr, ld_cache=ld_cache)
    return ProcessSandbox(
        driver,
        jail,
        [settings.data_dir, Path("/root"), *hidden],
        uid=uid,
        gid=gid,
        network=network,
        watchdog=watchdog,
        rootfs=rootfs,
        volumes=volumes,
    )


def _usr_tree(settings: Settings, base: Path) -> UsrTree | None:
    """The environments' own /usr (lamina.sandbox.usrtree), or None for the host's."""
    if not settings.own_usr:
        return None
    home = Path(os.environ.get("HOME") or Path.home())
    pyenv_root = Path(os.environ.get("PYENV_ROOT") or home / ".pyenv")
    extra = [Path(p) for p in settings.interpreters.values()]
    try:
        return prepare_usr(base, interpreter_prefixes(home, pyenv_root, extra))
    except SandboxError as exc:
        log.error("environments see the host's whole /usr: %s", exc)
        return None


def _volumes(settings: Settings, uid: int, gid: int) -> VolumePool | None:
    """Disk volumes for /tmp, or None (tmpfs) when switched off or impossible."""
    if not settings.ephemeral_on_disk:
        return None
    try:
        return VolumePool(settings.data_dir / "ephemeral", uid, gid, settings.ephemeral_pool)
    except (SandboxError, OSError) as exc:
        log.warning("/tmp stays a tmpfs charged to memory: %s", exc)
        return None


def _network(settings: Settings) -> NetnsPool | None:
    """Own network namespaces, with outbound NAT when allowed and possible."""
    if not settings.network_isolation:
        return None
    outbound = None
    if settings.network_outbound:
        outbound = Outbound()
        try:
            outbound.prepare()
        except (SandboxError, OSError) as exc:
            log.warning("environments get no outbound network: %s", exc)
            outbound = None
    return NetnsPool(settings.netns_pool, outbound)
