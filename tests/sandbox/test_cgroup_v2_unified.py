"""The v2 cgroup driver on a real cgroup2 hierarchy: a hybrid host's ``unified`` mount.

A cgroup v1 host with systemd's hybrid layout also mounts a cgroup2 hierarchy at
``/sys/fs/cgroup/unified`` with no controllers (``cgroup.controllers`` lists at most
``hugetlb``). Its core files work all the same: creating and removing groups,
``cgroup.procs``, ``cgroup.freeze`` + ``cgroup.events``, ``cgroup.kill``, ``cpu.stat``. So
the driver's v2 code paths run here for real, with the controller requirement relaxed
for the test only (``v2_controllers=()``): detect, prepare, create, join a real process,
freeze and thaw with the driver's own wait, kill, wait for ``populated 0``, remove, and
reclaim the groups of a dead server or a previous run. What needs the controllers
(``memory.max``/``memory.peak``, ``cpu.max``, ``pids.max``) cannot be tested here.

Every test works under a group of its own (``lamina-test-<random>``), removed afterwards,
also when the test fails. The server itself keeps using v1 on such a host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lamina.errors import SandboxError
from lamina.sandbox.cgroup_driver import CgroupDriver, CgroupHandle, detect_layout
from lamina.sandbox.cgroups import CgroupLayout, EnvCgroup
from lamina.sandbox.limits import Limits

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

UNIFIED = Path("/sys/fs/cgroup/unified")
# Prints a line every 20 ms: a frozen group's process prints nothing (and uses no CPU).
TICKER = "import time\nwhile True:\n    print('tick', flush=True)\n    time.sleep(0.02)\n"
SETTLE_S = 10.0


def _unified_or_skip() -> Path:
    if not (UNIFIED / "cgroup.controllers").is_file():
        pytest.skip(f"no cgroup2 hierarchy at {UNIFIED} (not a hybrid cgroup v1 host)")
    if not os.access(UNIFIED / "cgroup.procs", os.W_OK) or not os.access(UNIFIED, os.W_OK):
        pytest.skip(f"{UNIFIED} is not writable here (needs root and a writable cgroupfs)")
    return UNIFIED


def _kill_and_remove(top: Path) -> None:
    """Kill every process under ``top`` and remove its groups, deepest first."""
    if not top.is_dir():
        return
    kill = top / "cgroup.kill"
    if kill.exists():
        kill.write_text("1")
    deadline = time.monotonic() + SETTLE_S
    while "populated 1" in (top / "cgroup.events").read_text():
        assert time.monotonic() < deadline, f"{top} stayed populated"
        time.sleep(0.01)
    for path, _, _ in sorted(os.walk(top), key=lambda walked: -len(walked[0])):
        os.rmdir(path)


@pytest.fixture
def test_group() -> Iterator[str]:
    """A fresh group name under the unified mount, gone (with its processes) afterwards."""
    unified = _unified_or_skip()
    name = f"lamina-test-{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        _kill_and_remove(unified / name)


def _core_only_layout(group: str) -> CgroupLayout:
    layout = detect_layout(_unified_or_skip(), group=group, v2_controllers=())
    assert layout is not None and layout.version == 2, layout
    return layout


def _joining(handle: CgroupHandle) -> Callable[[], None]:
    """What a new environment's first process does before anything else (the jail's
    step): write ``0`` (itself) into each of the group's join files."""
    files = handle.join_files()

    def join() -> None:
        for path in files:
            with open(path, "w") as f:
                f.write("0")

    return join


def _start_ticker(handle: CgroupHandle) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-c", TICKER], stdout=subprocess.PIPE, preexec_fn=_joining(handle)
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == b"tick\n"  # it runs, inside the group
    return proc


def _ticks_within(proc: subprocess.Popen[bytes], seconds: float) -> bytes:
    """What the ticker printed in the next ``seconds`` (after what was already waiting)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    os.set_blocking(fd, False)
    with contextlib.suppress(BlockingIOError):
        while os.read(fd, 65536):  # what it printed before now
            pass
    ready, _, _ = select.select([fd], [], [], seconds)
    return os.read(fd, 65536) if ready else b""


def test_a_hybrid_host_keeps_using_cgroup_v1() -> None:
    _unified_or_skip()
    if "memory" in (UNIFIED / "cgroup.controllers").read_text().split():
        pytest.skip("this host's unified hierarchy has controllers")
    # The server's own detection: the unified mount lacks the controllers, so v1.
    layout = detect_layout()
    assert layout is not None and layout.version == 1, layout
    # And the unified mount alone is refused unless a test relaxes the requirement.
    assert detect_layout(UNIFIED) is None


def test_the_v2_driver_runs_an_environment_group_through_its_life(test_group: str) -> None:
    server = f"{test_group}/s{os.getpid()}"
    driver = CgroupDriver(_core_only_layout(server), host_cpus=os.cpu_count() or 1)
    driver.prepare()
    root = UNIFIED / server
    assert root.is_dir()
    assert (UNIFIED / test_group / "cgroup.subtree_control").read_text().strip() == ""
    assert not driver.layout.swap_accounting  # no memory controller, so no memory.swap.max

    handle = driver.create("env1", Limits(128))
    group_dir = root / "env1"
    assert handle.group.dirs() == [group_dir] and group_dir.is_dir()
    assert handle.join_files() == [group_dir / "cgroup.procs"]
    ticker = _start_ticker(handle)
    try:
        assert handle.contains(ticker.pid)
        assert (group_dir / "cgroup.procs").read_text().split() == [str(ticker.pid)]
        assert driver._populated(handle.group)

        asyncio.run(handle.set_frozen(True))
        assert "frozen 1" in (group_dir / "cgroup.events").read_text()
        frozen_cpu = handle.cpu_time_ns()
        assert frozen_cpu > 0  # cpu.stat's usage_usec, read by the driver
        assert _ticks_within(ticker, 0.3) == b""  # frozen: it prints nothing
        assert handle.cpu_time_ns() == frozen_cpu  # and runs not at all

        asyncio.run(handle.set_frozen(False))
        assert "frozen 0" in (group_dir / "cgroup.events").read_text()
        assert b"tick" in _ticks_within(ticker, SETTLE_S)  # thawed: it runs again
        assert handle.cpu_time_ns() > frozen_cpu

        # The memory controller's files are absent: the driver says so, it does not guess.
        with pytest.raises(SandboxError):
            handle.max_memory_bytes()

        async def reap() -> None:
            await asyncio.to_thread(ticker.wait, SETTLE_S)

        asyncio.run(handle.destroy(reap))  # cgroup.kill, populated 0, then rmdir
        assert ticker.returncode == -9
        assert not group_dir.exists()
        assert handle.cpu_time_ns() == 0 and not handle.contains(ticker.pid)
        asyncio.run(handle.destroy())  # idempotent
    finally:
        ticker.kill()
        ticker.wait()
    driver.remove_roots()
    assert not root.exists()


def test_a_kill_on_the_way_out_of_a_freeze_is_not_trapped_by_it(test_group: str) -> None:
    driver = CgroupDriver(_core_only_layout(f"{test_group}/s{os.getpid()}"), host_cpus=1)
    driver.prepare()
    handle = driver.create("env1", Limits(128))
    ticker = _start_ticker(handle)
    try:
        asyncio.run(handle.set_frozen(True))
        handle.thaw_now()  # the kill path: thaw without waiting, the group is dying
        asyncio.run(handle.set_frozen(True))  # a late freeze is now a no-op
        assert (handle.group.dir("freezer") / "cgroup.freeze").read_text().strip() == "0"
        asyncio.run(handle.destroy(lambda: asyncio.to_thread(ticker.wait, SETTLE_S)))
        assert ticker.returncode == -9
    finally:
        ticker.kill()
        ticker.wait()
    driver.remove_roots()


def test_prepare_reclaims_a_dead_servers_groups_and_its_own_previous_runs(
    test_group: str,
) -> None:
    # A server pid that cannot be alive: above the kernel's pid_max.
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    own = f"{test_group}/s{os.getpid()}"
    earlier = CgroupDriver(_core_only_layout(own), host_cpus=1)
    earlier.prepare()
    stale = _start_ticker(earlier.create("env-of-a-previous-run", Limits(128)))
    gone = CgroupDriver(_core_only_layout(f"{test_group}/s{dead}"), host_cpus=1)
    gone.prepare()  # it leaves this server's group alone: this server is alive
    orphan = _start_ticker(gone.create("env-of-a-dead-server", Limits(128)))
    assert earlier.layout.roots["unified"].is_dir()
    try:
        driver = CgroupDriver(_core_only_layout(own), host_cpus=1)
        driver.prepare()  # a restart of this server
        assert orphan.wait(SETTLE_S) == -9 and stale.wait(SETTLE_S) == -9
        assert not (UNIFIED / test_group / f"s{dead}").exists()
        assert [p.name for p in (UNIFIED / own).iterdir() if p.is_dir()] == []
        driver.remove_roots()
        assert not (UNIFIED / own).exists()
    finally:
        for proc in (orphan, stale):
            proc.kill()
            proc.wait()


def test_without_cgroup_kill_every_process_is_killed_under_a_freeze(
    test_group: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kernels before 5.14 have no cgroup.kill: the driver freezes the group (nothing can
    # fork), SIGKILLs every pid in cgroup.procs, and thaws so the kills are delivered.
    monkeypatch.setattr(EnvCgroup, "kill_file", lambda self: None)
    driver = CgroupDriver(_core_only_layout(f"{test_group}/s{os.getpid()}"), host_cpus=1)
    driver.prepare()
    handle = driver.create("env1", Limits(128))
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess\nsubprocess.Popen(['sleep', '600'])\n" + TICKER],
        stdout=subprocess.PIPE,
        preexec_fn=_joining(handle),
    )
    try:
        assert parent.stdout is not None and parent.stdout.readline() == b"tick\n"
        procs = handle.group.dir("freezer") / "cgroup.procs"
        assert len(procs.read_text().split()) == 2  # the ticker and its sleep
        asyncio.run(handle.destroy(lambda: asyncio.to_thread(parent.wait, SETTLE_S)))
        assert parent.returncode == -9
        assert not handle.group.dir("freezer").exists()  # populated 0: the sleep died too
    finally:
        parent.kill()
        parent.wait()
    driver.remove_roots()
