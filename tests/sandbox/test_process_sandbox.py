"""The process tier on real cgroups and namespaces (needs root)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.sandbox import Limits, SandboxSpec, create_sandbox
from lamina.sandbox.backend import EnvironmentProcess
from lamina.sandbox.process_tier import JailedProcess, ProcessSandbox
from tests.unavailable import unavailable

pytestmark = pytest.mark.privileged

PY = "/usr/bin/python3"  # outside /root, so it needs no exposing
PY312 = Path("/root/.pyenv/versions/3.12.1")
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
_ids = iter(range(10**6))


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ProcessSandbox]:
    if os.geteuid() != 0:
        unavailable("the process sandbox needs root")
    data_dir = tmp_path_factory.mktemp("data")
    settings = Settings(data_dir=data_dir, isolation="process")
    # A root group of our own, so a Lamina server on this host and these tests never meet.
    created = create_sandbox(settings, cgroup_group=f"lamina-test-{os.getpid()}")
    assert isinstance(created, ProcessSandbox)
    yield created
    created.close()


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.txt").write_text("function code\n")
    return code


def _spec(code_dir: Path, argv: list[str], **limits: int) -> SandboxSpec:
    return SandboxSpec(
        env_id=f"t{os.getpid()}-{next(_ids)}",
        argv=argv,
        env=ENV,
        code_dir=code_dir,
        runtime_dir=None,
        limits=Limits(
            memory_mb=limits.get("memory_mb", 256),
            ephemeral_mb=limits.get("ephemeral_mb", 512),
            pids_max=limits.get("pids_max", 1024),
            nofile=limits.get("nofile", 1024),
        ),
    )


@asynccontextmanager
async def _started(sandbox: ProcessSandbox, spec: SandboxSpec) -> AsyncIterator[EnvironmentProcess]:
    read_end, write_end = os.pipe()
    os.close(read_end)  # output is not needed; a closed pipe only hurts a runtime that writes
    proc = await sandbox.spawn(spec, write_end)
    os.close(write_end)
    try:
        yield proc
    finally:
        await proc.kill()


async def _run(sandbox: ProcessSandbox, spec: SandboxSpec) -> tuple[int, str, EnvironmentProcess]:
    read_end, write_end = os.pipe()
    proc = await sandbox.spawn(spec, write_end)
    os.close(write_end)
    code = await proc.wait()
    await proc.kill()
    with os.fdopen(read_end) as out:
        return code, out.read(), proc


def _python(sandbox: ProcessSandbox, spec: SandboxSpec) -> tuple[int, str, EnvironmentProcess]:
    return asyncio.run(_run(sandbox, spec))


def test_exit_status_and_output_come_back(sandbox: ProcessSandbox, code_dir: Path) -> None:
    code, out, _ = _python(sandbox, _spec(code_dir, ["/bin/sh", "-c", "cat handler.txt; exit 3"]))
    assert (code, out) == (3, "function code\n")


def test_memory_limit_kills_an_allocation_past_it(sandbox: ProcessSandbox, code_dir: Path) -> None:
    spec = _spec(code_dir, [PY, "-c", "b = bytearray(400 << 20); print('survived')"], memory_mb=128)
    code, out, proc = _python(sandbox, spec)
    assert "survived" not in out
    assert code == 128 + 9
    assert proc.oom_killed()
    assert proc.max_memory_used_mb() >= 120


def test_a_process_within_its_limit_is_not_oom_killed(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    spec = _spec(code_dir, [PY, "-c", "b = bytearray(40 << 20); print('ok')"], memory_mb=128)
    code, out, proc = _python(sandbox, spec)
    assert (code, out.strip(), proc.oom_killed()) == (0, "ok", False)
    assert 40 <= proc.max_memory_used_mb() < 128


def _cpu_share(sandbox: ProcessSandbox, code_dir: Path, memory_mb: int) -> float:
    async def scenario() -> float:
        spec = _spec(code_dir, ["/bin/sh", "-c", "while :; do :; done"], memory_mb=memory_mb)
        async with _started(sandbox, spec) as proc:
            await asyncio.sleep(0.3)
            cpu0, wall0 = proc.cpu_time_ns(), time.monotonic_ns()
            await asyncio.sleep(1.0)
            return (proc.cpu_time_ns() - cpu0) / (time.monotonic_ns() - wall0)

    return asyncio.run(scenario())


@pytest.mark.slow
def test_cpu_quota_follows_memory_size(sandbox: ProcessSandbox, code_dir: Path) -> None:
    # 128 MB is 128/1769 ≈ 0.07 of a CPU; 1769 MB a whole one. This machine is shared, so a
    # whole CPU is not guaranteed: the big one must get several times the small one's share.
    small = _cpu_share(sandbox, code_dir, 128)
    big = _cpu_share(sandbox, code_dir, 1769)
    assert small < 0.2
    assert big > 3 * small


def test_frozen_environment_uses_no_cpu_and_thawed_resumes(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    async def scenario() -> tuple[int, int, int]:
        spec = _spec(code_dir, ["/bin/sh", "-c", "while :; do :; done"], memory_mb=1769)
        async with _started(sandbox, spec) as proc:
            await asyncio.sleep(0.1)
            await proc.freeze()
            frozen_at = proc.cpu_time_ns()
            await asyncio.sleep(0.2)
            still = proc.cpu_time_ns()
            await proc.thaw()
            await asyncio.sleep(0.2)
            return frozen_at, still, proc.cpu_time_ns()

    frozen_at, still, after = asyncio.run(scenario())
    assert still == frozen_at
    assert after > still


def test_kill_works_on_a_frozen_environment_and_removes_its_cgroups(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    async def scenario() -> tuple[list[Path], int, int]:
        spec = _spec(code_dir, ["/bin/sh", "-c", "sleep 100 & sleep 100"])
        proc = await sandbox.spawn(spec, 2)
        dirs = sandbox._driver.layout.env(spec.env_id).dirs()
        assert all(d.is_dir() for d in dirs)
        await proc.freeze()
        await proc.kill()
        await proc.kill()  # idempotent
        return dirs, await proc.wait(), proc.max_memory_used_mb()

    dirs, code, peak = asyncio.run(scenario())
    assert not any(d.exists() for d in dirs)
    assert code == 128 + 9
    assert peak > 0  # readings survive kill()


def test_fork_bomb_is_capped_by_the_pids_limit(sandbox: ProcessSandbox, code_dir: Path) -> None:
    script = """
import os, time
made = refused = 0
for _ in range(200):
    try:
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        made += 1
    except BlockingIOError:
        refused += 1
print(made, refused)
"""
    code, out, _ = _python(sandbox, _spec(code_dir, [PY, "-c", script], pids_max=32))
    made, refused = map(int, out.split())
    assert code == 0
    assert made < 32 and refused > 0


_INSIDE = """
import json, os, socket
def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as exc:
        return type(exc).__name__ + ":" + str(exc.errno)
def write(path):
    with open(path, "w") as f:
        f.write("x")
print(json.dumps({
    "pid": os.getpid(),
    "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "uid": os.getuid(), "gid": os.getgid(), "groups": os.getgroups(),
    "cwd": os.getcwd(), "code": open("handler.txt").read(),
    "write_task": attempt(lambda: write("/var/task/new")),
    "write_etc": attempt(lambda: write("/etc/lamina-test")),
    "write_tmp": attempt(lambda: write("/tmp/mine")),
    "tmp": sorted(os.listdir("/tmp")),
    "data_dir": os.path.exists(DATA_DIR),
    "root": attempt(lambda: os.listdir("/root")),
    "bashrc": os.path.exists("/root/.bashrc"),
    "hostname": socket.gethostname(),
    "nofile": __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)[0],
}))
"""


def test_runtime_is_isolated(sandbox: ProcessSandbox, code_dir: Path, tmp_path: Path) -> None:
    host_marker = Path("/tmp") / f"lamina-host-{os.getpid()}"
    host_marker.write_text("host")
    try:
        data_dir = next(p for p in sandbox.hidden if p != Path("/root"))
        script = _INSIDE.replace("DATA_DIR", repr(str(data_dir)))
        code, out, _ = _python(sandbox, _spec(code_dir, [PY, "-c", script], nofile=256))
    finally:
        host_marker.unlink()
    assert code == 0, out
    seen = json.loads(out)
    assert seen["pid"] <= 2 and max(seen["pids"]) < 10  # its own pid ns, no host processes
    assert (seen["uid"], seen["gid"], seen["groups"]) == (993, 993, [])
    assert (seen["cwd"], seen["code"]) == ("/var/task", "function code\n")
    assert seen["write_task"] == seen["write_etc"] == "OSError:30"  # EROFS
    assert seen["write_tmp"] == "ok"
    assert seen["tmp"] == ["mine"]  # the host's /tmp (with the marker) is not visible
    assert seen["data_dir"] is False
    # Its own root filesystem: the host's /root is not there at all.
    assert seen["root"] == "FileNotFoundError:2" and seen["bashrc"] is False
    assert seen["hostname"] == "lamina"
    assert seen["nofile"] == 256


def test_tmp_is_private_per_environment(sandbox: ProcessSandbox, code_dir: Path) -> None:
    async def scenario() -> str:
        writer = _spec(code_dir, ["/bin/sh", "-c", "echo secret > /tmp/a-secret; sleep 30"])
        async with _started(sandbox, writer):
            await asyncio.sleep(0.2)
            reader = _spec(code_dir, ["/bin/sh", "-c", "ls -A /tmp; echo done"])
            _, out, _ = await _run(sandbox, reader)
            return out

    assert asyncio.run(scenario()) == "done\n"


def _is_dir(path: Path) -> bool:
    """Whether ``path`` is a directory this user can see (collection must not need root)."""
    try:
        return path.is_dir()
    except PermissionError:
        return False


@pytest.mark.skipif(not _is_dir(PY312), reason="no pyenv python 3.12 on this host")
def test_exposed_interpreter_under_hidden_root_runs(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    spec = SandboxSpec(
        env_id=f"t{os.getpid()}-{next(_ids)}",
        argv=[
            str(PY312 / "bin" / "python3.12"),
            "-c",
            "import sys, os; print(sys.version_info[:2], os.path.exists('/root/.bashrc'))",
        ],
        env=ENV,
        code_dir=code_dir,
        runtime_dir=None,
        limits=Limits(memory_mb=256),
        expose=(PY312,),
    )
    code, out, _ = _python(sandbox, spec)
    assert code == 0, out
    assert out.strip() == "(3, 12) False"


@pytest.mark.privileged
def test_once_a_kill_has_begun_a_freeze_no_longer_freezes(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    # A freeze still settling used to write FROZEN again after the kill had thawed the
    # tree, trapping the SIGKILLed tasks (they must run to die) and hanging kill().
    async def scenario() -> tuple[str, int]:
        spec = _spec(code_dir, ["/bin/sh", "-c", "while :; do :; done"])
        read_end, write_end = os.pipe()
        os.close(read_end)
        proc = await sandbox.spawn(spec, write_end)
        os.close(write_end)
        assert isinstance(proc, JailedProcess)
        cgroup = proc._cgroup
        state = cgroup.group.freeze_state_file()
        cgroup.thaw_now()  # what kill() does right after its SIGKILL
        await cgroup.set_frozen(True)  # a freeze that was still settling
        frozen_state = state.read_text().strip()
        await asyncio.wait_for(proc.kill(), timeout=20)
        return frozen_state, await asyncio.wait_for(proc.wait(), timeout=5)

    frozen_state, status = asyncio.run(scenario())
    assert frozen_state == "THAWED"
    assert status != 0


def test_terminate_passes_sigterm_on_to_the_runtime(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    script = "trap 'echo cleaned up; exit 7' TERM; echo ready; while :; do sleep 0.05; done"

    async def scenario() -> tuple[bool, int, str]:
        read_end, write_end = os.pipe()
        proc = await sandbox.spawn(_spec(code_dir, ["/bin/sh", "-c", script]), write_end)
        os.close(write_end)
        with os.fdopen(read_end) as out:
            assert out.readline() == "ready\n"  # the trap is set
            sent = proc.terminate()
            code = await proc.wait()
            await proc.kill()
            assert not proc.terminate()  # nothing left to signal
            return sent, code, out.read()

    sent, code, out = asyncio.run(scenario())
    assert sent
    assert (code, out) == (7, "cleaned up\n")


def test_trace_lists_the_steps_in_order_and_is_not_inherited(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    """``-Z``: one timestamped line per step, ending at the exec; the runtime (here one that
    lists its descriptors) never holds the trace descriptor."""

    async def scenario() -> tuple[int, str, list[str]]:
        out_r, out_w = os.pipe()
        trace_r, trace_w = os.pipe()
        spec = _spec(code_dir, [PY, "-c", "import os; print(sorted(os.listdir('/proc/self/fd')))"])
        proc = await sandbox.spawn(spec, out_w, trace_fd=trace_w)
        os.close(out_w)
        os.close(trace_w)
        code = await proc.wait()
        await proc.kill()
        with os.fdopen(out_r) as out, os.fdopen(trace_r) as trace:
            return code, out.read(), trace.read().splitlines()

    code, out, lines = asyncio.run(scenario())
    assert code == 0, out
    assert out.strip() == "['0', '1', '2', '3']"  # 3: listdir's own descriptor
    steps = [line.split()[0] for line in lines]
    stamps = [int(line.split()[1]) for line in lines]
    assert steps[0] == "jail-started" and steps[-1] == "exec"
    for step in ("cgroups-joined", "template-joined", "unshared", "init-forked", "binds"):
        assert step in steps
    assert stamps == sorted(stamps)


def test_the_runtime_is_in_every_group_of_its_environment(
    sandbox: ProcessSandbox, code_dir: Path
) -> None:
    """The jail joins through v1's per-thread ``tasks`` files (no global lock); the whole
    tree it starts must still be in every hierarchy's group."""
    script = "import time; time.sleep(30)"

    async def scenario() -> list[bool]:
        async with _started(sandbox, _spec(code_dir, [PY, "-c", script])) as proc:
            assert isinstance(proc, JailedProcess)
            group = proc._cgroup.group
            deadline = time.monotonic() + 10
            while True:
                members = [set((d / "cgroup.procs").read_text().split()) for d in group.dirs()]
                # jail, init, runtime: three processes in every hierarchy.
                if all(len(m) == 3 for m in members) or time.monotonic() > deadline:
                    return [str(proc.pid) in m and len(m) == 3 for m in members]
                await asyncio.sleep(0.01)

    assert all(asyncio.run(scenario()))
