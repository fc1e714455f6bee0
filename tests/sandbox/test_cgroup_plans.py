"""Pure tests of the cgroup write plans and parsers, for v1 and v2 (no cgroups touched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lamina.errors import SandboxError
from lamina.sandbox.cgroup_driver import detect_layout
from lamina.sandbox.cgroups import (
    cpu_usage_ns,
    is_frozen,
    is_populated,
    oom_kills,
    prepare_plan,
    v1_layout,
    v2_controllers_usable,
    v2_layout,
)
from lamina.sandbox.limits import Limits, SandboxSpec, cpu_quota_us

MOUNT = Path("/sys/fs/cgroup")
V1_MOUNTED = {
    "memory": MOUNT / "memory",
    "cpu": MOUNT / "cpu,cpuacct",
    "cpuacct": MOUNT / "cpu,cpuacct",
    "freezer": MOUNT / "freezer",
    "pids": MOUNT / "pids",
}


def test_cpu_quota_is_memory_over_1769_of_a_cpu() -> None:
    assert cpu_quota_us(1769, host_cpus=4) == 100_000
    assert cpu_quota_us(128, host_cpus=4) == 7236
    assert cpu_quota_us(3538, host_cpus=4) == 200_000


def test_cpu_quota_is_capped_at_host_cores_and_kernel_minimum() -> None:
    assert cpu_quota_us(10240, host_cpus=2) == 200_000
    assert cpu_quota_us(1, host_cpus=2) == 1000


def test_v2_plan_sets_memory_swap_cpu_and_pids() -> None:
    layout = v2_layout(MOUNT, swap_accounting=True)
    plan = layout.env("fn-1").limit_writes(Limits(memory_mb=256, pids_max=64), host_cpus=8)
    env = MOUNT / "lamina" / "fn-1"
    assert plan == [
        (env / "memory.max", str(256 * 1024 * 1024)),
        (env / "memory.swap.max", "0"),
        (env / "memory.oom.group", "1"),
        (env / "cpu.max", f"{cpu_quota_us(256, 8)} 100000"),
        (env / "pids.max", "64"),
    ]


def test_v2_plan_without_swap_accounting_skips_swap_max() -> None:
    plan = v2_layout(MOUNT, swap_accounting=False).env("e").limit_writes(Limits(128), 2)
    assert all(path.name != "memory.swap.max" for path, _ in plan)


def test_v1_plan_writes_each_controller_and_memsw_after_limit() -> None:
    layout = v1_layout(MOUNT, V1_MOUNTED, swap_accounting=True)
    plan = layout.env("fn-1").limit_writes(Limits(memory_mb=128, pids_max=1024), host_cpus=2)
    mem = MOUNT / "memory" / "lamina" / "fn-1"
    cpu = MOUNT / "cpu,cpuacct" / "lamina" / "fn-1"
    assert plan == [
        (mem / "memory.limit_in_bytes", str(128 * 1024 * 1024)),
        (mem / "memory.memsw.limit_in_bytes", str(128 * 1024 * 1024)),
        (cpu / "cpu.cfs_period_us", "100000"),
        (cpu / "cpu.cfs_quota_us", "7236"),
        (MOUNT / "pids" / "lamina" / "fn-1" / "pids.max", "1024"),
    ]


def test_v1_comounted_controllers_share_one_directory() -> None:
    group = v1_layout(MOUNT, V1_MOUNTED, swap_accounting=False).env("x")
    assert len(group.dirs()) == 4
    assert MOUNT / "cpu,cpuacct" / "lamina" / "x" / "tasks" in group.join_files()


def test_v2_has_one_directory_and_a_kill_file() -> None:
    group = v2_layout(MOUNT, False).env("x")
    assert group.dirs() == [MOUNT / "lamina" / "x"]
    assert group.kill_file() == MOUNT / "lamina" / "x" / "cgroup.kill"
    assert v1_layout(MOUNT, V1_MOUNTED, False).env("x").kill_file() is None
    # v2 has no per-thread join file: a new environment joins through cgroup.procs.
    assert group.join_files() == [MOUNT / "lamina" / "x" / "cgroup.procs"]


def test_freeze_writes_per_version() -> None:
    v1 = v1_layout(MOUNT, V1_MOUNTED, False).env("x")
    v2 = v2_layout(MOUNT, False).env("x")
    assert v1.freeze_write(True) == (MOUNT / "freezer/lamina/x/freezer.state", "FROZEN")
    assert v1.freeze_write(False)[1] == "THAWED"
    assert v2.freeze_write(True) == (MOUNT / "lamina/x/cgroup.freeze", "1")
    assert v2.freeze_state_file() == MOUNT / "lamina/x/cgroup.events"


def test_readings_come_from_version_specific_files() -> None:
    v1 = v1_layout(MOUNT, V1_MOUNTED, False).env("x")
    v2 = v2_layout(MOUNT, False).env("x")
    assert v1.peak_memory_file().name == "memory.max_usage_in_bytes"
    assert v2.peak_memory_file().name == "memory.peak"
    assert v1.cpu_usage_file() == MOUNT / "cpu,cpuacct/lamina/x/cpuacct.usage"
    assert v2.cpu_usage_file().name == "cpu.stat"
    assert v1.oom_file().name == "memory.oom_control"
    assert v2.oom_file().name == "memory.events"


def test_v2_prepare_enables_controllers_at_mount_and_root_group() -> None:
    plan = prepare_plan(v2_layout(MOUNT, False, group="lamina-t"))
    assert plan == [
        (MOUNT / "cgroup.subtree_control", "+memory +cpu +pids"),
        (MOUNT / "lamina-t" / "cgroup.subtree_control", "+memory +cpu +pids"),
    ]
    assert prepare_plan(v1_layout(MOUNT, V1_MOUNTED, False)) == []


def test_parsers_for_both_versions() -> None:
    assert is_frozen(1, "FROZEN\n") and not is_frozen(1, "FREEZING\n")
    assert is_frozen(2, "populated 1\nfrozen 1\n") and not is_frozen(2, "populated 1\nfrozen 0\n")
    assert is_populated(1, "12\n13\n") and not is_populated(1, "")
    assert not is_populated(2, "populated 0\nfrozen 0\n")
    assert oom_kills(1, "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n") == 2
    assert oom_kills(2, "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n") == 1
    assert cpu_usage_ns(1, "123456789\n") == 123456789
    assert cpu_usage_ns(2, "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n") == 1_500_000


def test_v2_controllers_must_include_memory_cpu_pids() -> None:
    assert v2_controllers_usable("cpuset cpu io memory hugetlb pids rdma misc")
    assert not v2_controllers_usable("")  # a hybrid host's empty unified hierarchy


def test_detects_v2_from_a_cgroup2_style_tree(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    layout = detect_layout(tmp_path)
    assert layout is not None and layout.version == 2
    assert layout.root_dirs() == [tmp_path / "lamina"]


def test_detects_v1_when_the_unified_hierarchy_has_no_controllers(tmp_path: Path) -> None:
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text("")
    (tmp_path / "cpu,cpuacct").mkdir()
    for name in ("memory", "freezer", "pids"):
        (tmp_path / name).mkdir()
    for d in ("memory", "freezer", "pids", "cpu,cpuacct"):
        (tmp_path / d / "cgroup.procs").write_text("")
    (tmp_path / "cpu").symlink_to("cpu,cpuacct")
    (tmp_path / "cpuacct").symlink_to("cpu,cpuacct")
    layout = detect_layout(tmp_path, group="g")
    assert layout is not None and layout.version == 1
    assert layout.roots["cpu"] == layout.roots["cpuacct"] == tmp_path / "cpu,cpuacct" / "g"
    assert not layout.swap_accounting


def test_no_layout_without_a_needed_controller(tmp_path: Path) -> None:
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "cgroup.procs").write_text("")
    assert detect_layout(tmp_path) is None


def test_spec_rejects_bad_environment_ids_and_empty_argv() -> None:
    with pytest.raises(SandboxError):
        SandboxSpec("../evil", ["/bin/true"], {}, Path("/x"), None, Limits(128))
    with pytest.raises(SandboxError):
        SandboxSpec("ok-1", [], {}, Path("/x"), None, Limits(128))
    with pytest.raises(SandboxError):
        Limits(memory_mb=0)


def test_init_boost_starts_unthrottled_and_cpu_writes_apply_the_memory_share() -> None:
    from lamina.sandbox.cgroups import v1_layout, v2_layout
    from lamina.sandbox.limits import Limits

    v1 = v1_layout(
        Path("/cg"),
        {c: Path("/cg") / c for c in ("memory", "cpu", "cpuacct", "freezer", "pids")},
        False,
    )
    boosted = dict(v1.env("e").limit_writes(Limits(128, init_cpu_boost=True), host_cpus=2))
    assert boosted[Path("/cg/cpu/lamina/e/cpu.cfs_quota_us")] == "200000"
    assert v1.env("e").cpu_writes(128, host_cpus=2) == [
        (Path("/cg/cpu/lamina/e/cpu.cfs_quota_us"), "7236")
    ]
    v2 = v2_layout(Path("/cg"), False)
    assert v2.env("e").cpu_writes(1769, host_cpus=2) == [
        (Path("/cg/lamina/e/cpu.max"), "100000 100000")
    ]


def test_each_server_has_its_own_group_and_only_dead_servers_are_reclaimed() -> None:
    from lamina.sandbox.cgroups import dead_server_groups, server_group

    assert server_group(4242) == "lamina/s4242"
    alive = {100, 200}
    names = ["s100", "s200", "s300", "s400", "other", "sx"]
    assert dead_server_groups(names, lambda pid: pid in alive) == ["s300", "s400"]


def test_v2_enables_controllers_on_every_level_down_to_the_server_group() -> None:
    from lamina.sandbox.cgroups import prepare_plan, v2_layout

    layout = v2_layout(Path("/cg"), False, group="lamina/s7")
    assert [str(p) for p, _ in prepare_plan(layout)] == [
        "/cg/cgroup.subtree_control",
        "/cg/lamina/cgroup.subtree_control",
        "/cg/lamina/s7/cgroup.subtree_control",
    ]


def test_a_v2_layout_limits_and_enables_only_the_controllers_it_names() -> None:
    core_only = v2_layout(Path("/cg"), True, group="t", controllers=())
    group = core_only.env("e")
    assert prepare_plan(core_only) == []
    assert group.limit_writes(Limits(128, init_cpu_boost=True), 2) == []
    assert group.cpu_writes(128, 2) == []
    # The core files stay where they are: freezer, kill, join, CPU time.
    assert group.freeze_write(True) == (Path("/cg/t/e/cgroup.freeze"), "1")
    assert group.kill_file() == Path("/cg/t/e/cgroup.kill")
    assert group.cpu_usage_file() == Path("/cg/t/e/cpu.stat")
    memory_only = v2_layout(Path("/cg"), True, group="t", controllers=("memory",))
    assert [p.name for p, _ in memory_only.env("e").limit_writes(Limits(128), 2)] == [
        "memory.max",
        "memory.swap.max",
        "memory.oom.group",
    ]
    assert prepare_plan(memory_only)[-1] == (Path("/cg/t/cgroup.subtree_control"), "+memory")
    # By default every controller an environment needs is required, enabled and limited.
    assert v2_layout(Path("/cg"), False).controllers == ("memory", "cpu", "pids")
    assert not v2_controllers_usable("hugetlb")
    assert v2_controllers_usable("hugetlb", required=())


def test_a_hybrid_hosts_controller_less_v2_is_used_only_when_asked_for(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    assert detect_layout(tmp_path) is None  # no v1 controllers beside it either
    layout = detect_layout(tmp_path, group="t", v2_controllers=())
    assert layout is not None and layout.version == 2 and layout.controllers == ()
