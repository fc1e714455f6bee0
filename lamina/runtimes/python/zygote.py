"""Lamina's Python zygote: INIT once, then fork a new execution environment per request.

Started by the platform instead of ``bootstrap.py`` for functions with SnapStart, as
``python3.X zygote.py``, inside the same jail an environment gets (its own cgroup, mount,
pid, ipc and uts namespaces, read-only code, the sandbox user). File descriptor 3 is a
``SOCK_SEQPACKET`` socket to the platform. The zygote

1. runs INIT: imports the handler's module (the function's top-level code runs here, once),
   then the ``snapshot_restore_py`` before-snapshot hooks in reverse order of registration;
2. says ``{"ready": true}`` (or ``{"error": {...}}`` and exits 1) on fd 3;
3. serves fork requests (:func:`_serve`): forks each environment from inside its
   cgroups, so that what the fork costs is charged there, not to the zygote's group.

The zygote makes no namespace and mounts nothing: its seccomp filter forbids both (INIT
code is the function's, hence hostile). For each request the platform has asked the
zygote's init (``lamina-jail``, trusted) to make the environment's namespaces: a user
namespace owned by and mapping only the sandbox user, with mount (``/tmp`` volume,
``/dev/shm``, ``/proc`` already mounted), pid, ipc, uts, cgroup and network namespaces,
whose pid 1 is a small reaper of init's. A pidfd of that pid 1 and descriptors of its
namespaces arrive on the ``ns`` socket.

Each request makes two processes here (see ``docs/speed.md``):

* **C1** (child of the zygote) is born in the new environment's cgroups, so everything
  it does is accounted to the environment; it waits until the zygote has left those
  groups, points stdout/stderr at the environment's log pipe; joins
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
import gc
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
_MAX_FDS = 32
_MAX_MESSAGE = 1 << 16
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


def _receive(sock: socket.socket, buf: bytearray, flags: int = 0) -> tuple[int, list[int]] | None:
    """One request into ``buf`` (no new buffer per request: see :func:`_serve`); its
    size and descriptors, or None once the platform has closed the socket."""
    fds = array.array("i")
    size, ancdata, _flags, _addr = sock.recvmsg_into(
        [buf], socket.CMSG_SPACE(_MAX_FDS * fds.itemsize), flags
    )
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            usable = len(payload) - len(payload) % fds.itemsize
            fds.frombytes(payload[:usable])
    if not size:
        for fd in fds:
            os.close(fd)
        return None
    return size, list(fds)


def init(sock: socket.socket) -> bootstrap.Handler:
    """INIT: import the handler and run the before-snapshot hooks, or report and exit."""
    handler, error = bootstrap.load_or_error(os.environ.get("_HANDLER", ""))
    if error is not None:
        bootstrap.warn_init_failed()
    else:
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
    # INIT's objects are never collected here: a collection writes into every object it
    # visits, and each page written after a fork is copied while the fork lives.
    gc.freeze()
    _serve(sock, handler)


def _serve(sock: socket.socket, handler: bootstrap.Handler) -> None:
    """Fork one C1 per request, each from inside its environment's cgroups.

    A task is born in its parent's groups, and the kernel charges what a fork allocates
    (the task, its kernel stack, the copied page tables), and each page copied on a write
    once parent and child share it, to the group the allocating task (for a page: the
    process's owner, this thread) is in at that moment; cgroup v1 never moves a charge
    afterwards. Every page written here after a fork is such a copy, and the fork keeps
    the old one, charged where it was, as long as it lives. So this thread joins the
    environment's groups (writes 0, itself, into their ``tasks``, v1, or
    ``cgroup.procs``, v2) as soon as a request has arrived, before it parses it, forks
    and cleans up there, and takes the next request from there too if one is queued
    (joining the next environment's groups directly). Only when none is queued does it
    return to the zygote's own groups to wait; the attempt just made, from the
    environment's groups, has already copied most pages the wait writes. What stays
    charged to the zygote per fork is what the wait writes besides (measured in
    docs/sandbox.md, ``python -m bench.zygote_charge``).

    A request is a line with the number ``N`` of cgroup hierarchies, then its JSON; its
    descriptors are ``[status, output, ns, *environment's N, *zygote's N]``, all opened
    by the platform (``lamina.sandbox.zygote.fork_request``).
    """
    buf = bytearray(_MAX_MESSAGE)
    home: list[int] = []  # the zygote's own groups (the last request's descriptors)
    gate = -1  # while in an environment's groups: the write end of its C1's gate
    while True:
        try:
            # In an environment's groups, only a request already queued is taken: the
            # attempt also writes, from there, the pages the wait at home will write.
            received = _receive(sock, buf, socket.MSG_DONTWAIT if gate >= 0 else 0)
        except BlockingIOError:
            gate = _go_home(home, gate)
            continue
        if received is None:
            return  # the platform closed the socket: this zygote is retired
        size, fds = received
        newline = buf.find(b"\n", 0, size)
        count = int(buf[:newline]) if newline > 0 and buf[:newline].isdigit() else 0
        joins, homes = fds[3 : 3 + count], fds[3 + count : 3 + 2 * count]
        for fd in fds[3 + 2 * count :]:
            os.close(fd)  # a malformed request's extra descriptors
        if homes:  # the same groups every time: the newest descriptors are kept
            for fd in home:
                os.close(fd)
            home = homes
        try:
            for fd in joins:
                os.write(fd, b"0")
            request = json.loads(buf[newline + 1 : size])
        except (OSError, ValueError) as exc:
            gate = _go_home(home, gate)
            _fail_request(fds[: 3 + count], f"bad request: {exc}")
            continue
        if gate >= 0:
            os.close(gate)  # the previous environment's C1: the zygote has left its groups
        sys.stdout.flush()
        sys.stderr.flush()
        gate = _fork(request, fds[:3], joins + homes, handler, sock)
        for fd in fds[: 3 + count]:
            os.close(fd)
        if gate < 0:
            _go_home(home, gate)


def _fork(
    request: dict[str, Any],
    fds: list[int],
    cgroup_fds: list[int],
    handler: bootstrap.Handler,
    sock: socket.socket,
) -> int:
    """Fork C1; returns the write end of its gate (-1 if the fork failed), for the caller
    to close once it has left the environment's groups. C1 waits for that: no status
    line, hence no kill of the environment's group, can come while the zygote is in it."""
    gate_r, gate_w = os.pipe2(os.O_CLOEXEC)
    try:
        gc.freeze()  # what the last request allocated, too
        pid = os.fork()
    except OSError as exc:
        os.close(gate_r)
        os.close(gate_w)
        os.write(fds[0], f"exit {FAILED} fork failed: {exc}\n".encode())
        return -1
    if pid == 0:
        sock.close()
        os.close(gate_w)
        for fd in cgroup_fds:
            os.close(fd)
        os.read(gate_r, 1)  # EOF once the zygote is home
        os.close(gate_r)
        _environment(request, fds, handler)
    os.close(gate_r)
    return gate_w


def _go_home(home: list[int], gate: int) -> int:
    """Back in the zygote's own groups, then open the gate of the fork whose groups the
    zygote was in; returns -1 (home). Staying in an environment's groups would let its
    kill take the zygote with it: exit instead (the platform starts another)."""
    try:
        for fd in home:
            os.write(fd, b"0")
    except OSError as exc:
        sys.stderr.write(f"lamina-zygote: cannot return to the zygote's cgroup: {exc}\n")
        sys.stderr.flush()
        os._exit(FAILED)
    if gate >= 0:
        os.close(gate)
    return -1


def _fail_request(fds: list[int], reason: str) -> None:
    if fds:
        os.write(fds[0], f"exit {FAILED} {reason}\n".encode())
    for fd in fds:
        os.close(fd)


# --------------------------------------------------------------------------- a new environment


def _environment(request: dict[str, Any], fds: list[int], handler: bootstrap.Handler) -> NoReturn:
    """C1, born in the environment's cgroups (:func:`_serve`), with descriptors ``[status,
    output, ns]``: join the environment's namespaces, fork and wait for the runtime, report
    its exit. Never returns."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the zygote ignores it (auto-reaping)
    status_fd, output_fd, ns_fd = fds
    try:
        os.dup2(output_fd, 1)
        os.dup2(output_fd, 2)
        os.close(output_fd)
        old_tmp = os.open("/tmp", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        pidfd = _join(ns_fd)
        runtime = os.fork()
        if runtime == 0:
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
        _copy_tmp(old_tmp)
        os.write(status_fd, f"start {time.monotonic():.6f}\n".encode())
        os.close(status_fd)
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
