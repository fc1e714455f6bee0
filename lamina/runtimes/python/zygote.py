"""Lamina's Python zygote: INIT once, then fork a new execution environment per request.

Started by the platform instead of ``bootstrap.py`` for functions with SnapStart, as
``python3.X zygote.py``, inside the same jail an environment gets (its own cgroup, mount,
pid, ipc and uts namespaces, read-only code, the sandbox user). File descriptor 3 is a
``SOCK_SEQPACKET`` socket to the platform. The zygote

1. runs INIT: imports the handler's module (the function's top-level code runs here, once),
   then the ``snapshot_restore_py`` before-snapshot hooks in reverse order of registration;
2. says ``{"ready": true}`` (or ``{"error": {...}}`` and exits 1) on fd 3;
3. serves fork requests: a JSON message plus descriptors ``[status, output, *cgroup.procs]``,
   with ``net`` after ``output`` when the request says ``"net": true`` and then ``tmp`` (a
   detached mount of the environment's /tmp volume) when it says ``"tmp_volume": true``.

Each request makes three processes (see ``docs/speed.md`` for why):

* **C1** (child of the zygote) joins the new environment's cgroups first, by writing 0 to
  each ``cgroup.procs`` descriptor (opened by the platform), so everything after is
  accounted to the environment; it points stdout/stderr at the environment's log pipe,
  unshares a user namespace (mapping only the sandbox uid/gid) together with new mount,
  pid, ipc, uts and cgroup namespaces (and, with ``"net"``, a network namespace: it brings
  its loopback up, listens on ``127.0.0.1:9001`` for the Runtime API and on the API port
  for Lamina's API, and sends the namespace and both listeners to the platform over the
  ``net`` socket, so the runtime can connect before the platform serves them), attaches
  its own ``/tmp`` (the disk volume the platform sent, with ``move_mount``; without one a
  tmpfs) and copies what INIT left there into it, mounts a private ``/dev/shm``, forks C2
  and exits.
* **C2** is pid 1 of the new pid namespace: it mounts that namespace's ``/proc``, forks C3,
  reaps orphans, and when C3 exits writes ``exit <status>`` on the status pipe and exits,
  which makes the kernel kill whatever is left in the namespace.
* **C3** drops every capability, installs the seccomp filter the platform sent (the jail's
  own full program, as raw ``struct sock_filter`` records in hex), takes the per-environment variables (its own
  ``AWS_LAMBDA_RUNTIME_API``), reseeds random state, runs the after-restore hooks in order
  of registration, connects to its own Runtime API and serves events like ``bootstrap.py``.

Standard library only (it runs under whichever CPython 3.11+ the function asked for).
"""

from __future__ import annotations

import array
import ctypes
import json
import os
import shutil
import socket
import sys
import time
from typing import Any, NoReturn

import bootstrap  # type: ignore[import-not-found]  # the sibling runtime file

CONTROL_FD = 3
_CLONE_NEWNS = 0x00020000
_CLONE_NEWCGROUP = 0x02000000
_CLONE_NEWUTS = 0x04000000
_CLONE_NEWIPC = 0x08000000
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWPID = 0x20000000
_CLONE_NEWNET = 0x40000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40
RUNTIME_API_PORT = 9001
_PR_SET_NO_NEW_PRIVS = 38
_PR_SET_SECCOMP = 22
_SECCOMP_MODE_FILTER = 2
_MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 2, 4, 8
_SYS_MOVE_MOUNT = 429  # the same number on every architecture (Linux 5.2)
_MOVE_MOUNT_F_EMPTY_PATH = 4
_AT_FDCWD = -100
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


def _mount(source: str, target: str, fstype: str, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(), target.encode(), fstype.encode(), flags, data and data.encode()
        ),
        f"mount {fstype} on {target}",
    )


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
        # C1 exits as soon as it has forked C2; reaping it here keeps no zombie around.
        os.waitpid(pid, 0)


def _fail_request(fds: list[int], reason: str) -> None:
    if fds:
        os.write(fds[0], f"exit {FAILED} {reason}\n".encode())
    for fd in fds:
        os.close(fd)


# --------------------------------------------------------------------------- a new environment


def _environment(request: dict[str, Any], fds: list[int], handler: bootstrap.Handler) -> NoReturn:
    """C1: join the cgroups, isolate, fork the pid namespace's init. Never returns."""
    status_fd = fds[0]
    at = 2
    net_fd = tmp_fd = -1
    if request.get("net"):
        net_fd, at = fds[at], at + 1
    if request.get("tmp_volume"):
        tmp_fd, at = fds[at], at + 1
    try:
        for fd in fds[at:]:
            os.write(fd, b"0")  # "0" is the writer itself; the descriptor carries root's rights
            os.close(fd)
        os.dup2(fds[1], 1)
        os.dup2(fds[1], 2)
        os.close(fds[1])
        if request.get("isolate"):
            _isolate(request, tmp_fd)
        if net_fd >= 0:
            _own_network(request, net_fd)
        if os.fork() != 0:
            os._exit(0)
        _pid1(request, status_fd, handler)
    except BaseException as exc:
        reason = f"could not create the environment: {exc}"
        sys.stderr.write(f"lamina-zygote: {reason}\n")
        sys.stderr.flush()
        os.write(status_fd, f"exit {FAILED} {reason}\n".encode())
        os._exit(FAILED)


def _isolate(request: dict[str, Any], tmp_fd: int) -> None:
    uid, gid = os.getuid(), os.getgid()
    flags = (
        _CLONE_NEWUSER
        | _CLONE_NEWNS
        | _CLONE_NEWPID
        | _CLONE_NEWIPC
        | _CLONE_NEWUTS
        | _CLONE_NEWCGROUP
        | (_CLONE_NEWNET if request.get("net") else 0)
    )
    _check(_libc.unshare(flags), "unshare")
    # Only the sandbox user exists in the new user namespace: nothing maps to root.
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
        with open(f"/proc/self/{name}", "w") as f:
            f.write(text)
    # /tmp of the snapshot (what INIT wrote there) is copied into the private one.
    old_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY)
    try:
        if tmp_fd >= 0:
            # The environment's disk volume: /tmp apart from memory, ENOSPC at its size.
            _check(
                _libc.syscall(
                    _SYS_MOVE_MOUNT, tmp_fd, b"", _AT_FDCWD, b"/tmp", _MOVE_MOUNT_F_EMPTY_PATH
                ),
                "move_mount /tmp",
            )
            os.close(tmp_fd)
        else:
            tmp_opts = f"size={int(request['tmp_mb'])}m,mode=1777,uid={uid},gid={gid}"
            _mount("tmpfs", "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV, tmp_opts)
        if os.listdir(old_tmp):
            shutil.copytree(f"/proc/self/fd/{old_tmp}", "/tmp", symlinks=True, dirs_exist_ok=True)
    finally:
        os.close(old_tmp)
    shm_opts = f"size={int(request['shm_mb'])}m,mode=1777"
    _mount("tmpfs", "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV, shm_opts)
    socket.sethostname(str(request.get("hostname", "lamina")))


def _own_network(request: dict[str, Any], net_fd: int) -> None:
    """In the new network namespace: loopback up, the two listeners, all sent home."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(
            s.fileno(), _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", _IFF_UP_LOOPBACK_RUNNING)
        )
    listeners = []
    for port in (RUNTIME_API_PORT, int(request.get("api_port") or 0)):
        if port:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(64)
            listeners.append(sock)
    netns = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    with socket.socket(fileno=net_fd) as home:
        socket.send_fds(home, [b"net"], [netns, *(s.fileno() for s in listeners)])
    os.close(netns)
    for sock in listeners:
        sock.close()  # the platform holds them now; the runtime only connects


def _pid1(request: dict[str, Any], status_fd: int, handler: bootstrap.Handler) -> NoReturn:
    """C2: init of the environment's pid namespace; reports the runtime's exit status."""
    if request.get("isolate"):
        _mount("proc", "/proc", "proc", _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, None)
    runtime = os.fork()
    if runtime == 0:
        _runtime(request, status_fd, handler)
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            code = FAILED
            break
        if pid == runtime:
            code = os.waitstatus_to_exitcode(status)
            code = 128 - code if code < 0 else code
            break
    os.write(status_fd, f"exit {code}\n".encode())
    os._exit(code)


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


def _runtime(request: dict[str, Any], status_fd: int, handler: bootstrap.Handler) -> NoReturn:
    """C3: the environment's runtime, from restore to the invoke loop."""
    code = 0
    try:
        os.write(status_fd, f"start {time.monotonic():.6f}\n".encode())
        os.close(status_fd)
        if request.get("isolate"):
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
