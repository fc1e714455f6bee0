"""The seccomp filter: the calls a container runtime's default profile denies fail with
EPERM inside an environment (started or forked); what runtimes need still works."""

from __future__ import annotations

import pytest

from tests.integration.harness import LaminaProcess, python_zip, zip_files

pytestmark = pytest.mark.privileged

SYSCALLS_PY = """
import ctypes, os, platform

libc = ctypes.CDLL(None, use_errno=True)
CLONE_NEWUSER, CLONE_NEWNET, SIGCHLD = 0x10000000, 0x40000000, 17
X86 = {
    "keyctl": 250, "add_key": 248, "bpf": 321, "perf_event_open": 298, "kexec_load": 246,
    "init_module": 175, "finit_module": 313, "delete_module": 176, "setns": 308,
    "pivot_root": 155, "umount2": 166, "open_by_handle_at": 304, "userfaultfd": 323,
    "io_uring_setup": 425, "swapon": 167, "reboot": 169, "syslog": 103,
}

def _errno(result):
    return "ok" if result >= 0 else os.strerror(ctypes.get_errno())

def _clone_newuser():
    r = libc.syscall(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)
    if r == 0:
        os._exit(0)  # it got through: the child leaves at once
    if r > 0:
        os.waitpid(r, 0)
    return _errno(r)

def handler(event, context):
    assert platform.machine() == "x86_64"
    out = {name: _errno(libc.syscall(nr, 0, 0, 0, 0, 0)) for name, nr in X86.items()}
    out["unshare(CLONE_NEWUSER)"] = _errno(libc.unshare(CLONE_NEWUSER))
    out["unshare(CLONE_NEWNET)"] = _errno(libc.unshare(CLONE_NEWNET))
    out["clone(CLONE_NEWUSER)"] = _clone_newuser()
    out["mount"] = _errno(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None))
    out["ptrace(ATTACH, 1)"] = _errno(libc.ptrace(16, 1, 0, 0))
    out["ptrace(TRACEME)"] = _errno(libc.ptrace(0, 0, 0, 0))
    out["clone3"] = _errno(libc.syscall(435, 0, 0))
    # What must keep working: processes, threads, files.
    pid = os.fork()
    if pid == 0:
        os._exit(7)
    out["fork"] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    with open("/tmp/x", "w") as f:
        f.write("ok")
    out["tmp"] = open("/tmp/x").read()
    return out
"""

EPERM = "Operation not permitted"


def _check(out: dict[str, object]) -> None:
    assert out.pop("clone3") == "Function not implemented"  # C libraries fall back to clone
    assert out.pop("fork") == 7
    assert out.pop("tmp") == "ok"
    assert {name: result for name, result in out.items() if result != EPERM} == {}


def test_denied_calls_fail_with_eperm(lamina: LaminaProcess) -> None:
    lamina.create("sec-sys", python_zip(SYSCALLS_PY))
    result = lamina.invoke("sec-sys", {})
    assert result.function_error is None, result.payload
    _check(result.json())


def test_forked_environments_are_filtered_too(lamina: LaminaProcess) -> None:
    lamina.create(
        "sec-sys-snap", python_zip(SYSCALLS_PY), SnapStart={"ApplyOn": "PublishedVersions"}
    )
    result = lamina.invoke("sec-sys-snap", {})
    assert result.function_error is None, result.payload
    _check(result.json())


SHELL = """#!/bin/bash
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers=$(mktemp)
  curl -sS -D "$headers" "$api/invocation/next" >/dev/null
  rid=$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | tr -d '\\r' | cut -d' ' -f2)
  out=$(unshare --user --map-root-user true 2>&1 | tr -d '"\\n')
  curl -sS -X POST "$api/invocation/$rid/response" -d "\\"$out\\"" >/dev/null
done
"""


def test_a_shell_bootstrap_cannot_make_a_user_namespace(lamina: LaminaProcess) -> None:
    code = zip_files({"bootstrap": SHELL}, executable=("bootstrap",))
    lamina.create("sec-sys-sh", code, runtime="provided.al2023", handler="x")
    out = lamina.invoke("sec-sys-sh", {})
    assert "Operation not permitted" in out.json(), out.payload
