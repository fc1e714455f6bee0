"""The control plane's persistent connection to one node's worker.

Invokes are multiplexed on one TCP connection (``TCP_NODELAY``): each ``invoke`` frame
carries an id, and the reader task resolves that id's future when its ``answer`` or
``failed`` frame comes back, so a warm invoke on another node costs one round trip on an
open socket — no Ray call, no connection set-up. When the connection ends (the node died,
its worker exited) every invoke in flight on it fails at once with
:class:`~lamina.errors.NodeLost`, and the router stops placing work there.
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
    record_from_json,
    state_from_json,
    welcome_from,
)
from lamina.errors import ApiError, NodeLeaving, NodeLost, ServiceError, TooManyRequests
from lamina.models.invocation import InvokeResult
from lamina.scheduler.driver import InvokeRequest
from lamina.store.codec import config_to_json

log = logging.getLogger("lamina.cluster")

CONNECT_TIMEOUT_S = 10.0


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
        # Told when the worker says it is leaving (it takes no more invokes).
        self.on_leaving: Callable[[NodeConnection], None] | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Frame]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.welcome: Welcome | None = None
        self.codes: set[str] = set()
        self.pulls = False  # the node pulls its packages itself (told in its welcome)
        self.shipping: dict[str, asyncio.Future[None]] = {}  # packages being read and sent
        self.credentialed: set[str] = set()  # configurations whose credentials were sent
        self.configured: set[str] = set()  # configurations sent (later invokes send the key)
        self.closed = False

    @property
    def node_id(self) -> str:
        return self.welcome.node_id if self.welcome is not None else f"{self.host}:{self.port}"

    async def open(self) -> Welcome:
        async with asyncio.timeout(CONNECT_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            writer.write(encode("hello", {"token": self._token}))
            decoder = FrameDecoder()
            frames: list[Frame] = []
            while not frames:
                data = await reader.read(1 << 16)
                if not data:
                    raise ConnectionError(f"worker at {self.host}:{self.port} refused the token")
                frames = decoder.feed(data)
        welcome = welcome_from(frames[0])
        self.welcome = welcome
        self.codes = set(welcome.state.codes)
        self.pulls = welcome.pulls
        self._writer = writer
        self._reader_task = asyncio.get_running_loop().create_task(
            self._read(reader, decoder, frames[1:])
        )
        return welcome

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._reader_task is not None:
            self._reader_task.cancel()
            await asyncio.gather(self._reader_task, return_exceptions=True)
        self._fail_all()

    # -- sending ----------------------------------------------------------------------
    def send_code(self, sha: str, package: bytes) -> None:
        """Send a code package the worker lacks; it is stored before the next frame."""
        self._write(encode("code", {"sha256": sha}, package))
        self.codes.add(sha)

    def drain(self, function: str) -> None:
        """Ask the worker to retire ``function``'s idle environments (it changed)."""
        self._write(encode("drain", {"function": function}))

    async def invoke(
        self,
        req: InvokeRequest,
        credentials: tuple[str, str, str] | None = None,
        make_room_mb: int = 0,
    ) -> InvokeResult:
        ident = next(self._ids)
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = fut
        header: dict[str, object] = {
            "id": ident,
            "key": req.cfg.cache_key,
            "arn": req.function_arn,
            "request_id": req.request_id,
            "client_context": req.client_context,
            "cognito_identity": req.cognito_identity,
            "tail": req.tail,
        }
        if credentials is not None:
            header["credentials"] = list(credentials)
        if make_room_mb > 0:
            header["make_room_mb"] = make_room_mb
        if req.cfg.cache_key not in self.configured:
            header["cfg"] = config_to_json(req.cfg)
            self.configured.add(req.cfg.cache_key)
        try:
            self._write(encode("invoke", header, req.payload))
            frame = await fut
        finally:
            self._waiting.pop(ident, None)
        return self._result(frame)

    def _write(self, data: bytes) -> None:
        if self.closed or self._writer is None:
            raise NodeLost(f"Node {self.node_id} is not connected.")
        self._writer.write(data)

    def _result(self, frame: Frame) -> InvokeResult:
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
        record = h.get("record")
        return InvokeResult(
            str(h["request_id"]),
            frame.body,
            str(h["executed_version"]),
            h.get("function_error"),
            base64.b64decode(h.get("log_tail") or ""),
            None if record is None else record_from_json(record),
        )

    # -- receiving --------------------------------------------------------------------
    async def _read(
        self, reader: asyncio.StreamReader, decoder: FrameDecoder, early: list[Frame]
    ) -> None:
        try:
            for frame in early:
                self._receive(frame)
            while data := await reader.read(1 << 16):
                for frame in decoder.feed(data):
                    self._receive(frame)
        except (ConnectionError, FrameError) as exc:
            log.warning("connection to node %s ended: %s", self.node_id, exc)
        finally:
            self._fail_all()
            self._on_lost(self)

    def _receive(self, frame: Frame) -> None:
        state = frame.header.get("state")
        if state is not None:
            self._on_state(self.node_id, state_from_json(state))
        if frame.op == "leaving" and self.on_leaving is not None:
            self.on_leaving(self)
        if frame.op in ("answer", "failed"):
            fut = self._waiting.get(int(frame.header.get("id", -1)))
            if fut is not None and not fut.done():
                fut.set_result(frame)

    def _fail_all(self) -> None:
        self.closed = True
        waiting, self._waiting = self._waiting, {}
        for fut in waiting.values():
            if not fut.done():
                fut.set_exception(
                    NodeLost(f"Node {self.node_id} was lost while running the invoke.")
                )
