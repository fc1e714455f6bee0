"""Root templates: the environments' common root, built once in a mount namespace."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.sandbox import Limits, SandboxSpec, create_sandbox
from lamina.sandbox.jail import ensure_jail_binary
from lamina.sandbox.process_tier import ProcessSandbox
from lamina.sandbox.rootfs import host_rootfs, prepare_etc
from lamina.sandbox.templates import RootTemplates, cgroup_mounts, template_argv
from tests.unavailable import unavailable

pytestmark = pytest.mark.privileged

_CLONE_NEWNS = 0x00020000


def test_template_argv_lists_the_tree_and_the_functions_mount_points() -> None:
    argv = template_argv(
        Path("/j"), ((Path("/usr"), "/usr"), (Path("/e"), "/etc")), (("usr/bin", "/bin"),)
    )
    assert argv[:5] == ["/j", "-M", "1", "-R", "1"]
    assert argv[5:] == [
        "-B", "/usr", "/usr", "-B", "/e", "/etc", "-L", "usr/bin", "/bin",
        "-A", "/var/task", "-A", "/var/runtime", "-A", "/opt",
    ]  # fmt: skip


def test_cgroup_mounts_are_the_hierarchies_under_sys_fs_cgroup() -> None:
    text = (
        "tmpfs /sys/fs/cgroup tmpfs ro,nosuid 0 0\n"
        "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,memory 0 0\n"
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n"
        "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,nsdelegate 0 0\n"
        "cgroup /elsewhere cgroup rw,pids 0 0\n"
        "/dev/loop3 /data/v1 ext4 rw 0 0\n"
    )
    assert cgroup_mounts(text) == (
        ("/sys/fs/cgroup/memory", "cgroup", "rw,nosuid,memory"),
        ("/sys/fs/cgroup/cpu,cpuacct", "cgroup", "rw,cpu,cpuacct"),
        ("/sys/fs/cgroup/unified", "cgroup2", "rw,nsdelegate"),
    )
    assert cgroup_mounts("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n") == (
        ("/sys/fs/cgroup", "cgroup2", "rw,nsdelegate"),
    )


def _look_inside(ns_fd: int) -> dict[str, object]:
    """What a process that joins the namespace sees at / (from a forked child)."""
    read, write = os.pipe()
    hold_r, hold_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: join, look, report
        try:
            os.close(read)
            os.close(hold_w)
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.setns(ns_fd, _CLONE_NEWNS) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            seen = {
                "root": sorted(os.listdir("/")),
                "var": sorted(os.listdir("/var")),
                "passwd": Path("/etc/passwd").read_text(),
                "writable": os.access("/", os.W_OK) and os.statvfs("/").f_flag & 1 == 0,
            }
            os.write(write, json.dumps(seen).encode() + b"\n")
            os.read(hold_r, 1)  # stay in the namespace while the parent reads our mounts
        except BaseException as exc:
            os.write(write, json.dumps({"error": repr(exc)}).encode() + b"\n")
        finally:
            os._exit(0)
    os.close(write)
    os.close(hold_r)
    with os.fdopen(read, "rb") as f:
        seen = dict(json.loads(f.readline()))
        # The template has no /proc of its own: read the child's table from the host's.
        with open(f"/proc/{pid}/mountinfo") as info:
            seen["mounts"] = [line.split()[4] for line in info]
    os.close(hold_w)
    os.waitpid(pid, 0)
    return seen


def test_a_template_is_the_environments_root_read_only_and_nothing_of_the_host(
    tmp_path: Path,
) -> None:
    if os.geteuid() != 0:
        unavailable("mount namespaces need root")
    jail = ensure_jail_binary(tmp_path / "bin")
    rootfs = host_rootfs(prepare_etc(tmp_path / "rootfs", 993, 993))
    templates = RootTemplates(jail, rootfs)
    try:
        fd = templates.fd(())
        assert fd is not None
        assert templates.fd(()) == fd  # made once per set of exposed paths
        seen = _look_inside(fd)
    finally:
        templates.close()
    assert "error" not in seen, seen
    root = seen["root"]
    assert isinstance(root, list)
    assert {"usr", "etc", "dev", "tmp", "proc", "sys", "opt", "var"} <= set(root)
    assert not {"root", "home", "work", "boot"} & set(root)
    assert seen["var"] == ["runtime", "task"]
    assert "sbx_user1051" in str(seen["passwd"])
    assert seen["writable"] is False
    # Only the template's own mounts: the host's table stayed outside.
    mounts = seen["mounts"]
    assert isinstance(mounts, list) and len(mounts) < 40
    assert str(tmp_path) not in " ".join(mounts)


LOOK = """
import json, os
print(json.dumps({
    "root": sorted(os.listdir("/")),
    "task": sorted(os.listdir("/var/task")),
    "uid": os.getuid(),
    "tmp_writable": os.access("/tmp", os.W_OK),
    "task_writable": os.access("/var/task", os.W_OK),
    "cgroup": sorted(os.listdir("/sys/fs/cgroup")),
}))
"""


def test_an_environment_with_its_own_network_joins_the_template(tmp_path: Path) -> None:
    """A spawn through the process tier (own network namespace, the default) joins the
    template instead of building its root, and sees the same tree with its own code."""
    if os.geteuid() != 0:
        unavailable("the process sandbox needs root")
    code = tmp_path / "code"
    code.mkdir()
    (code / "handler.py").write_text("")
    settings = Settings(data_dir=tmp_path / "data", isolation="process")
    box = create_sandbox(settings, cgroup_group=f"lamina-test-tpl-{os.getpid()}")
    assert isinstance(box, ProcessSandbox) and box.network is not None

    async def scenario() -> tuple[int, str, list[str]]:
        assert box.network is not None
        box.warm_up()
        box.network.start(None, None)
        net = await box.network.take()
        spec = SandboxSpec(
            env_id=f"tpl-{os.getpid()}",
            argv=["/usr/bin/python3", "-c", LOOK],
            env={"PATH": "/usr/bin:/bin"},
            code_dir=code,
            runtime_dir=None,
            limits=Limits(memory_mb=128),
            netns_fd=net.fd,
        )
        out_r, out_w = os.pipe()
        trace_r, trace_w = os.pipe()
        try:
            proc = await box.spawn(spec, out_w, trace_fd=trace_w)
        finally:
            os.close(out_w)
            os.close(trace_w)
        status = await proc.wait()
        await proc.kill()
        net.close()
        with os.fdopen(out_r) as out, os.fdopen(trace_r) as trace:
            return status, out.read(), [line.split()[0] for line in trace]

    try:
        status, out, steps = asyncio.run(scenario())
    finally:
        box.close()
    assert status == 0, out
    assert "template-joined" in steps and "pivot-root" not in steps, steps
    seen = json.loads(out)
    assert {"usr", "etc", "dev", "tmp", "proc", "sys", "var"} <= set(seen["root"])
    assert not {"root", "home", "work"} & set(seen["root"])
    assert seen["task"] == ["handler.py"]
    assert seen["uid"] == 993
    assert seen["tmp_writable"] is True and seen["task_writable"] is False
    assert seen["cgroup"]  # its own hierarchies, mounted after joining


SHARED_HOST = """
import asyncio, json, os, sys, tempfile
from pathlib import Path
from lamina.config import Settings
from lamina.sandbox import Limits, SandboxSpec, create_sandbox

def ours():
    with open("/proc/self/mountinfo") as f:
        return [line for line in f if "lamina-cgroup" in line or "lamina-root" in line]

async def main(network: bool):
    base = Path(tempfile.mkdtemp(prefix="lamina-shared-"))
    code = base / "code"
    code.mkdir()
    settings = Settings(data_dir=base / "d", isolation="process", network_isolation=network)
    box = create_sandbox(settings, cgroup_group=f"lamina-test-shared-{os.getpid()}")
    box.warm_up()
    net = None
    if box.network is not None:
        box.network.start(None, None)
        net = await box.network.take()
    spec = SandboxSpec(
        env_id=f"shared{os.getpid()}", argv=["/bin/sleep", "1"], env={"PATH": "/usr/bin:/bin"},
        code_dir=code, runtime_dir=None, limits=Limits(memory_mb=128),
        netns_fd=net.fd if net is not None else None,
    )
    read, write = os.pipe()
    proc = await box.spawn(spec, write)
    os.close(write)
    await asyncio.sleep(0.5)
    during = ours()
    status = await proc.wait()
    await proc.kill()
    box.close()
    print(json.dumps({"status": status, "leaked": during}))

asyncio.run(main(sys.argv[1] == "1"))
"""


@pytest.mark.parametrize("network", [False, True])
def test_mounts_inside_never_reach_a_host_whose_mounts_are_shared(
    tmp_path: Path, network: bool
) -> None:
    """On a host whose mounts propagate (systemd makes them shared), the mounts an
    environment makes on top of its cloned sources (the cgroup tmpfs on the host's /sys)
    must stay in the environment. Runs in a mount namespace of its own with shared
    propagation (``unshare -m --propagation shared``), so the real host is never touched."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        unavailable("needs root and unshare (util-linux)")
    script = tmp_path / "shared_host.py"
    script.write_text(SHARED_HOST)
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "--propagation",
            "shared",
            sys.executable,
            str(script),
            str(int(network)),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["status"] == 0
    assert out["leaked"] == []
