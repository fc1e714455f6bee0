"""Zygotes on the host side: one jailed, pre-initialised runtime that forks environments.

A :class:`Zygote` is a runtime (``python/zygote.py``) started in the ``process`` tier like
any environment — its own cgroup and namespaces, read-only code, the sandbox user — plus
a ``SOCK_SEQPACKET`` control socket at its fd 3. After INIT it says ``{"ready": true}``.
:meth:`Zygote.fork` then asks it for a new environment, passing over the socket:

* a **status pipe** (write end): the forked environment writes ``start <monotonic s>``
  when its runtime begins (after the platform's part of the restore) and
  ``exit <status>`` when the runtime ends; EOF without ``exit`` means it was killed;
* the environment's **output pipe** (its stdout and stderr);
* one end of an **ns socket**, on which the child receives a pidfd of the environment's
  pid 1 and joins its namespaces (``setns``);
* a write descriptor of each ``tasks`` (v1) or ``cgroup.procs`` (v2) file of the
  environment's **own new cgroup**, then of the zygote's own, opened here by root: the
  zygote writes ``0`` (itself) into the environment's before it forks and into its own
  after, so the child is born in its groups (limited and accounted from its first
  instruction) and what the fork costs is charged there, not to the zygote
  (``docs/sandbox.md``, "Memory: each fork is charged to its own group").

The zygote runs the function's INIT code, so its seccomp filter lets it make no namespace
and mount nothing. The namespaces are made by the zygote's init (``lamina-jail``, trusted
C, outside that filter): just before each fork request, :meth:`Zygote.fork` sends it, on
a second socket (the jail's ``-z``), a line ``tmp_mb=N net=0|1 vol=0|1 api_port=P`` and
the other end of the ns socket, the **net socket** (the environment's network namespace
and the listeners made in it — Runtime API at ``127.0.0.1:9001``, Lamina's API — come
back over it, which the platform then serves, :attr:`ForkedProcess.network`), the
environment's **/tmp volume** (a detached mount, ``fsmount``,
:mod:`lamina.sandbox.ephemeral`, attached at ``/tmp`` inside: ephemeral storage on disk,
apart from memory, as for a started environment) and the cgroup files again (init
clones the environment's pid 1 from inside the group, then returns to the zygote's). See
``jail.c`` (``make_env``) for the process that results.

See ``docs/speed.md`` for the isolation that holds for forked environments and what differs.
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import dataclasses
import fcntl
import functools
import json
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

from lamina.errors import SandboxError
from lamina.sandbox.cgroup_driver import CgroupDriver, CgroupHandle
from lamina.sandbox.limits import Limits, SandboxSpec
from lamina.sandbox.netns import EnvNetwork
from lamina.sandbox.process_tier import JailedProcess, ProcessSandbox
from lamina.sandbox.readings import CgroupReadings

log = logging.getLogger("lamina.sandbox")

KILLED = 128 + 9
_SETTLE_S = 5.0


class ZygoteHost:
    """What the ``process`` tier offers to run zygotes: the capability the scheduler asks
    :func:`lamina.sandbox.zygote_host` for. Forked environments need their own cgroups and
    namespaces to be kept apart, so no other tier has one."""

    def __init__(self, sandbox: ProcessSandbox) -> None:
        self._sandbox = sandbox

    async def spawn_zygote(self, spec: SandboxSpec, stdout_fd: int) -> Zygote:
        """Start a zygote runtime (``spec.argv``) with a control socket at its fd 3, in a
        network namespace of its own; each environment it forks makes its own one."""
        pool = self._sandbox.network
        network = await pool.take() if pool is not None else None
        if network is not None:
            # The zygote has no Runtime API; its INIT reaches only Lamina's API.
            network.take_runtime_socket().close()
            spec = dataclasses.replace(spec, netns_fd=network.fd)
        try:
            zygote = await self._spawn_zygote(spec, stdout_fd)
        except BaseException:
            if network is not None:
                network.close()
            raise
        zygote.network = network
        return zygote

    async def _spawn_zygote(self, spec: SandboxSpec, stdout_fd: int) -> Zygote:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        maker, init_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # Numbers well above 4, so the jail's dup2 to 3 and 4 always makes fresh descriptors.
        passed = fcntl.fcntl(theirs.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
        maker_passed = fcntl.fcntl(init_end.fileno(), fcntl.F_DUPFD_CLOEXEC, 10)
        theirs.close()
        init_end.close()
        try:
            process = await self._sandbox.spawn(
                spec, stdout_fd, control_fd=passed, maker_fd=maker_passed
            )
        except BaseException:
            ours.close()
            maker.close()
            raise
        finally:
            os.close(passed)
            os.close(maker_passed)
        return Zygote(process, ours, maker)

    async def fork(
        self, zygote: Zygote, env_id: str, limits: Limits, env: dict[str, str], stdout_fd: int
    ) -> ForkedProcess:
        """A new environment from ``zygote``, in its own cgroup and namespaces, with its own
        /tmp volume on disk when the tier has volumes (else a tmpfs charged to memory)."""
        volumes = self._sandbox.volumes
        volume = None if volumes is None else await volumes.take(limits.ephemeral_mb)
        tmp_fd = -1 if volume is None else volume.fd
        try:
            process = await self._fork(zygote, env_id, limits, env, stdout_fd, tmp_fd)
        except BaseException:
            if volume is not None and volumes is not None:
                volumes.release(volume)
            raise
        if volume is not None and volumes is not None:
            # Kept until the release, as for a started environment (ProcessSandbox.spawn).
            process.on_killed = functools.partial(volumes.release, volume)
        return process

    async def _fork(
        self,
        zygote: Zygote,
        env_id: str,
        limits: Limits,
        env: dict[str, str],
        stdout_fd: int,
        tmp_fd: int,
    ) -> ForkedProcess:
        pool = self._sandbox.network
        plan = ForkPlan(
            tmp_mb=limits.ephemeral_mb,
            net=pool is not None,
            api_port=(pool.api_port or 0) if pool is not None else 0,
            seccomp=self._sandbox.seccomp_program(),
        )
        return await zygote.fork(
            self._sandbox.cgroups, env_id, limits, env, stdout_fd, plan, tmp_fd
        )


@dataclasses.dataclass(frozen=True, slots=True)
class ForkPlan:
    """What a forked environment gets besides its variables: /tmp's size (when it has no
    volume), its own network namespace or not, Lamina's API port inside it, and the seccomp
    program its runtime installs (raw ``struct sock_filter`` records)."""

    tmp_mb: int
    net: bool
    api_port: int
    seccomp: bytes

    def maker_request(self, volume: bool) -> bytes:
        """The line the zygote's init reads (``make_env`` in ``jail.c``)."""
        return (
            f"tmp_mb={self.tmp_mb} net={int(self.net)} vol={int(volume)} api_port={self.api_port}"
        ).encode()


async def send_request(sock: socket.socket, data: bytes, fds: array.array[int]) -> None:
    """One message with descriptors on a non-blocking socket, waiting while it is full:
    a burst of fork requests (hundreds of cold starts at once) outruns the zygote, and a
    full socket means "later", not a dead zygote."""
    loop = asyncio.get_running_loop()
    while True:
        try:
            sock.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)])
            return
        except BlockingIOError:
            writable: asyncio.Future[None] = loop.create_future()
            loop.add_writer(sock.fileno(), _settle, writable)
            try:
                await writable
            finally:
                loop.remove_writer(sock.fileno())


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def fork_request(groups: int, message: dict[str, object]) -> bytes:
    """A fork request as the zygote reads it: the number of cgroup hierarchies first, on a
    line of its own (the zygote joins the environment's groups before it parses the rest),
    then the JSON. Its descriptors: ``[status, output, ns, *environment's groups,
    *zygote's groups]``."""
    return b"%d\n" % groups + json.dumps(message).encode()


class Zygote:
    """A running zygote: its jailed process and the platform's end of its control socket."""

    def __init__(
        self, process: JailedProcess, control: socket.socket, maker: socket.socket
    ) -> None:
        self.process = process
        self._control = control
        # The zygote's init: it makes each forked environment's namespaces.
        self._maker = maker
        maker.setblocking(False)
        # One request at a time per socket while a socket is full (one writer callback).
        self._sending = asyncio.Lock()
        # The zygote's own groups, opened here by root: each fork request passes them, so
        # the zygote's serving thread can return there after forking from an environment's.
        self._home = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in process.join_files()]
        control.setblocking(False)
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[dict[str, Any]] = loop.create_future()
        loop.add_reader(control.fileno(), self._on_message)
        self.base_memory_bytes = 0  # the snapshot's memory, measured once INIT is done
        self.closed = False
        # The zygote's own namespace (its INIT reaches Lamina's API there), or None.
        self.network: EnvNetwork | None = None

    def _on_message(self) -> None:
        try:
            data = self._control.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._stop_reading()
            if not self.ready.done():
                self.ready.set_exception(SandboxError("the zygote exited during INIT"))
            return
        if self.ready.done():
            return  # the zygote says nothing after INIT; ignore chatter
        try:
            message = json.loads(data)
        except ValueError:
            message = {"error": {"errorType": "Runtime.Unknown", "errorMessage": "bad message"}}
        if message.get("ready"):
            try:
                self.base_memory_bytes = self.process.memory_bytes()
            except Exception:
                # Forked environments then report only their own pages as memory used.
                log.exception("could not read the memory of zygote %d after INIT", self.process.pid)
        self.ready.set_result(message)

    def _stop_reading(self) -> None:
        fd = self._control.fileno()
        if fd < 0:
            return  # the socket is closed already
        try:
            asyncio.get_running_loop().remove_reader(fd)
        except RuntimeError as exc:  # no running loop (shut down)
            log.warning("zygote %d: could not stop reading its socket: %s", self.process.pid, exc)

    async def fork(
        self,
        driver: CgroupDriver,
        env_id: str,
        limits: Limits,
        env: dict[str, str],
        stdout_fd: int,
        plan: ForkPlan,
        tmp_fd: int = -1,
    ) -> ForkedProcess:
        """Ask for a new environment in a fresh cgroup; returns once both requests are
        sent (at once unless the zygote or its init is behind: then their sockets are
        full, and this waits until they take more).
        ``tmp_fd``: the volume attached at its /tmp (else a tmpfs of ``plan.tmp_mb``)."""
        if self.closed:
            raise SandboxError("the zygote is closed")
        cgroup = driver.create(env_id, limits)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        procs: list[int] = []
        net: tuple[socket.socket, socket.socket] | None = None
        ns = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            procs = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in cgroup.join_files()]
            made: list[int] = [ns[0].fileno()]
            if plan.net:
                net = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                made.append(net[1].fileno())
            if tmp_fd >= 0:
                made.append(tmp_fd)
            # The namespaces first: init makes them while the zygote forks.
            request = plan.maker_request(tmp_fd >= 0)
            rights = array.array("i", [*made, *procs])
            message = {"env": env, "net": plan.net, "seccomp": plan.seccomp.hex()}
            fds = array.array("i", [status_w, stdout_fd, ns[1].fileno(), *procs, *self._home])
            async with self._sending:
                await send_request(self._maker, request, rights)
                await send_request(self._control, fork_request(len(procs), message), fds)
        except BaseException as exc:
            os.close(status_r)
            if net is not None:
                net[0].close()
            cgroup.destroy_now()
            raise SandboxError(f"cannot fork an environment from the zygote: {exc}") from exc
        finally:
            os.close(status_w)
            for end in ns:
                end.close()
            if net is not None:
                net[1].close()
            for fd in procs:
                os.close(fd)
        return ForkedProcess(
            cgroup, status_r, self.base_memory_bytes, net[0] if net is not None else None
        )

    async def close(self) -> None:
        """Kill the zygote (and with it any environment it forked that is still alive)."""
        if self.closed:
            return
        self.closed = True
        self._stop_reading()
        self._control.close()
        self._maker.close()
        for fd in self._home:
            os.close(fd)
        self._home = []
        await self.process.kill()
        if self.network is not None:
            self.network.close()
            self.network = None


class ForkedProcess(CgroupReadings):
    """An environment forked from a zygote (an :class:`EnvironmentProcess`)."""

    pid = 0  # the environment's processes live in namespaces nested in the zygote's

    def __init__(
        self,
        cgroup: CgroupHandle,
        status_fd: int,
        base_memory_bytes: int,
        net_sock: socket.socket | None = None,
    ) -> None:
        super().__init__(cgroup)
        self._status_fd = status_fd
        self._buf = b""
        # The snapshot's pages are shared with the zygote and charged to it; an environment
        # uses them all the same, so they count, as they do in Lambda's figure.
        self._base_memory_bytes = base_memory_bytes
        loop = asyncio.get_running_loop()
        self.started: asyncio.Future[float] = loop.create_future()
        self._exited: asyncio.Future[int] = loop.create_future()
        self.failure = ""  # why the platform's part of a restore failed, if it did
        # Releases what outlives the processes (the /tmp volume), once they are gone.
        self.on_killed: Callable[[], None] | None = None
        os.set_blocking(status_fd, False)
        loop.add_reader(status_fd, self._on_status)
        # The environment's own namespace and listeners, once the child has made them.
        self.network: asyncio.Future[EnvNetwork] | None = None
        self._net_sock = net_sock
        if net_sock is not None:
            self.network = loop.create_future()
            net_sock.setblocking(False)
            loop.add_reader(net_sock.fileno(), self._on_network)

    def _on_network(self) -> None:
        assert self._net_sock is not None and self.network is not None
        try:
            _msg, fds, _flags, _addr = socket.recv_fds(self._net_sock, 16, 4)
        except BlockingIOError:
            return
        except OSError:
            fds = []
        self._close_net_sock()
        if self.network.done():
            for fd in fds:
                os.close(fd)
            return
        if len(fds) < 2:
            for fd in fds:
                os.close(fd)
            self.network.set_exception(
                SandboxError("the forked environment did not make its network namespace")
            )
            return
        listeners = [socket.socket(fileno=fd) for fd in fds[1:]]
        for sock in listeners:
            sock.setblocking(False)
        api = listeners[1] if len(listeners) > 1 else None
        self.network.set_result(EnvNetwork(fds[0], listeners[0], api))

    def _close_net_sock(self) -> None:
        if self._net_sock is not None:
            asyncio.get_running_loop().remove_reader(self._net_sock.fileno())
            self._net_sock.close()
            self._net_sock = None

    def _on_status(self) -> None:
        try:
            data = os.read(self._status_fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._buf += data
            *lines, self._buf = self._buf.split(b"\n")
            for line in lines:
                self._status_line(line.decode("utf-8", "replace"))
            return
        asyncio.get_running_loop().remove_reader(self._status_fd)
        os.close(self._status_fd)
        self._status_fd = -1
        if not self._exited.done():
            self._exited.set_result(KILLED)
        if not self.started.done():
            self.started.cancel()

    def _status_line(self, line: str) -> None:
        word, _, rest = line.partition(" ")
        if word == "start" and not self.started.done():
            self.started.set_result(float(rest))
        elif word == "exit" and not self._exited.done():
            code, _, reason = rest.partition(" ")
            self.failure = reason
            self._exited.set_result(int(code))

    async def freeze(self) -> None:
        await self._cgroup.set_frozen(True)

    def terminate(self) -> bool:
        """The runtime's pid lives in the zygote's namespaces, unknown here: a forked
        environment is killed without SIGTERM first."""
        return False

    async def wait(self) -> int:
        return await asyncio.shield(self._exited)

    async def kill(self) -> None:
        self._keep_readings()
        self._close_net_sock()
        if self.network is not None and not self.network.done():
            self.network.cancel()
        # Until the child has joined its cgroup a group kill would miss it: wait for its
        # start (or its end) first. Both come within milliseconds of the fork request.
        if not self.started.done() and not self._exited.done():
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(asyncio.shield(self.started), _SETTLE_S)
        await self._cgroup.destroy()
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(self._exited), _SETTLE_S)
        done, self.on_killed = self.on_killed, None
        if done is not None:
            done()
