"""The jail's argv, hidden-path choice, and compile-once cache."""

from __future__ import annotations

import os
import platform
import struct
import subprocess
from pathlib import Path

import pytest

from lamina.errors import SandboxError
from lamina.sandbox.jail import (
    JailPlan,
    ensure_jail_binary,
    expose_binds,
    hidden_paths,
    jail_argv,
)


def test_jail_argv_lists_spec_then_runtime_argv() -> None:
    plan = JailPlan(
        join_files=(Path("/cg/a/cgroup.procs"),),
        hidden=(Path("/root"),),
        binds=((Path("/data/code"), "/var/task"),),
        tmp_mb=512,
        nofile=1024,
        uid=993,
        gid=993,
        workdir="/var/task",
    )
    argv = jail_argv(Path("/bin/jail"), plan, ["/usr/bin/python3", "-c", "--"])
    assert argv[:9] == [
        "/bin/jail", "-c", "/cg/a/cgroup.procs", "-H", "/root", "-B", "/data/code", "/var/task", "-T",
    ]  # fmt: skip
    # Everything after the first "--" is the runtime's, even another "--".
    assert argv[argv.index("--") + 1 :] == ["/usr/bin/python3", "-c", "--"]
    assert argv[argv.index("-U") + 1] == "993"


def test_hidden_paths_drop_missing_and_nested(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    hidden = hidden_paths([tmp_path / "a" / "b", tmp_path / "a", tmp_path / "missing"])
    assert hidden == (tmp_path / "a",)


def test_expose_binds_only_paths_under_hidden(tmp_path: Path) -> None:
    (tmp_path / "home" / "py").mkdir(parents=True)
    (tmp_path / "usr").mkdir()
    binds = expose_binds((tmp_path / "home" / "py", tmp_path / "usr"), (tmp_path / "home",))
    assert binds == ((tmp_path / "home" / "py", str(tmp_path / "home" / "py")),)


def test_jail_is_compiled_once_and_cached(tmp_path: Path) -> None:
    first = ensure_jail_binary(tmp_path / "bin")
    assert first.name.startswith("lamina-jail-") and os.access(first, os.X_OK)
    mtime = first.stat().st_mtime_ns
    assert ensure_jail_binary(tmp_path / "bin", compiler="/nonexistent/cc") == first
    assert first.stat().st_mtime_ns == mtime
    assert list((tmp_path / "bin").iterdir()) == [first]


def test_missing_compiler_is_a_clear_sandbox_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SandboxError, match="C compiler"):
        ensure_jail_binary(tmp_path / "bin")


def test_jail_refuses_root_and_bad_arguments(tmp_path: Path) -> None:
    jail = ensure_jail_binary(tmp_path / "bin")
    for argv in (
        [str(jail), "-U", "0", "--", "/bin/true"],
        [str(jail), "-Q", "1", "--", "/bin/true"],  # no such option
        [str(jail), "-T", "12x", "--", "/bin/true"],
        [str(jail), "-T", "12"],
        [str(jail), "-k", "4", "-z", "3", "--", "/bin/true"],  # the zygote would keep it
    ):
        pid = os.posix_spawn(
            argv[0], argv, {}, file_actions=[(os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
        )
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 125, argv


def _denied_numbers(jail: Path, kind: str) -> set[int]:
    """The call numbers the program ``lamina-jail -D kind`` sends to EPERM: its ``JEQ k``
    records that jump to the shared DENY (``struct sock_filter``: code, jt, jf, k)."""
    program = subprocess.run([str(jail), "-D", kind], capture_output=True, check=True).stdout
    jeq = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
    return {k for code, jt, jf, k in struct.iter_unpack("=HBBI", program) if code == jeq and jt > 1}


def test_the_zygote_filter_is_the_full_one_plus_setns(tmp_path: Path) -> None:
    """A zygote runs INIT code: it may join namespaces made for its forks (setns) but make
    none and mount nothing."""
    if platform.machine() != "x86_64":
        pytest.skip("x86_64 call numbers")
    jail = ensure_jail_binary(tmp_path / "bin")
    full, zygote = _denied_numbers(jail, "full"), _denied_numbers(jail, "zygote")
    setns = 308
    assert full - zygote == {setns} and zygote < full
    mount, umount2, pivot_root, unshare = 165, 166, 155, 272
    open_tree, move_mount, fsopen, fsmount, mount_setattr = 428, 429, 430, 432, 442
    assert {mount, umount2, pivot_root, unshare, open_tree, move_mount, fsopen, fsmount,
            mount_setattr} <= zygote  # fmt: skip
