"""The control plane's persistent connection to one node's worker.

Invokes are multiplexed on one TCP connection (``TCP_NODELAY``): each ``invoke`` frame
carries an id, and the connection's protocol resolves that id's future as soon as its
``answer`` or ``failed`` frame is read — in the read callback itself, with no reader task
in between — so a warm invoke on another node costs one write each way on an open socket:
no Ray call, no connection set-up, no extra turn of the event loop. When the connection
ends (the node died, its worker exited) every invoke in flight on it fails at once with
:class:`~lamina.errors.NodeLost`, and the router stops placing work there.

A streamed invoke (``InvokeRequest.stream``) gets ``start`` (the content type) and
``chunk`` frames before its answer; they go into the caller's
:class:`~lamina.runtime_api.stream.ResponseStream`, whose back-pressure travels back as
``pause`` / ``resume`` frames (the worker stops reading its function's stream, which
holds the function back there).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import logging
import socket
from collections.abc import Callable

from lamina.cluster.frames import (
    Frame,
    FrameDecoder,
    FrameError,
    NodeState,
    Welcome,
    encode,
    invoke_header,
    invoke_prefix,
    state_from_json,
    welcome_from,
)
from lamina.cluster.node_envs import NodeEnv, leaving_envs
from lamina.errors import ApiError, NodeLeaving, NodeLost, ServiceError, TooManyRequests
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvokeResult
from lamina.runtime_api.stream import ResponseStream
from lamina.scheduler.driver import InvokeRequest
from lamina.store.codec import config_to_json

log = logging.getLogger("lamina.cluster")

CONNECT_TIMEOUT_S = 10.0


def _load(state: NodeState) -> NodeState:
    """The node's load in ``state``, without its records and lines."""
    return NodeState(state.used_mb, state.idle, state.idle_mb)


class _Reader(asyncio.Protocol):
    """Frames off the socket, handed to the connection as they complete."""

    def __init__(self, conn: NodeConnection) -> None:
        self.conn = conn
        self.decoder = FrameDecoder()

    def data_received(self, data: bytes) -> None:
        try:
            frames = self.decoder.feed(data)
        except FrameError as exc:
            log.warning("connection to node %s ended: %s", self.conn.node_id, exc)
            transport = self.conn.transport
            if transport is not None:
                transport.abort()
            return
        for frame in frames:
            self.conn.receive(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        self.conn.ended(exc)


class NodeConnection:
    """One authenticated connection to a worker; call :meth:`open` first."""

    def __init__(
        self,
        host: str,
        port: int,
        token: str,
        on_state: Callable[[str, NodeState], None],
        on_lost: Callable[[NodeConnection], None],
    ) -> None:
        self.host, self.port = host, port
        self._token = token
        self._on_state = on_state
        self._on_lost = on_lost
        # Told when the worker says it is leaving (it takes no more invokes), with the
        # environments it had then (None from a worker that sends none).
        self.on_leaving: Callable[[NodeConnection, tuple[NodeEnv, ...] | None], None] | None = None
        self._ids = itertools.count(1)
        # Invokes waiting for their answer, by id; the streamed ones' streams too.
        self._waiting: dict[int, asyncio.Future[Frame]] = {}
        self._streams: dict[int, ResponseStream] = {}
        self._welcomed: asyncio.Future[Frame] | None = None
        self.transport: asyncio.Transport | None = None
        self.welcome: Welcome | None = None
        # The worker's node id once it said so (a plain attribute: every answer names it).
        self.node_id = f"{host}:{port}"
        # The node's load as last sent: an answer without one means "unchanged since",
        # which undoes what the placement counted when it dispatched the invoke. (Only
        # the load: the records and lines of a state frame are written once.)
        self.last_load = NodeState(0, {})
        self.codes: set[str] = set()
        # Configurations (cache keys) whose packages the node is known to have.
        self.code_ready: set[str] = set()
        self.pulls = False  # the node pulls its packages itself (told in its welcome)
        self.shipping: dict[str, asyncio.Future[None]] = {}  # packages being read and sent
        self.credentialed: set[str] = set()  # configurations whose credentials were sent
        self.configured: set[str] = set()  # configurations sent (later invokes send the key)
        self.closed = False
        self._prefixes: dict[tuple[str, str], bytes] = {}  # invoke header starts, encoded
        self._loop: asyncio.AbstractEventLoop | None = None

    async def open(self) -> Welcome:
        # Kept: asking for the running loop costs a getpid() system call on Python 3.11.
        loop = self._loop = asyncio.get_running_loop()
        self._welcomed = loop.create_future()
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                transport, _ = await loop.create_connection(
                    lambda: _Reader(self), self.host, self.port
                )
                self.transport = transport
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                transport.write(encode("hello", {"token": self._token}))
                first = await self._welcomed
            welcome = welcome_from(first)
        except BaseException:
            # No welcome (refused, silent, or not a worker): nothing is left open.
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
            raise
        self.welcome = welcome
        self.node_id = welcome.node_id
        self.last_load = _load(welcome.state)
        self.codes = set(welcome.state.codes)
        self.pulls = welcome.pulls
        return welcome

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self._fail_all()

    # -- sending ----------------------------------------------------------------------
    def send_code(self, sha: str, package: bytes) -> None:
        """Send a code package the worker lacks; it is stored before the next frame."""
        self._write(encode("code", {"sha256": sha}, package))
        self.codes.add(sha)

    def drain(self, function: str) -> None:
        """Ask the worker to retire ``function``'s idle environments (it changed)."""
        self._write(encode("drain", {"function": function}))

    def leave(self, grace_s: float) -> None:
        """Tell the worker its node is going (Ray drains it): it leaves as on SIGTERM,
        its invokes in flight finishing within ``grace_s``."""
        self._write(encode("leave", {"grace_s": grace_s}))

    def warm(self, cfg: FunctionConfig, credentials: tuple[str, str, str] | None) -> None:
        """Ask the worker to start one environment of ``cfg`` and keep it idle (it takes
        over from a leaving node's warm one); its next ``state`` shows it."""
        header: dict[str, object] = {"key": cfg.cache_key}
        if cfg.cache_key not in self.configured:
            header["cfg"] = config_to_json(cfg)
            self.configured.add(cfg.cache_key)
        if credentials is not None:
            header["credentials"] = list(credentials)
        self._write(encode("warm", header))

    async def invoke(
        self,
        req: InvokeRequest,
        credentials: tuple[str, str, str] | None = None,
        make_room_mb: int = 0,
    ) -> InvokeResult:
        if self._loop is None:
            raise NodeLost(f"Node {self.node_id} is not connected.")
        ident = next(self._ids)
        fut: asyncio.Future[Frame] = self._loop.create_future()
        self._waiting[ident] = fut
        stream = req.stream
        if stream is not None:
            self._streams[ident] = stream
        key = req.cfg.cache_key
        first = key not in self.configured
        prefix = self._prefixes.get((key, req.function_arn))
        if prefix is None:
            prefix = self._prefixes[key, req.function_arn] = invoke_prefix(req)
        header = invoke_header(ident, req, credentials, make_room_mb, first, prefix)
        try:
            self._write(header + req.payload)
            if first:
                self.configured.add(key)
            frame = await fut
        finally:
            self._waiting.pop(ident, None)  # (gone already if the connection ended)
            if stream is not None:
                self._streams.pop(ident, None)
                if not fut.done():
                    # The caller went away mid-stream: let the function run on unheld.
                    self._send_flow("resume", ident)
        return self._result(req, frame)

    async def ask(self, op: str) -> Frame:
        """Ask the worker a question off the invoke path (``envs``); its reply carries the
        question's id. Raises :class:`NodeLost` if the connection ends first."""
        if self._loop is None:
            raise NodeLost(f"Node {self.node_id} is not connected.")
        ident = next(self._ids)
        fut: asyncio.Future[Frame] = self._loop.create_future()
        self._waiting[ident] = fut
        try:
            self._write(encode(op, {"id": ident}))
            return await fut
        finally:
            self._waiting.pop(ident, None)

    def _write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            raise NodeLost(f"Node {self.node_id} is not connected.")
        self.transport.write(data)

    def _send_flow(self, op: str, ident: int) -> None:
        if not self.closed and self.transport is not None:
            self.transport.write(encode(op, {"id": ident}))

    def _result(self, req: InvokeRequest, frame: Frame) -> InvokeResult:
        h = frame.header
        if frame.op == "failed":
            status, message = int(h.get("status", 500)), str(h.get("message", ""))
            if status == 429:
                raise TooManyRequests(message, str(h.get("reason") or ""))
            if h.get("error_type") == NodeLeaving.error_type:
                raise NodeLeaving(message)
            error = ApiError(message) if status != 500 else ServiceError(message)
            error.error_type, error.status = str(h.get("error_type")), status
            raise error
        tail = h.get("log_tail")
        return InvokeResult(
            req.request_id,
            frame.body,
            req.cfg.version,
            h.get("function_error"),
            base64.b64decode(tail) if tail else b"",
            None,  # the ledger record arrives in a state frame (batched off this trip)
            self.node_id,
        )

    # -- receiving --------------------------------------------------------------------
    def receive(self, frame: Frame) -> None:
        op, h = frame.op, frame.header
        if op == "answer" or op == "failed":
            state = h.get("state")
            if state is None:
                # "As before": re-applying the last load undoes what the placement counted
                # when it dispatched the invoke.
                self._on_state(self.node_id, self.last_load)
            else:
                self._new_state(state)
            fut = self._waiting.get(h.get("id", -1))
            if fut is not None and not fut.done():
                fut.set_result(frame)
            return
        if op == "chunk" or op == "start":
            stream = self._streams.get(h.get("id", -1))
            if stream is None:
                return  # its caller is gone: what it streams is dropped
            if op == "chunk":
                stream.push(frame.body)
            else:
                ident = int(h["id"])
                stream.start(
                    h.get("content_type"),
                    lambda: self._send_flow("pause", ident),
                    lambda: self._send_flow("resume", ident),
                )
            return
        state = h.get("state")
        if state is not None:
            self._new_state(state)
        if op == "welcome":
            if self._welcomed is not None and not self._welcomed.done():
                self._welcomed.set_result(frame)
        elif op == "leaving" and self.on_leaving is not None:
            self.on_leaving(self, leaving_envs(h))
        elif op == "envs":  # the reply to ask("envs")
            fut = self._waiting.get(h.get("id", -1))
            if fut is not None and not fut.done():
                fut.set_result(frame)

    def _new_state(self, state: object) -> None:
        node_state = state_from_json(state, self.node_id)
        self.last_load = _load(node_state)
        self._on_state(self.node_id, node_state)

    def ended(self, exc: Exception | None) -> None:
        if self._welcomed is not None and not self._welcomed.done():
            self._welcomed.set_exception(
                ConnectionError(f"worker at {self.host}:{self.port} refused the token")
            )
        if exc is not None:
            log.warning("connection to node %s ended: %s", self.node_id, exc)
        was_open = not self.closed
        self._fail_all()
        if was_open and self.welcome is not None:
            self._on_lost(self)

    def _fail_all(self) -> None:
        self.closed = True
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(
                    NodeLost(f"Node {self.node_id} was lost while running the invoke.")
                )
