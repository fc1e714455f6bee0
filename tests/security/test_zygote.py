"""Hostile INIT code in a zygote (SnapStart): it runs in the zygote, at INIT time and from
a thread it leaves running there, and may make no namespace and mount nothing; the
environments forked from that zygote keep all their isolation."""

from __future__ import annotations

import errno
import time
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = pytest.mark.privileged

HOSTILE_PY = """
import ctypes, errno, json, os, threading, time

libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x20000, 0x10000000, 0x40000000, 17
X86 = {"clone": 56, "umount2": 166, "pivot_root": 155, "open_tree": 428, "move_mount": 429,
       "fsopen": 430, "fsmount": 432, "mount_setattr": 442}


def _result(r):
    return 0 if r >= 0 else ctypes.get_errno()


def _clone(flags):
    r = libc.syscall(X86["clone"], flags | SIGCHLD, 0, 0, 0, 0)
    if r == 0:
        os._exit(0)  # it got through: the child leaves at once
    if r > 0:
        os.waitpid(r, 0)
    return _result(r)


def attempts():
    out = {
        "unshare(CLONE_NEWUSER)": _result(libc.unshare(CLONE_NEWUSER)),
        "unshare(CLONE_NEWNS)": _result(libc.unshare(CLONE_NEWNS)),
        "unshare(CLONE_NEWNET)": _result(libc.unshare(CLONE_NEWNET)),
        "unshare(USER|NS)": _result(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS)),
        "clone(CLONE_NEWUSER)": _clone(CLONE_NEWUSER),
        "clone(CLONE_NEWUSER|CLONE_NEWNS)": _clone(CLONE_NEWUSER | CLONE_NEWNS),
        "mount": _result(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "move_mount": _result(libc.syscall(X86["move_mount"], -100, b"/tmp", -100, b"/mnt", 0)),
        "open_tree": _result(libc.syscall(X86["open_tree"], -100, b"/tmp", 1)),
        "fsopen": _result(libc.syscall(X86["fsopen"], b"tmpfs", 0)),
        "fsmount": _result(libc.syscall(X86["fsmount"], -1, 0, 0)),
        "mount_setattr": _result(libc.syscall(X86["mount_setattr"], -100, b"/tmp", 0, 0, 0)),
        "pivot_root": _result(libc.syscall(X86["pivot_root"], b"/tmp", b"/tmp")),
        "umount2": _result(libc.syscall(X86["umount2"], b"/tmp", 2)),
    }
    return out


def _env_inits():
    # Environments' pid 1s (made by the zygote's init) live in pid namespaces nested in
    # the zygote's, so the zygote sees them: it must not reach into them.
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if f.read().startswith(b"lamina-zygote-init"):
                    found[entry] = {}
        except OSError:
            continue
    for pid, tried in found.items():
        for what, path, mode in (("mem", "mem", os.O_RDWR), ("ns_user", "ns/user", os.O_RDONLY),
                                 ("ns_mnt", "ns/mnt", os.O_RDONLY)):
            try:
                os.close(os.open(f"/proc/{pid}/{path}", mode))
                tried[what] = 0
            except OSError as exc:
                tried[what] = exc.errno
    return found


def _thread():
    # Left running in the zygote after INIT; its findings reach the next forked
    # environment through the zygote's /tmp, which every fork copies.
    seen = {}
    while True:
        time.sleep(0.05)
        seen.update(_env_inits())
        report = {"attempts": attempts(), "env_inits": seen}
        with open("/tmp/.thread.json.new", "w") as f:
            json.dump(report, f)
        os.replace("/tmp/.thread.json.new", "/tmp/thread.json")


def _sockets():
    found = []
    for n in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{n}").startswith("socket:"):
                found.append(int(n))
        except OSError:
            pass
    return found


AT_INIT = attempts()
ZYGOTE_NET = os.readlink("/proc/self/ns/net")
ZYGOTE_SOCKETS = _sockets()
with open("/tmp/from-init.txt", "w") as f:
    f.write("made at INIT")
threading.Thread(target=_thread, daemon=True).start()


def handler(event, context):
    if event.get("exit"):
        os._exit(0)
    time.sleep(event.get("sleep", 0))
    dev = os.stat("/tmp").st_dev
    fstype = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            major, minor = map(int, fields[2].split(":"))
            if fields[4] == "/tmp" and os.makedev(major, minor) == dev:
                fstype = fields[fields.index("-") + 1]
    thread = None
    if os.path.exists("/tmp/thread.json"):
        with open("/tmp/thread.json") as f:
            thread = json.load(f)
    with open("/proc/1/cmdline", "rb") as f:
        init = f.read().decode(errors="replace")
    with open("/proc/1/status") as f:
        init_status = dict(line.split(":", 1) for line in f.read().splitlines() if ":" in line)
    fds = []
    for n in os.listdir("/proc/self/fd"):
        try:
            fds.append(os.readlink(f"/proc/self/fd/{n}"))
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return {
        "fds": fds,
        "at_init": AT_INIT,
        "thread": thread,
        "in_env": attempts(),
        "tmp_fstype": fstype,
        "from_init": open("/tmp/from-init.txt").read(),
        "pids": sorted(p for p in os.listdir("/proc") if p.isdigit()),
        "init": init,
        "init_seccomp": init_status["Seccomp"].strip(),
        "uid": os.getuid(),
        "runtime_api": os.environ.get("AWS_LAMBDA_RUNTIME_API"),
        "net": os.readlink("/proc/self/ns/net"),
        "zygote_net": ZYGOTE_NET,
        "zygote_sockets": ZYGOTE_SOCKETS,
    }
"""

SNAP: dict[str, Any] = {"SnapStart": {"ApplyOn": "PublishedVersions"}}
# What each call gets without the filter, had the zygote the capabilities it would hold
# in a user namespace of its own: only EPERM proves the filter (or the lack of any
# namespace to hold capabilities in) stopped it.
EPERM = errno.EPERM
NS_KINDS = {"user", "mnt", "pid", "ipc", "uts", "cgroup", "net", "time"}


def _denied(results: dict[str, int]) -> dict[str, int]:
    return {name: code for name, code in results.items() if code != EPERM}


def test_hostile_init_code_in_a_zygote_cannot_make_namespaces_or_mount(
    lamina: LaminaProcess,
) -> None:
    lamina.create("sec-zy-hostile", python_zip(HOSTILE_PY), MemorySize=256, Timeout=30, **SNAP)
    # The first invoke runs INIT in a new zygote and forks environment A; A lives for a
    # second while the zygote's thread looks for its pid 1.
    first = lamina.invoke("sec-zy-hostile", {"sleep": 1.0})
    assert first.function_error is None, first.payload
    a = first.json()
    assert _denied(a["at_init"]) == {}, a["at_init"]
    # The zygote holds its control socket (fd 3) and nothing of its init's: not the
    # socket on which the server asks init for namespaces.
    assert a["zygote_sockets"] == [3]
    # A crash retires A (the zygote stays); the next invoke forks B, whose /tmp is a copy
    # of the zygote's, with what the thread found by then.
    time.sleep(0.3)
    lamina.invoke("sec-zy-hostile", {"exit": True})
    b = lamina.invoke("sec-zy-hostile", {}).json()
    thread = b["thread"]
    assert thread is not None, "the zygote's thread left no report"
    assert _denied(thread["attempts"]) == {}, thread["attempts"]
    # It saw environment A's pid 1 (nested pid namespace) and could not reach into it:
    # not dumpable, its memory init's.
    assert thread["env_inits"], "the zygote's thread saw no environment's pid 1"
    for pid, tried in thread["env_inits"].items():
        assert set(tried.values()) <= {errno.EACCES, errno.EPERM, errno.ENOENT}, (pid, tried)
        assert any(code in (errno.EACCES, errno.EPERM) for code in tried.values()), (pid, tried)
    # What must still hold in the forked environments.
    for env in (a, b):
        assert _denied(env["in_env"]) == {}, env["in_env"]  # the full filter
        assert env["tmp_fstype"] == "ext4"  # its own disk volume ...
        assert env["from_init"] == "made at INIT"  # ... with what INIT left in /tmp
        assert env["pids"] == ["1", "2"]  # its own pid namespace: no other environment
        assert env["init"].startswith("lamina-zygote-init")
        assert env["init_seccomp"] == "2"  # its init runs under a filter too (the full one)
        assert env["uid"] == 993
        assert env["runtime_api"] == "127.0.0.1:9001"
        assert env["net"] != env["zygote_net"]  # its own network namespace
        # No handle on its init or on any namespace is left to the runtime.
        leaked = [fd for fd in env["fds"] if "pidfd" in fd or fd.split(":")[0] in NS_KINDS]
        assert leaked == [], env["fds"]
    assert a["net"] != b["net"]
