"""Network namespaces for execution environments, made ahead of time, one per environment.

Each environment gets a fresh network namespace. Before its runtime starts, the server has
already made two listening sockets on that namespace's own loopback: the Runtime API at
``127.0.0.1:9001`` (``AWS_LAMBDA_RUNTIME_API``, as on Lambda) and Lamina's API at
``127.0.0.1:<api port>`` (``AWS_ENDPOINT_URL``). Nothing outside the namespace can reach
either, and nothing inside can reach the host's loopback or another environment.

Network namespaces are per thread for ``setns(2)``: one worker thread enters a new
namespace (``unshare``), brings its loopback up, creates the sockets there and returns to
the server's namespace. A socket stays in the namespace it was made in, so the event loop
then serves it like any other, with no veth or proxy on the Runtime API path. The jail
joins the namespace through its descriptor (``lamina-jail -e FD``).

Namespaces are pooled (:class:`NetnsPool`): a cold start takes a ready one, and the worker
makes the next one in the background, so the cold start does not pay for it. Outbound
traffic, when allowed, goes through a veth pair per namespace and the host's NAT
(:mod:`lamina.sandbox.outbound`), set up in the same background step.
"""

from __future__ import annotations

import asyncio
import ctypes
import fcntl
import functools
import logging
import os
import socket
import struct
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from lamina.errors import SandboxError
from lamina.sandbox.outbound import Outbound

log = logging.getLogger("lamina.sandbox")

RUNTIME_API_PORT = 9001
LOOPBACK = "127.0.0.1"
CLONE_NEWNET = 0x40000000
_SIOCSIFFLAGS = 0x8914
_IFF_UP_LOOPBACK_RUNNING = 0x1 | 0x8 | 0x40
_BACKLOG = 64
# A pool refills this long after a take: the cold start that took it runs first.
REFILL_DELAY_S = 0.25

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise SandboxError(f"{what}: {os.strerror(err)}")


def loopback_up() -> None:
    """Bring ``lo`` up in the calling thread's network namespace."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH22x", b"lo", _IFF_UP_LOOPBACK_RUNNING)
        fcntl.ioctl(s.fileno(), _SIOCSIFFLAGS, ifreq)


def listener(port: int) -> socket.socket:
    """A non-blocking TCP listener on ``127.0.0.1:port`` in the calling thread's namespace."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(_BACKLOG)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclass(slots=True)
class EnvNetwork:
    """One environment's namespace: its descriptor and the listeners made inside it.

    ``close`` releases everything; the kernel frees the namespace (and its veth) once the
    last process in it has exited too.
    """

    fd: int
    runtime_sock: socket.socket | None
    api_sock: socket.socket | None
    veth: str | None = None
    _release: Callable[[], None] | None = None
    _servers: list[asyncio.AbstractServer] = field(default_factory=list)
    # Datagram endpoints served inside (the X-Ray daemon's), each with what to call after.
    _transports: list[tuple[asyncio.BaseTransport, Callable[[], None]]] = field(
        default_factory=list
    )

    def take_runtime_socket(self) -> socket.socket:
        """The Runtime API listener, handed to whoever serves it (and then closes it)."""
        sock, self.runtime_sock = self.runtime_sock, None
        if sock is None:
            raise SandboxError("the Runtime API listener was already taken")
        return sock

    def on_close(self, release: Callable[[], None]) -> None:
        self._release = release

    def adopt(self, server: asyncio.AbstractServer) -> None:
        """Close ``server`` (serving one of this namespace's sockets) with the namespace."""
        self._servers.append(server)

    def adopt_transport(self, transport: asyncio.BaseTransport, after: Callable[[], None]) -> None:
        """Close ``transport`` (on one of this namespace's sockets) with the namespace,
        then call ``after``."""
        self._transports.append((transport, after))

    def close(self) -> None:
        for server in self._servers:
            server.close()
        self._servers.clear()
        for transport, after in self._transports:
            transport.close()
            after()
        self._transports.clear()
        for sock in (self.runtime_sock, self.api_sock):
            if sock is not None:
                sock.close()
        self.runtime_sock = self.api_sock = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        release, self._release = self._release, None
        if release is not None:
            release()


class _NetnsWorker:
    """The one thread that enters and leaves namespaces; nothing else runs on it."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lamina-netns")
        self._home: int = -1
        self._broken = ""
        self._lock = threading.Lock()

    def make(self, api_port: int | None, outbound: Outbound | None) -> EnvNetwork:
        """Runs on the worker thread: a new namespace with its listeners (and its veth)."""
        if self._broken:
            raise SandboxError(self._broken)
        if self._home < 0:
            self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        index = outbound.allocate() if outbound is not None else None
        fd = -1
        runtime_sock = api_sock = None
        try:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
            try:
                fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
                loopback_up()
                runtime_sock = listener(RUNTIME_API_PORT)
                api_sock = listener(api_port) if api_port else None
                if outbound is not None and index is not None:
                    outbound.wire_inside(index, self._home)
            finally:
                self._go_home()
            veth = None
            release = None
            if outbound is not None and index is not None:
                veth = outbound.wire_outside(index)
                release = functools.partial(outbound.release, index)
            return EnvNetwork(fd, runtime_sock, api_sock, veth, release)
        except BaseException:
            for sock in (runtime_sock, api_sock):
                if sock is not None:
                    sock.close()
            if fd >= 0:
                os.close(fd)
            if outbound is not None and index is not None:
                outbound.release(index)
            raise

    def wire(self, net: EnvNetwork, outbound: Outbound) -> EnvNetwork:
        """Runs on the worker thread: a veth into a namespace someone else made (a forked
        environment's, passed by descriptor)."""
        if self._broken:
            raise SandboxError(self._broken)
        if self._home < 0:
            self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        index = outbound.allocate()
        try:
            _check(_libc.setns(net.fd, CLONE_NEWNET), "setns into an environment's namespace")
            try:
                outbound.wire_inside(index, self._home)
            finally:
                self._go_home()
            net.veth = outbound.wire_outside(index)
        except BaseException:
            outbound.release(index)
            raise
        net.on_close(functools.partial(outbound.release, index))
        return net

    def socket_in(self, netns_fd: int) -> socket.socket:
        """Runs on the worker thread: an unconnected, non-blocking TCP socket of the
        namespace ``netns_fd`` (the server connects to a listener inside with it)."""
        if self._broken:
            raise SandboxError(self._broken)
        if self._home < 0:
            self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _check(_libc.setns(netns_fd, CLONE_NEWNET), "setns into an environment's namespace")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            return sock
        finally:
            self._go_home()

    def udp_in(self, netns_fd: int, port: int) -> socket.socket:
        """Runs on the worker thread: a non-blocking UDP socket bound to
        ``127.0.0.1:port`` inside the namespace ``netns_fd`` (the X-Ray daemon's)."""
        if self._broken:
            raise SandboxError(self._broken)
        if self._home < 0:
            self._home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        _check(_libc.setns(netns_fd, CLONE_NEWNET), "setns into an environment's namespace")
        try:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                sock.bind((LOOPBACK, port))
                sock.setblocking(False)
            except BaseException:
                sock.close()
                raise
            return sock
        finally:
            self._go_home()

    def _go_home(self) -> None:
        if _libc.setns(self._home, CLONE_NEWNET) != 0:
            # The thread is stuck in an environment's namespace: never use it again.
            err = ctypes.get_errno()
            self._broken = f"the namespace worker cannot return home: {os.strerror(err)}"
            log.error("%s", self._broken)

    async def run(self, fn: Callable[[], EnvNetwork]) -> EnvNetwork:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def run_socket(self, fn: Callable[[], socket.socket]) -> socket.socket:
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    def shutdown(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
        if self._home >= 0:
            os.close(self._home)
            self._home = -1


ServeApi = Callable[[socket.socket], Awaitable[asyncio.AbstractServer]]


class NetnsPool:
    """Ready namespaces for cold starts, refilled in the background up to ``size``."""

    def __init__(self, size: int, outbound: Outbound | None = None) -> None:
        self._size = max(0, size)
        self.outbound = outbound
        self._worker = _NetnsWorker()
        self._ready: deque[EnvNetwork] = deque()
        self._filling = 0
        self._api_port: int | None = None
        self._serve_api: ServeApi | None = None
        self._closed = False
        self._refill_timer: asyncio.TimerHandle | None = None

    @property
    def api_port(self) -> int | None:
        return self._api_port

    def start(self, api_port: int | None, serve_api: ServeApi | None) -> None:
        """Begin filling; from now on every namespace also serves Lamina's API (``serve_api``
        on a listener at ``127.0.0.1:api_port`` inside it)."""
        self._api_port = api_port
        self._serve_api = serve_api
        for net in self._ready:
            net.close()
        self._ready.clear()
        self._refill()

    async def take(self) -> EnvNetwork:
        """A namespace for a new environment: a ready one, or one made now."""
        if self._closed:
            raise SandboxError("the network namespace pool is closed")
        net = self._ready.popleft() if self._ready else None
        self._refill_soon()
        if net is None:
            port, outbound = self._api_port, self.outbound
            net = await self._worker.run(lambda: self._worker.make(port, outbound))
        return await self.serve(net)

    async def adopt(self, net: EnvNetwork) -> EnvNetwork:
        """A namespace a forked environment made: its veth (if outbound is on), and
        Lamina's API served on its API listener."""
        outbound = self.outbound
        if outbound is not None:
            try:
                await self._worker.run(lambda: self._worker.wire(net, outbound))
            except BaseException:
                net.close()
                raise
        return await self.serve(net)

    async def socket_in(self, net: EnvNetwork) -> socket.socket:
        """A TCP socket inside ``net``, to reach a listener of the environment's (an
        extension's Telemetry API destination)."""
        if net.fd < 0:
            raise SandboxError("the environment's network namespace is closed")
        fd = net.fd
        return await self._worker.run_socket(lambda: self._worker.socket_in(fd))

    async def udp_in(self, net: EnvNetwork, port: int) -> socket.socket:
        """A UDP socket bound to ``127.0.0.1:port`` inside ``net`` (the X-Ray daemon's)."""
        if net.fd < 0:
            raise SandboxError("the environment's network namespace is closed")
        fd = net.fd
        return await self._worker.run_socket(lambda: self._worker.udp_in(fd, port))

    async def serve(self, net: EnvNetwork) -> EnvNetwork:
        """Serve Lamina's API on ``net``'s API listener (closed with ``net``)."""
        sock, net.api_sock = net.api_sock, None
        if sock is None or self._serve_api is None:
            if sock is not None:
                sock.close()
            return net
        try:
            net.adopt(await self._serve_api(sock))
        except BaseException:
            sock.close()
            net.close()
            raise
        return net

    def _refill_soon(self) -> None:
        """Refill once the cold start that took a namespace is under way, so making the
        next one (a worker thread, rtnetlink, the veth) does not compete with it for CPU."""
        if self._refill_timer is None and not self._closed:
            loop = asyncio.get_running_loop()
            self._refill_timer = loop.call_later(REFILL_DELAY_S, self._refill_now)

    def _refill_now(self) -> None:
        self._refill_timer = None
        self._refill()

    def _refill(self) -> None:
        if self._closed:
            return
        loop = asyncio.get_running_loop()
        port, outbound = self._api_port, self.outbound
        while len(self._ready) + self._filling < self._size:
            self._filling += 1
            fut = loop.run_in_executor(self._worker.executor, self._worker.make, port, outbound)
            fut.add_done_callback(functools.partial(self._filled, port=port))

    def _filled(self, fut: asyncio.Future[EnvNetwork], *, port: int | None) -> None:
        self._filling -= 1
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.error("could not pre-create a network namespace: %s", exc)
            return  # the next take makes one itself and reports the error to its invoke
        net = fut.result()
        if self._closed or port != self._api_port:
            net.close()
            return
        self._ready.append(net)

    def close(self) -> None:
        self._closed = True
        if self._refill_timer is not None:
            self._refill_timer.cancel()
            self._refill_timer = None
        self._worker.shutdown()
        while self._ready:
            self._ready.popleft().close()
        if self.outbound is not None:
            self.outbound.close()
