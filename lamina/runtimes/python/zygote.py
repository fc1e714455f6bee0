"""Lamina's Python zygote: INIT once, then fork a new execution environment per request.

Started by the platform instead of ``bootstrap.py`` for functions with SnapStart, as
``python3.X zygote.py``, inside the same jail an environment gets (its own cgroup, mount,
pid, ipc and uts namespaces, read-only code, the sandbox user). File descriptor 3 is a
``SOCK_SEQPACKET`` socket to the platform. The zygote

1. runs INIT: imports the handler's module (the function's top-level code runs here, once),
   then the ``snapshot_restore_py`` before-snapshot hooks in reverse order of registration;
2. says ``{"ready": true}`` (or ``{"error": {...}}`` and exits 1) on fd 3;
3. serves fork requests: a JSON message plus descriptors ``[status, output, ns,
   *cgroup.procs]`` (``ns`` when the request says ``"ns": true``, always in the
   ``process`` tier).

The zygote makes no namespace and mounts nothing: its seccomp filter forbids both (INIT
code is the function's, hence hostile). For each request the platform has asked the
zygote's init (``lamina-jail``, trusted) to make the environment's namespaces: a user
namespace owned by and mapping only the sandbox user, with mount (``/tmp`` volume,
``/dev/shm``, ``/proc`` already mounted), pid, ipc, uts, cgroup and network namespaces,
whose pid 1 is a small reaper of init's. A pidfd of that pid 1 and descriptors of its
namespaces arrive on the ``ns`` socket.

Each request makes two processes here (see ``docs/speed.md``):

* **C1** (child of the zygote) joins the new environment's cgroups first, by writing 0 to
  each ``cgroup.procs`` descriptor (opened by the platform), so everything after is
  accounted to the environment; points stdout/stderr at the environment's log pipe; joins
  every namespace of the environment (``setns``, the user namespace first: the caller
  may, as its owner), forks C3, waits for it, kills the environment's pid 1
  (and with it whatever C3 left behind) and writes ``exit <status>`` on the status pipe.
* **C3** (pid 2 of the new pid namespace) copies what INIT left in the zygote's ``/tmp``
  into its own, drops every capability, installs the seccomp filter the platform sent
  (the jail's own full program, as raw ``struct sock_filter`` records in hex), takes the
  per-environment variables (its own ``AWS_LAMBDA_RUNTIME_API``), reseeds random state,
  runs the after-restore hooks in order of registration, connects to its own Runtime API
  and serves events like ``bootstrap.py``.

Standard library only (it runs under whichever CPython 3.11+ the function asked for).
"""

from __future__ import annotations

import array
import ctypes
import json
import os
import shutil
import signal
import socket
import sys
import time
from typing import Any, NoReturn

import bootstrap  # type: ignore[import-not-found]  # the sibling runtime file

CONTROL_FD = 3
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_CAP_VERSION_3 = 0x20080522
_MAX_FDS = 16
FAILED = 125  # same convention as lamina-jail: the platform's own step failed

bootstrap.RUNTIME_FILES.add(os.path.abspath(__file__))
_libc = ctypes.CDLL(None, use_errno=True)


class _CapHeader(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _CapData(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


# --------------------------------------------------------------------------- hooks


def _hooks(kind: str) -> list[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    module = sys.modules.get("snapshot_restore_py")
    getter = getattr(module, f"get_{kind}", None) if module is not None else None
    return list(getter()) if getter is not None else []


def run_before_snapshot() -> None:
    """Before-snapshot hooks run in the reverse order of their registration (as on Lambda)."""
    for func, args, kwargs in reversed(_hooks("before_snapshot")):
        func(*args, **kwargs)


def run_after_restore() -> None:
    """After-restore hooks run in the order of their registration (as on Lambda)."""
    for func, args, kwargs in _hooks("after_restore"):
        func(*args, **kwargs)


# --------------------------------------------------------------------------- the zygote


def _send(sock: socket.socket, message: dict[str, object]) -> None:
    sock.send(json.dumps(message).encode())


def _receive(sock: socket.socket) -> tuple[dict[str, Any], list[int]] | None:
    fds = array.array("i")
    data, ancdata, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(_MAX_FDS * fds.itemsize))
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    return json.loads(data), list(fds)


def init(sock: socket.socket) -> bootstrap.Handler:
    """INIT: import the handler and run the before-snapshot hooks, or report and exit."""
    handler, error = bootstrap.load_or_error(os.environ.get("_HANDLER", ""))
    if error is None:
        try:
            run_before_snapshot()
        except Exception as exc:
            error = bootstrap.exception_body(exc, "")
    if error is not None:
        bootstrap.log_error(error)
        _send(sock, {"error": error})
        sys.exit(1)
    return handler


def main() -> None:
    bootstrap._line_buffered_stdio()
    bootstrap.setup_path()
    sock = socket.socket(fileno=CONTROL_FD)
    os.set_inheritable(CONTROL_FD, False)
    handler = init(sock)
    sys.stdout.flush()
    sys.stderr.flush()
    _send(sock, {"ready": True})
    # Each fork (C1) lives as long as its environment: the kernel reaps it, so the zygote
    # neither waits for it nor leaves zombies in the environment's cgroup.
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)
    while True:
        received = _receive(sock)
        if received is None:
            return  # the platform closed the socket: this zygote is retired
        request, fds = received
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            _fail_request(fds, f"fork failed: {exc}")
            continue
        if pid == 0:
            sock.close()
            _environment(request, fds, handler)
        for fd in fds:
            os.close(fd)


def _fail_request(fds: list[int], reason: str) -> None:
    if fds:
        os.write(fds[0], f"exit {FAILED} {reason}\n".encode())
    for fd in fds:
        os.close(fd)


# --------------------------------------------------------------------------- a new environment


def _environment(request: dict[str, Any], fds: list[int], handler: bootstrap.Handler) -> NoReturn:
    """C1: join the cgroups and the environment's namespaces, fork and wait for the
    runtime, report its exit. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it (auto-reaping)
    status_fd = fds[0]
    at = 2
    ns_fd = -1
    if request.get("ns"):
        ns_fd, at = fds[at], at + 1
    pidfd = -1
    try:
        for fd in fds[at:]:
            os.write(fd, b"0")  # "0" is the writer itself; the descriptor carries root's rights
            os.close(fd)
        os.dup2(fds[1], 1)
        os.dup2(fds[1], 2)
        os.close(fds[1])
        old_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        if ns_fd >= 0:
            pidfd = _join(ns_fd)
        runtime = os.fork()
        if runtime == 0:
            if pidfd >= 0:
                os.close(pidfd)  # the runtime has no business with its init
            _runtime(request, status_fd, handler, old_tmp)
        os.close(old_tmp)
    except BaseException as exc:
        reason = f"could not create the environment: {exc}"
        sys.stderr.write(f"lamina-zygote: {reason}\n")
        sys.stderr.flush()
        os.write(status_fd, f"exit {FAILED} {reason}\n".encode())
        os._exit(FAILED)
    code = os.waitstatus_to_exitcode(os.waitpid(runtime, 0)[1])
    code = 128 - code if code < 0 else code
    if pidfd >= 0:
        # The environment's init: its death kills whatever the runtime left behind.
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    os.write(status_fd, f"exit {code}\n".encode())
    os._exit(code)


def _join(ns_fd: int) -> int:
    """Join the namespaces the zygote's init made for this environment (a user namespace
    mapping only the sandbox user, mount with /tmp, /dev/shm and /proc mounted, pid, ipc,
    uts, cgroup and network), the user namespace first: its owner, the sandbox user, may
    join it and then holds the capabilities the others ask for. Children forked after
    this live in the new pid namespace. Returns a pidfd of the environment's pid 1."""
    with socket.socket(fileno=ns_fd) as ns:
        message, fds, _flags, _addr = socket.recv_fds(ns, 4096, 8)
    if len(fds) < 2:
        for fd in fds:
            os.close(fd)
        reason = message.decode(errors="replace").removeprefix("error ") or "no reply"
        raise OSError(f"the zygote's init could not make the namespaces: {reason}")
    pidfd, *namespaces = fds
    for fd in namespaces:
        _check(_libc.setns(fd, 0), "setns")
        os.close(fd)
    return pidfd


def _drop_capabilities() -> None:
    header = _CapHeader(_CAP_VERSION_3, 0)
    data = (_CapData * 2)()
    _check(_libc.capset(ctypes.byref(header), data), "capset")


class _SockFprog(ctypes.Structure):
    _fields_ = (("len", ctypes.c_ushort), ("filter", ctypes.c_void_p))


def _install_filter(program: bytes) -> None:
    """The environment's seccomp filter, on top of the zygote's (filters only add up)."""
    buf = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(NO_NEW_PRIVS)")
    _check(
        _libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0),
        "prctl(PR_SET_SECCOMP)",
    )


def _reseed() -> None:
    """Fresh random state: the snapshot's generators would repeat in every environment."""
    random = sys.modules.get("random")
    if random is not None:
        random.seed()
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        numpy_random.seed()


def _copy_tmp(old_tmp: int) -> None:
    """What INIT left in the zygote's /tmp, copied into the environment's own (its /proc
    is the new pid namespace's, where this process lives)."""
    if os.listdir(old_tmp):
        shutil.copytree(f"/proc/self/fd/{old_tmp}", "/tmp", symlinks=True, dirs_exist_ok=True)
    os.close(old_tmp)


def _runtime(
    request: dict[str, Any], status_fd: int, handler: bootstrap.Handler, old_tmp: int
) -> NoReturn:
    """C3: the environment's runtime (pid 2), from restore to the invoke loop."""
    code = 0
    try:
        if request.get("ns"):
            _copy_tmp(old_tmp)
        os.write(status_fd, f"start {time.monotonic():.6f}\n".encode())
        os.close(status_fd)
        if request.get("ns"):
            _drop_capabilities()
        if request.get("seccomp"):
            _install_filter(bytes.fromhex(str(request["seccomp"])))
        env = os.environ
        for key in ("AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"):
            env.pop(key, None)
        env.update(request["env"])
        _reseed()
        client = bootstrap.runtime_api_client()
        try:
            run_after_restore()
        except Exception as exc:
            bootstrap.report_init_error(client, bootstrap.exception_body(exc, ""))
        bootstrap.serve(client, handler)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        sys.stderr.write(f"lamina-zygote: runtime failed: {exc!r}\n")
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    main()
