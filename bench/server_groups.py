"""A running server's cgroups, found the way the sandbox lays them out (v1 or v2).

Benches read a server's memory charge and its environments' groups; asking
:func:`lamina.sandbox.cgroup_driver.detect_layout` keeps them right on either hierarchy
instead of each bench guessing paths.
"""

from __future__ import annotations

from pathlib import Path

from lamina.sandbox.cgroup_driver import detect_layout
from lamina.sandbox.cgroups import CgroupLayout, server_group


def server_layout(server_pid: int) -> CgroupLayout | None:
    """The layout whose root group is the server's own (``lamina/s<pid>``); None without cgroups."""
    return detect_layout(group=server_group(server_pid))


def _memory_root(layout: CgroupLayout) -> Path:
    return layout.roots["memory" if layout.version == 1 else "unified"]


def memory_usage_mb(server_pid: int) -> float:
    """Memory charged to all of the server's environments now (0 without cgroups)."""
    layout = server_layout(server_pid)
    if layout is None:
        return 0.0
    name = "memory.usage_in_bytes" if layout.version == 1 else "memory.current"
    try:
        return int((_memory_root(layout) / name).read_text()) / (1024 * 1024)
    except (OSError, ValueError):
        return 0.0


def environment_ids(server_pid: int) -> list[str]:
    """The server's environment groups (their names are the environment ids)."""
    layout = server_layout(server_pid)
    if layout is None:
        return []
    root = _memory_root(layout)
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []


def frozen_count(server_pid: int, env_ids: list[str]) -> int:
    """How many of ``env_ids`` are frozen (v1 ``freezer.state``, v2 ``cgroup.events``)."""
    layout = server_layout(server_pid)
    if layout is None:
        return 0
    n = 0
    for env_id in env_ids:
        env = layout.env(env_id)
        try:
            if layout.version == 1:
                n += (env.dir("freezer") / "freezer.state").read_text().strip() == "FROZEN"
            else:
                n += "frozen 1" in (env.dir("unified") / "cgroup.events").read_text()
        except OSError:
            continue  # the environment went meanwhile
    return n


def left_behind(server_pid: int) -> list[str]:
    """The server's group directories still on the host (there should be none once it stopped)."""
    layout = server_layout(server_pid)
    if layout is None:
        return []
    return [str(d) for d in layout.root_dirs() if d.is_dir()]


def processes(server_pid: int, env_ids: list[str]) -> list[int]:
    """The processes in ``env_ids``' groups (by their memory group)."""
    layout = server_layout(server_pid)
    if layout is None:
        return []
    controller = "memory" if layout.version == 1 else "unified"
    pids: list[int] = []
    for env_id in env_ids:
        try:
            text = (layout.env(env_id).dir(controller) / "cgroup.procs").read_text()
        except OSError:
            continue  # the environment went meanwhile
        pids += [int(p) for p in text.split()]
    return pids
