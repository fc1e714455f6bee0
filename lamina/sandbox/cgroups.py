"""Cgroup layout and write plans for v1 and v2 (pure: no file is touched here).

Every decision about *which file gets which value* lives here as a function of
(layout, environment id, limits), so both hierarchies are unit-testable on any host.
:mod:`lamina.sandbox.cgroup_driver` performs the writes and reads.

Layout: one ``lamina`` group under each hierarchy (v1: under every controller we use;
v2: under the unified mount), and one child ``lamina/<env_id>`` per environment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lamina.sandbox.limits import CFS_PERIOD_US, Limits, cpu_quota_us

# The CPU share of the largest Lambda (10,240 MB, ~5.8 vCPUs): capped at the host's cores,
# this is "unthrottled" during INIT.
MAX_MEMORY_MB = 10_240

Version = Literal[1, 2]
Write = tuple[Path, str]

ROOT_GROUP = "lamina"
# Controllers an environment needs. v1 mounts each (or a few together) as a hierarchy;
# v2 needs them enabled in cgroup.subtree_control (the freezer is built into v2).
V1_CONTROLLERS = ("memory", "cpu", "cpuacct", "freezer", "pids")
V2_CONTROLLERS = ("memory", "cpu", "pids")


@dataclass(frozen=True, slots=True)
class CgroupLayout:
    """Where Lamina's groups live on this host.

    ``roots`` maps a controller (v1) or ``"unified"`` (v2) to the ``lamina`` root group.
    v1 controllers mounted together (``cpu,cpuacct``) map to the same directory.
    ``swap_accounting`` says whether memsw (v1) / memory.swap.max (v2) files exist.
    ``controllers`` (v2) are the ones enabled for the environments and limited in them:
    :data:`V2_CONTROLLERS`, unless a test runs the driver on a hierarchy without them.
    """

    version: Version
    mount: Path
    roots: Mapping[str, Path]
    swap_accounting: bool = False
    controllers: tuple[str, ...] = V2_CONTROLLERS

    def root_dirs(self) -> list[Path]:
        return _distinct(self.roots.values())

    def env(self, env_id: str) -> EnvCgroup:
        return EnvCgroup(self, env_id)


def _distinct(paths: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path not in out:
            out.append(path)
    return out


def v1_layout(
    mount: Path, mounted: Mapping[str, Path], swap_accounting: bool, group: str = ROOT_GROUP
) -> CgroupLayout:
    """A v1 layout from the hierarchy directory of each controller (resolved symlinks)."""
    return CgroupLayout(1, mount, {c: mounted[c] / group for c in V1_CONTROLLERS}, swap_accounting)


def v2_layout(
    mount: Path,
    swap_accounting: bool,
    group: str = ROOT_GROUP,
    controllers: tuple[str, ...] = V2_CONTROLLERS,
) -> CgroupLayout:
    return CgroupLayout(2, mount, {"unified": mount / group}, swap_accounting, controllers)


def v2_controllers_usable(
    controllers_text: str, required: tuple[str, ...] = V2_CONTROLLERS
) -> bool:
    """Whether a v2 ``cgroup.controllers`` offers every controller an environment needs."""
    available = set(controllers_text.split())
    return all(c in available for c in required)


def prepare_plan(layout: CgroupLayout) -> list[Write]:
    """Writes that let ``lamina/<env>`` groups use the controllers (v2 only; v1 needs none).

    Run after the root group directory exists.
    """
    if layout.version == 1 or not layout.controllers:
        return []
    enable = " ".join(f"+{c}" for c in layout.controllers)
    root = layout.roots["unified"]
    levels = [layout.mount]
    for part in root.relative_to(layout.mount).parts:
        levels.append(levels[-1] / part)
    return [(level / "cgroup.subtree_control", enable) for level in levels]


def server_group(pid: int) -> str:
    """Each server's environments live under ``lamina/s<pid>``, so servers never meet."""
    return f"{ROOT_GROUP}/s{pid}"


def dead_server_groups(names: Iterable[str], alive: Callable[[int], bool]) -> list[str]:
    """Sibling server groups (``s<pid>``) whose server process is gone: safe to reclaim."""
    out = []
    for name in names:
        if name.startswith("s") and name[1:].isdigit() and not alive(int(name[1:])):
            out.append(name)
    return sorted(out)


@dataclass(frozen=True, slots=True)
class EnvCgroup:
    """The files of one environment's group(s)."""

    layout: CgroupLayout
    env_id: str

    def dir(self, controller: str) -> Path:
        key = "unified" if self.layout.version == 2 else controller
        return self.layout.roots[key] / self.env_id

    def dirs(self) -> list[Path]:
        return [root / self.env_id for root in self.layout.root_dirs()]

    def join_files(self) -> list[Path]:
        """The files a new environment's first process writes ``0`` (itself) into, before
        anything else: v1's ``tasks``, which moves the writing thread without the global
        lock a ``cgroup.procs`` write takes (an RCU grace period: 5-20 ms a cold start on
        this kind of host, see docs/speed.md); v2's ``cgroup.procs``, its only one."""
        name = "tasks" if self.layout.version == 1 else "cgroup.procs"
        return [d / name for d in self.dirs()]

    def limit_writes(self, limits: Limits, host_cpus: int) -> list[Write]:
        """Memory, CPU and pids limits, in an order the kernel accepts."""
        memory = limits.memory_mb * 1024 * 1024
        quota = cpu_quota_us(
            MAX_MEMORY_MB if limits.init_cpu_boost else limits.memory_mb, host_cpus
        )
        mem, cpu, pids = self.dir("memory"), self.dir("cpu"), self.dir("pids")
        if self.layout.version == 1:
            writes: list[Write] = [(mem / "memory.limit_in_bytes", str(memory))]
            if self.layout.swap_accounting:
                # memsw counts memory + swap, so equal limits leave no room to swap.
                writes.append((mem / "memory.memsw.limit_in_bytes", str(memory)))
            writes += [
                (cpu / "cpu.cfs_period_us", str(CFS_PERIOD_US)),
                (cpu / "cpu.cfs_quota_us", str(quota)),
                (pids / "pids.max", str(limits.pids_max)),
            ]
            return writes
        writes = [(mem / "memory.max", str(memory))]
        if self.layout.swap_accounting:
            writes.append((mem / "memory.swap.max", "0"))
        writes += [
            # One OOM kill takes the whole environment down, as Lambda does.
            (mem / "memory.oom.group", "1"),
            (cpu / "cpu.max", f"{quota} {CFS_PERIOD_US}"),
            (pids / "pids.max", str(limits.pids_max)),
        ]
        return self._enabled(writes)

    def cpu_writes(self, memory_mb: int, host_cpus: int) -> list[Write]:
        """Set the CPU share of ``memory_mb`` (after INIT, when INIT ran boosted)."""
        quota = cpu_quota_us(memory_mb, host_cpus)
        cpu = self.dir("cpu")
        if self.layout.version == 1:
            return [(cpu / "cpu.cfs_quota_us", str(quota))]
        return self._enabled([(cpu / "cpu.max", f"{quota} {CFS_PERIOD_US}")])

    def _enabled(self, writes: list[Write]) -> list[Write]:
        """The v2 writes to files of the layout's controllers (v2 names each file for its
        controller: ``memory.max``, ``cpu.max``, ``pids.max``)."""
        return [w for w in writes if w[0].name.split(".")[0] in self.layout.controllers]

    def freeze_write(self, frozen: bool) -> Write:
        if self.layout.version == 1:
            return (self.dir("freezer") / "freezer.state", "FROZEN" if frozen else "THAWED")
        return (self.dir("freezer") / "cgroup.freeze", "1" if frozen else "0")

    def freeze_state_file(self) -> Path:
        name = "freezer.state" if self.layout.version == 1 else "cgroup.events"
        return self.dir("freezer") / name

    def peak_memory_file(self) -> Path:
        name = "memory.max_usage_in_bytes" if self.layout.version == 1 else "memory.peak"
        return self.dir("memory") / name

    def current_memory_file(self) -> Path:
        name = "memory.usage_in_bytes" if self.layout.version == 1 else "memory.current"
        return self.dir("memory") / name

    def oom_file(self) -> Path:
        name = "memory.oom_control" if self.layout.version == 1 else "memory.events"
        return self.dir("memory") / name

    def cpu_usage_file(self) -> Path:
        if self.layout.version == 1:
            return self.dir("cpuacct") / "cpuacct.usage"
        return self.dir("cpu") / "cpu.stat"

    def kill_file(self) -> Path | None:
        """v2's one-shot ``cgroup.kill`` (Linux 5.14+); v1 has none."""
        return None if self.layout.version == 1 else self.dir("memory") / "cgroup.kill"


def _keyed(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        out[key] = value.strip()
    return out


def is_frozen(version: Version, state_text: str) -> bool:
    """v1 ``freezer.state`` reads FROZEN (not FREEZING); v2 ``cgroup.events`` has frozen 1."""
    if version == 1:
        return state_text.strip() == "FROZEN"
    return _keyed(state_text).get("frozen") == "1"


def is_populated(version: Version, procs_or_events_text: str) -> bool:
    """v1: any pid in ``cgroup.procs``; v2: ``populated 1`` in ``cgroup.events``."""
    if version == 1:
        return bool(procs_or_events_text.split())
    return _keyed(procs_or_events_text).get("populated") == "1"


def oom_kills(version: Version, text: str) -> int:
    """OOM kills from v1 ``memory.oom_control`` or v2 ``memory.events``."""
    return int(_keyed(text).get("oom_kill", "0") or 0)


def cpu_usage_ns(version: Version, text: str) -> int:
    """CPU time from v1 ``cpuacct.usage`` (ns) or v2 ``cpu.stat`` (usage_usec)."""
    if version == 1:
        return int(text.strip() or 0)
    return int(_keyed(text).get("usage_usec", "0")) * 1000
