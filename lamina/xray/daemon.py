"""The X-Ray daemon endpoint functions with active tracing send their segments to (UDP).

Where a function reaches it (``AWS_XRAY_DAEMON_ADDRESS``):

- an environment in its own network namespace: ``127.0.0.1:2000`` on its own loopback, a
  socket made inside that namespace (:meth:`XrayDaemon.serve`) like its Runtime API's
  listener, so what arrives there comes from that environment alone;
- an environment on the host's network: one shared socket on ``127.0.0.1:<port>``
  (:meth:`XrayDaemon.start`), where what arrives is told apart by its trace id only.

Every invocation of such a function is handed a sampled trace header, and
:meth:`XrayDaemon.expect` records which environment got which trace until its deadline
(plus a grace period). A document is kept only for a trace that was handed to *the
environment whose socket it came in on* (on the shared socket: to any environment there);
documents naming any other trace are dropped and counted as ``foreign trace``: a function
cannot write into another's traces, nor make traces up.

Function code is hostile, so each datagram is rate-limited *before* it is parsed (a token
bucket per socket, in datagrams and bytes, and one for all sockets together), at most
64 KB, checked
(:mod:`lamina.xray.documents`), then charged to its function's own bucket too, and stored
within :class:`~lamina.xray.traces.TraceStore`'s bounds. The kernel's receive buffer bounds
what waits unread; asyncio reads one datagram per socket per loop turn, so a flood costs
the loop a bounded slice and never stalls it. Drops are counted by reason
(:attr:`XrayDaemon.dropped`) and logged, at most once every 10 seconds.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Any

from lamina.tracing import header_ids, incoming_root
from lamina.xray.documents import MAX_CONTAINERS, Document, containers, parse
from lamina.xray.segments import otlp_spans
from lamina.xray.traces import TraceStore

log = logging.getLogger("lamina.xray")

DAEMON_PORT = 2000  # inside a namespace, as the SDKs' default and Lambda's port
HOST_OWNER = 0  # the shared socket on the host's loopback
GRACE_S = 10.0  # a trace stays open this long after its invocation's deadline
MAX_EXPECTED = 20_000
MAX_OWNERS = 64  # environments one trace passes through that may add to it
# Per socket (before parsing) and per function (after): datagrams and bytes per second.
# (Half the all-sockets budget below: a flooding environment leaves the others the rest.)
SOCKET_RATE, SOCKET_BYTES, SOCKET_OBJECTS = 1000.0, 8 * 1024 * 1024, 50_000.0
FUNCTION_RATE, FUNCTION_BYTES = 500.0, 4 * 1024 * 1024
SHARED_RATE, SHARED_BYTES = 2000.0, 16 * 1024 * 1024  # the host socket serves many
# All sockets together, before parsing: what bounds the loop's time on X-Ray however many
# environments flood, in datagrams, bytes and JSON objects and arrays (what parsing costs
# most); python -m bench.xray_daemon measures the share of a core each kind can take.
TOTAL_RATE, TOTAL_BYTES, TOTAL_CONTAINERS = 2000.0, 16 * 1024 * 1024, 100_000.0
RECEIVE_BUFFER = 256 * 1024
REPORT_EVERY_S = 10.0

HEADER = b'{"format":"json","version":1}\n'  # the daemon protocol's first line

SpanSink = Callable[[str, list[dict[str, Any]]], None]


class Bucket:
    """A token bucket in datagrams, bytes and JSON objects and arrays (a burst of one
    second's worth of each)."""

    __slots__ = (
        "_at",
        "_bytes",
        "_clock",
        "_count",
        "_objects",
        "byte_rate",
        "object_rate",
        "rate",
    )

    def __init__(
        self,
        rate: float,
        byte_rate: float,
        clock: Callable[[], float],
        object_rate: float = 1e18,
    ) -> None:
        self.rate, self.byte_rate, self.object_rate = rate, byte_rate, object_rate
        self._count, self._bytes, self._objects = rate, byte_rate, object_rate
        self._clock = clock
        self._at = clock()

    def take(self, size: int, objects: int = 0) -> bool:
        now = self._clock()
        elapsed, self._at = now - self._at, now
        self._count = min(self.rate, self._count + elapsed * self.rate)
        self._bytes = min(self.byte_rate, self._bytes + elapsed * self.byte_rate)
        self._objects = min(self.object_rate, self._objects + elapsed * self.object_rate)
        if self._count < 1 or self._bytes < size or self._objects < objects:
            return False
        self._count -= 1
        self._bytes -= size
        self._objects -= objects
        return True


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, daemon: XrayDaemon, owner: int) -> None:
        self.daemon = daemon
        self.owner = owner

    def datagram_received(self, data: bytes, addr: Any) -> None:
        try:
            self.daemon.received(data, self.owner)
        except Exception:  # never let a datagram reach the loop's exception handler
            log.exception("X-Ray: a datagram could not be handled")

    def error_received(self, exc: Exception) -> None:
        log.debug("X-Ray socket error: %s", exc)


class XrayDaemon:
    """Receives segment documents, keeps those of traces it handed out."""

    def __init__(
        self,
        store: TraceStore,
        on_spans: SpanSink | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.on_spans = on_spans
        self._clock = clock
        # Trace id → the sockets documents for it may arrive on → (the function whose
        # environment sends there, until when, monotonic). A trace can pass through
        # several environments (a function invoking another continues its trace).
        self._expected: OrderedDict[str, dict[int, tuple[str, float]]] = OrderedDict()
        self._sockets: dict[int, Bucket] = {}
        self._functions: dict[str, Bucket] = {}
        self._total = Bucket(TOTAL_RATE, TOTAL_BYTES, clock, TOTAL_CONTAINERS)
        self._next_owner = HOST_OWNER + 1
        self.host_address = ""  # "127.0.0.1:<port>" once started
        self._transports: list[asyncio.DatagramTransport] = []
        self.accepted = 0
        self.kept: Counter[str] = Counter()  # function → documents kept
        self.dropped: Counter[tuple[str, str]] = Counter()  # (function or "", reason)
        self._unreported: Counter[tuple[str, str]] = Counter()
        self._reported_at = clock()

    async def start(self, host: str = "127.0.0.1") -> str:
        """The shared socket on the host's loopback; returns its address."""
        sock = udp_socket(host, 0)
        await self._serve_socket(sock, HOST_OWNER, Bucket(SHARED_RATE, SHARED_BYTES, self._clock))
        self.host_address = f"{host}:{sock.getsockname()[1]}"
        return self.host_address

    async def serve(self, sock: socket.socket) -> tuple[int, asyncio.DatagramTransport]:
        """Serve one environment's own socket; returns its owner id and the transport
        (closed with the environment, then :meth:`forget` it)."""
        owner = self._next_owner
        self._next_owner += 1
        bucket = Bucket(SOCKET_RATE, SOCKET_BYTES, self._clock, SOCKET_OBJECTS)
        transport = await self._serve_socket(sock, owner, bucket)
        return owner, transport

    async def _serve_socket(
        self, sock: socket.socket, owner: int, bucket: Bucket
    ) -> asyncio.DatagramTransport:
        self._sockets[owner] = bucket
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self, owner), sock=sock
        )
        if owner == HOST_OWNER:
            self._transports.append(transport)
        return transport

    def forget(self, owner: int) -> None:
        self._sockets.pop(owner, None)

    def expect(
        self,
        function: str,
        owners: tuple[int, ...],
        timeout_s: float,
        header: str,
        incoming: str | None = None,
    ) -> None:
        """An invocation of ``function`` in an environment that sends on the sockets
        ``owners`` was handed ``header``: keep what it sends for that trace, if sampled
        (``incoming``: the caller's header it continues, whose Parent is its parent).

        An environment forked from a SnapStart snapshot has two: its own, and its
        zygote's (a socket the SDK made during INIT stays in the zygote's namespace)."""
        found = incoming_root(header)
        if found is None or found[1] != "1":
            return
        root = found[0]
        ours, theirs = header_ids(header), header_ids(incoming)
        until = self._clock() + timeout_s + GRACE_S
        entry = self._expected.setdefault(root, {})
        if len(entry) < MAX_OWNERS:
            for owner in owners:
                entry[owner] = (function, until)
        self._expected.move_to_end(root)
        while len(self._expected) > MAX_EXPECTED:
            self._expected.popitem(last=False)
        link = (ours[1], theirs[1]) if ours is not None and theirs is not None else None
        self.store.open(root, function, link)

    def received(self, data: bytes, owner: int) -> None:
        bucket = self._sockets.get(owner)
        objects = min(containers(data), MAX_CONTAINERS + 1)
        if (
            bucket is None
            or not bucket.take(len(data), objects)
            or not self._total.take(len(data), objects)
        ):
            self._drop("", "rate")
            return
        doc = parse(data)
        if isinstance(doc, str):
            self._drop("", doc)
            return
        expected = self._expected.get(doc.trace_id, {}).get(owner)
        self._keep(doc, expected)

    def put(self, document: str) -> str:
        """One document of a ``PutTraceSegments`` call (an authenticated caller: a
        function's role, an exporter): kept like a datagram on the shared socket, for a
        trace handed to any environment; returns why not ("" when kept)."""
        data = HEADER + document.encode()
        if not self._total.take(len(data), min(containers(data), MAX_CONTAINERS + 1)):
            reason = "rate"
        else:
            doc = parse(data)
            if not isinstance(doc, str):
                entries = self._expected.get(doc.trace_id, {})
                return self._keep(doc, max(entries.values(), key=lambda e: e[1], default=None))
            reason = doc
        self._drop("", reason)
        return reason

    def _keep(self, doc: Document, expected: tuple[str, float] | None) -> str:
        """Keep ``doc`` for the environment ``expected`` names; why not ("" when kept)."""
        if expected is None or expected[1] < self._clock():
            self._drop("", "foreign trace")
            return "foreign trace"
        function = expected[0]
        fbucket = self._functions.get(function)
        if fbucket is None:
            fbucket = self._functions[function] = Bucket(FUNCTION_RATE, FUNCTION_BYTES, self._clock)
        if not fbucket.take(doc.size):
            self._drop(function, "rate")
            return "rate"
        if not self.store.add(doc, function):
            self._drop(function, "trace full")
            return "trace full"
        self.accepted += 1
        self.kept[function] += 1
        if self.on_spans is not None:
            spans = otlp_spans(doc)
            if spans:
                self.on_spans(function, spans)
        return ""

    def _drop(self, function: str, reason: str) -> None:
        self.dropped[(function, reason)] += 1
        self._unreported[(function, reason)] += 1
        now = self._clock()
        if now - self._reported_at >= REPORT_EVERY_S:
            self.report()

    def counts(self) -> dict[tuple[str, str], int]:
        """(function or "", "kept" or why dropped) → documents, since the server started."""
        out = {(function, "kept"): n for function, n in self.kept.items()}
        out.update(self.dropped)
        return out

    def report(self) -> None:
        """Log what was dropped since the last report (if anything)."""
        self._reported_at = self._clock()
        if not self._unreported:
            return
        said = ", ".join(
            f"{count} {reason}" + (f" ({function})" if function else "")
            for (function, reason), count in sorted(self._unreported.items())
        )
        self._unreported.clear()
        log.warning("X-Ray: segment documents dropped: %s", said)

    def close(self) -> None:
        self.report()
        for transport in self._transports:
            transport.close()
        self._transports.clear()


def udp_socket(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket on ``host:port`` (in the calling thread's namespace)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((host, port))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
