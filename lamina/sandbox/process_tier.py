"""The ``process`` tier: one cgroup plus mount/pid/ipc/uts namespaces per environment."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import signal
from collections.abc import Callable
from pathlib import Path

from lamina.errors import SandboxError
from lamina.sandbox.cgroup_driver import CgroupDriver, CgroupHandle
from lamina.sandbox.child import Child
from lamina.sandbox.ephemeral import VolumePool
from lamina.sandbox.jail import (
    OPT_ROOT,
    RUNTIME_ROOT,
    TASK_ROOT,
    JailPlan,
    expose_binds,
    hidden_paths,
    jail_argv,
    seccomp_program,
)
from lamina.sandbox.limits import SandboxSpec
from lamina.sandbox.netns import NetnsPool
from lamina.sandbox.readings import CgroupReadings
from lamina.sandbox.rootfs import RootFs
from lamina.sandbox.templates import RootTemplates
from lamina.sandbox.watchdog import Watchdog


class JailedProcess(CgroupReadings):
    """A runtime running under ``lamina-jail`` in its own cgroup."""

    def __init__(
        self, child: Child, cgroup: CgroupHandle, on_killed: Callable[[], None] | None = None
    ) -> None:
        super().__init__(cgroup)
        self._child = child
        self.pid = child.pid
        self._on_killed = on_killed  # releases what outlives the processes (a /tmp volume)

    async def freeze(self) -> None:
        # Right after spawn the jail may not have joined its cgroups yet; freezing an empty
        # group would freeze nothing. (After the runtime's first /next this never waits.)
        while not self._child.has_exited() and not self._cgroup.contains(self.pid):  # noqa: ASYNC110 (kernel state: polled)
            await asyncio.sleep(0.0005)
        await self._cgroup.set_frozen(True)

    def join_files(self) -> list[Path]:
        """The files a thread writes ``0`` (itself) into to join this process's groups."""
        return self._cgroup.join_files()

    def memory_bytes(self) -> int:
        """Memory charged to the environment's cgroup now."""
        return 0 if self._final is not None else self._cgroup.current_memory_bytes()

    async def wait(self) -> int:
        return await self._child.wait()

    def terminate(self) -> bool:
        # The jail passes SIGTERM on to its init, which passes it on to the runtime.
        if self._child.has_exited():
            return False
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    async def kill(self) -> None:
        self._keep_readings()
        # The jail first: it joins its cgroups before it forks, so once it is dead every
        # process it started is in the cgroups, where the group kill finds it.
        if not self._child.has_exited():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            # A frozen (v1) task only acts on SIGKILL once thawed.
            self._cgroup.thaw_now()
        await self._child.wait()
        await self._cgroup.destroy()
        done, self._on_killed = self._on_killed, None
        if done is not None:
            done()


class ProcessSandbox:
    """Cgroups (v1 or v2) for limits and freezing, ``lamina-jail`` for namespaces."""

    tier = "process"

    def __init__(
        self,
        driver: CgroupDriver,
        jail: Path,
        hidden: list[Path],
        uid: int,
        gid: int,
        network: NetnsPool | None = None,
        watchdog: Watchdog | None = None,
        rootfs: RootFs | None = None,
        volumes: VolumePool | None = None,
    ) -> None:
        """``network``: where environments get their own network namespace (None: the host's)."""
        if uid == 0 or gid == 0:
            raise SandboxError("the sandbox user must not be root")
        self._driver = driver
        self._jail = jail
        self._hidden = hidden_paths(hidden)
        self._uid = uid
        self._gid = gid
        self.network = network
        self._watchdog = watchdog
        # The environments' own root filesystem, or None: the host's tree, hidden paths covered.
        self._rootfs = rootfs
        # Its tree built once and joined per jail (sandbox/templates.py).
        self._templates = None if rootfs is None else RootTemplates(jail, rootfs)
        # Disk volumes for /tmp (ephemeral storage apart from memory), or None: tmpfs.
        self._volumes = volumes
        self._seccomp: bytes | None = None  # the full filter, for forked environments
        self._expose_cache: dict[tuple[Path, ...], tuple[tuple[Path, str], ...]] = {}
        for target in (TASK_ROOT, RUNTIME_ROOT):
            # Mount points must exist on the host; they stay empty there.
            Path(target).mkdir(mode=0o755, parents=True, exist_ok=True)

    @property
    def volumes(self) -> VolumePool | None:
        """The /tmp volumes (forked environments take theirs here too), or None: tmpfs."""
        return self._volumes

    def task_root(self, code_dir: Path) -> str:
        return TASK_ROOT

    def runtime_root(self, runtime_dir: Path) -> str:
        return RUNTIME_ROOT

    def opt_root(self, opt_dir: Path) -> str:
        return OPT_ROOT

    @property
    def hidden(self) -> tuple[Path, ...]:
        return self._hidden

    @property
    def cgroups(self) -> CgroupDriver:
        """The cgroup driver (zygotes create their forked environments' groups with it)."""
        return self._driver

    def _exposed(self, expose: tuple[Path, ...]) -> tuple[tuple[Path, str], ...]:
        """Host paths to bind at their own path: under a hidden path (host tree), or not
        already in the root (own root filesystem)."""
        if self._rootfs is None:
            return expose_binds(expose, self._hidden)
        rootfs = self._rootfs
        return tuple(
            (real, str(real)) for real in (p.resolve() for p in expose) if not rootfs.covers(real)
        )

    def warm_up(self) -> None:
        """Start making /tmp volumes ahead of the first cold starts (needs a running loop),
        and make the root template of environments that expose no host path."""
        if self._volumes is not None:
            self._volumes.fill()
        if self._templates is not None:
            self._templates.fd(())

    def seccomp_program(self) -> bytes:
        """The full seccomp filter (for environments forked from a zygote), read once."""
        if self._seccomp is None:
            self._seccomp = seccomp_program(self._jail)
        return self._seccomp

    def close(self) -> None:
        """Remove the root cgroups once every environment has been killed."""
        if self._templates is not None:
            self._templates.close()
        if self.network is not None:
            self.network.close()
        if self._volumes is not None:
            self._volumes.close()
        self._driver.remove_roots()
        if self._watchdog is not None:
            self._watchdog.stop()

    async def spawn(
        self,
        spec: SandboxSpec,
        stdout_fd: int,
        control_fd: int | None = None,
        trace_fd: int | None = None,
        maker_fd: int | None = None,
        extensions_fd: int | None = None,
    ) -> JailedProcess:
        """Start ``spec``'s runtime in a new jail; ``control_fd`` (a zygote's) or
        ``extensions_fd`` (where the extension launcher sends the extensions' output; a
        zygote has no extensions) becomes its fd 3.

        ``maker_fd`` (a zygote's, with ``control_fd``): the socket on which the jail's
        init serves requests for forked environments' namespaces (``sandbox/zygote.py``);
        the runtime does not keep it.

        ``trace_fd``: where the jail writes the timestamps of its steps (the cold-start
        breakdown, ``python -m bench.coldstart --steps``); closed before the runtime runs."""
        binds: list[tuple[Path, str]] = [(spec.code_dir, TASK_ROOT)]
        if spec.runtime_dir is not None:
            binds.append((spec.runtime_dir, RUNTIME_ROOT))
        if spec.opt_dir is not None:
            binds.append((spec.opt_dir, OPT_ROOT))
        exposed = self._expose_cache.get(spec.expose)
        if exposed is None:
            exposed = self._expose_cache[spec.expose] = self._exposed(spec.expose)
        # The common root is joined from a template (built once), not built per jail.
        template = None
        if self._templates is not None:
            if self._templates.known(exposed):
                template = self._templates.fd(exposed)
            else:
                template = await asyncio.to_thread(self._templates.fd, exposed)
        if template is None:
            binds += exposed
            if self._rootfs is not None:
                binds = [*self._rootfs.binds, *binds]
        # A zygote keeps a tmpfs /tmp: its forks copy it into volumes of their own.
        volume = None
        if self._volumes is not None and control_fd is None:
            volume = await self._volumes.take(spec.limits.ephemeral_mb)
        cgroup = self._driver.create(spec.env_id, spec.limits)
        # Passed descriptors land at 3, 4, ... in this order; the runtime keeps the first.
        kept = control_fd if control_fd is not None else extensions_fd
        passed: tuple[int, ...] = () if kept is None else (kept,)
        netns_at = tmp_at = trace_at = template_at = maker_at = None
        if maker_fd is not None:
            passed += (maker_fd,)
            maker_at = 2 + len(passed)
        if spec.netns_fd is not None:
            passed += (spec.netns_fd,)
            netns_at = 2 + len(passed)
        if volume is not None:
            passed += (volume.fd,)
            tmp_at = 2 + len(passed)
        if trace_fd is not None:
            passed += (trace_fd,)
            trace_at = 2 + len(passed)
        if template is not None:
            passed += (template,)
            template_at = 2 + len(passed)
        plan = JailPlan(
            join_files=tuple(cgroup.join_files()),
            hidden=self._hidden if self._rootfs is None else (),
            binds=tuple(binds),
            links=self._rootfs.links if self._rootfs is not None else None,
            tmp_fd=tmp_at,
            tmp_mb=spec.limits.ephemeral_mb,
            nofile=spec.limits.nofile,
            uid=self._uid,
            gid=self._gid,
            workdir=TASK_ROOT,
            keep_fds=3 if kept is None else 4,
            netns_fd=netns_at,
            parent_pid=os.getpid(),
            # A zygote's forks join namespaces its init made (setns); each environment
            # then installs the full filter on itself.
            seccomp="full" if control_fd is None else "zygote",
            trace_fd=trace_at,
            template_fd=template_at,
            maker_fd=maker_at,
            cgroup_mounts=(
                self._templates.cgroup_mounts
                if template is not None and self._templates is not None
                else ()
            ),
        )
        try:
            child = Child(
                jail_argv(self._jail, plan, spec.argv), spec.env, stdout_fd, pass_fds=passed
            )
        except BaseException:
            await cgroup.destroy()
            if volume is not None and self._volumes is not None:
                self._volumes.release(volume)
            raise
        release = None
        if volume is not None and self._volumes is not None:
            # The server keeps its descriptor of the (now attached) mount until the release,
            # so the filesystem's last reference, and its write-back, goes in the remover
            # thread, not in the environment's exit.
            release = functools.partial(self._volumes.release, volume)
        return JailedProcess(child, cgroup, release)
