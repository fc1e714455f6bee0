"""Root templates: the environments' common root, built once in a mount namespace."""

from __future__ import annotations

import ctypes
import json
import os
from pathlib import Path

import pytest

from lamina.sandbox.jail import ensure_jail_binary
from lamina.sandbox.rootfs import host_rootfs, prepare_etc
from lamina.sandbox.templates import RootTemplates, template_argv
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
