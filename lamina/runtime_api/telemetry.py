"""The Telemetry API of one environment: subscriptions, buffering, delivery over HTTP.

An extension subscribes with ``PUT /2022-07-01/telemetry`` (its
``Lambda-Extension-Identifier``, ``schemaVersion`` 2022-12-13, the ``types`` it wants —
``platform``, ``function``, ``extension`` —, ``buffering`` and an HTTP ``destination``).
Lamina then POSTs JSON arrays of events to the destination, a batch whenever
``maxItems`` or ``maxBytes`` is reached or ``timeoutMs`` has passed since the first
buffered event, one batch at a time per subscriber, in order. Events of the INIT phase
that happened before a subscription (``platform.initStart`` comes before any extension
could subscribe) are kept and replayed to it, as Lambda does.

The older **Logs API** (``PUT /2020-08-15/logs``, schema 2021-03-18) is served by the
same machinery: its subscribers get ``platform.start``, ``platform.runtimeDone``,
``platform.end``, ``platform.report`` (with that schema's records), ``function`` and
``extension`` events, and no INIT events.

The destination's host ``sandbox.localdomain`` (what Lambda's docs use) is the
environment itself; in the process tier it is reached through a socket made in the
environment's own network namespace (``Telemetry.socket_factory``), else on the host's
loopback, as
``127.0.0.1`` — an extension should listen on a port no other environment uses (0, then
subscribe with the port it got).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from lamina.wire.server import Response

log = logging.getLogger("lamina.telemetry")

PATH = "/2022-07-01/telemetry"
LOGS_PATH = "/2020-08-15/logs"
SCHEMA = "2022-12-13"
TYPES = frozenset({"platform", "function", "extension"})
# Lambda's limits and defaults for buffering.
ITEMS = (1000, 10000, 10000)  # min, max, default
BYTES = (262144, 1048576, 262144)
TIMEOUT_MS = (25, 30000, 1000)
BACKLOG_MAX = 1000  # INIT events kept for late subscribers
SEND_TIMEOUT_S = 30.0
SocketFactory = Callable[[], Awaitable[socket.socket]]
SANDBOX_HOST = "sandbox.localdomain"
# Names of the environment itself in a destination (older extensions use "sandbox").
SANDBOX_NAMES = frozenset({SANDBOX_HOST, "sandbox", "localhost", "127.0.0.1"})


def _error(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return Response(status, body, {"Content-Type": "application/json"})


def now_iso() -> str:
    at = datetime.now(tz=UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class Buffering:
    max_items: int = ITEMS[2]
    max_bytes: int = BYTES[2]
    timeout_ms: int = TIMEOUT_MS[2]


@dataclass(frozen=True, slots=True)
class Subscription:
    host: str
    port: int
    path: str
    types: frozenset[str]
    buffering: Buffering
    legacy: bool = False  # a Logs API subscription (schema 2021-03-18)


def parse_subscription(body: bytes, legacy: bool = False) -> Subscription | str:
    """A subscription request's body → :class:`Subscription`, or what is wrong with it
    (``legacy``: a Logs API request)."""
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return "the body must be JSON"
    if not isinstance(doc, dict):
        return "the body must be a JSON object"
    versions = ("2020-08-15", "2021-03-18") if legacy else ("2022-07-01", SCHEMA, "2025-01-29")
    if doc.get("schemaVersion", versions[-1]) not in versions:
        return f"unsupported schemaVersion {doc.get('schemaVersion')!r}"
    types = doc.get("types", [])
    if not isinstance(types, list) or not types or not set(types) <= TYPES:
        return "types must be a non-empty list of platform, function, extension"
    raw = doc.get("buffering") or {}
    if not isinstance(raw, dict):
        return "buffering must be an object"
    values = []
    for key, (low, high, default) in (
        ("maxItems", ITEMS),
        ("maxBytes", BYTES),
        ("timeoutMs", TIMEOUT_MS),
    ):
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"buffering.{key} must be an integer from {low} to {high}"
        values.append(value)
    dest = doc.get("destination")
    if not isinstance(dest, dict) or dest.get("protocol") != "HTTP":
        return "destination.protocol must be HTTP"
    uri = urlsplit(str(dest.get("URI", "")))
    if uri.scheme != "http" or not uri.hostname or uri.port is None:
        return "destination.URI must be http://host:port/..."
    if uri.hostname not in SANDBOX_NAMES:
        return "destination.URI must be in the environment (sandbox.localdomain)"
    host = "127.0.0.1"
    return Subscription(
        host, uri.port, uri.path or "/", frozenset(types), Buffering(*values), legacy
    )


def legacy_events(event_type: str, record: Any) -> list[tuple[str, Any]]:
    """The Logs API's events (schema 2021-03-18) for one Telemetry API event (pure)."""
    if event_type in ("function", "extension", "platform.extension"):
        return [(event_type, record)]
    if event_type == "platform.start":
        return [
            ("platform.start", {"requestId": record["requestId"], "version": record["version"]})
        ]
    if event_type == "platform.runtimeDone":
        rid = record["requestId"]
        return [
            ("platform.runtimeDone", {"requestId": rid, "status": record["status"]}),
            ("platform.end", {"requestId": rid}),
        ]
    if event_type == "platform.report":
        return [
            ("platform.report", {"requestId": record["requestId"], "metrics": record["metrics"]})
        ]
    return []


@dataclass(slots=True)
class Subscriber:
    """One extension's subscription: its buffer and its sender."""

    sub: Subscription
    owner: Telemetry | None = None  # its socket_factory reaches the environment
    batch: list[bytes] = field(default_factory=list)
    batch_bytes: int = 0
    timer: asyncio.TimerHandle | None = None
    queue: list[bytes] = field(default_factory=list)  # batches waiting to go
    sender: asyncio.Task[None] | None = None

    def add(self, event: bytes) -> None:
        self.batch.append(event)
        self.batch_bytes += len(event)
        buf = self.sub.buffering
        if len(self.batch) >= buf.max_items or self.batch_bytes >= buf.max_bytes:
            self.cut()
        elif self.timer is None:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(buf.timeout_ms / 1000, self.cut)

    def cut(self) -> None:
        """Close the current batch and send it (after those before it)."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if not self.batch:
            return
        self.queue.append(b"[" + b",".join(self.batch) + b"]")
        self.batch, self.batch_bytes = [], 0
        if self.sender is None or self.sender.done():
            self.sender = asyncio.get_running_loop().create_task(self._send_all())

    async def _send_all(self) -> None:
        while self.queue:
            body = self.queue.pop(0)
            try:
                factory = self.owner.socket_factory if self.owner is not None else None
                await asyncio.wait_for(_post(self.sub, body, factory), SEND_TIMEOUT_S)
            except (OSError, TimeoutError) as exc:
                log.warning(
                    "telemetry to %s:%d dropped (%d bytes): %s",
                    self.sub.host,
                    self.sub.port,
                    len(body),
                    exc,
                )

    async def flush(self) -> None:
        self.cut()
        if self.sender is not None:
            await asyncio.wait([self.sender])

    def close(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.sender is not None:
            self.sender.cancel()


async def _post(sub: Subscription, body: bytes, factory: SocketFactory | None = None) -> None:
    if factory is None:
        reader, writer = await asyncio.open_connection(sub.host, sub.port)
    else:
        sock = await factory()
        try:
            await asyncio.get_running_loop().sock_connect(sock, (sub.host, sub.port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
    try:
        head = (
            f"POST {sub.path} HTTP/1.1\r\nHost: {SANDBOX_HOST}:{sub.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        writer.write(head.encode("latin-1") + body)
        await writer.drain()
        await reader.readline()  # the status line: delivered
    finally:
        writer.close()


def _never() -> bool:
    return False


class Telemetry:
    """The telemetry stream of one environment and its subscribers."""

    def __init__(self) -> None:
        self.subscribers: dict[str, Subscriber] = {}
        # Makes an unconnected TCP socket in the environment's own network namespace, where
        # the extension listens (set by the launcher); None: the host's loopback.
        self.socket_factory: SocketFactory | None = None
        self._backlog: list[tuple[str, bytes]] | None = []  # None once INIT is over
        # The server's telemetry bus (lamina.runtime_api.bus), told of every event as it is
        # made (epoch ms, type, record): the console and `lamina logs --follow` read it.
        self.publish: Callable[[int, str, Any], None] | None = None
        self.watched: Callable[[], bool] = _never  # whether the bus has a reader for them

    @property
    def active(self) -> bool:
        """Whether events are wanted at all (else emitting them is skipped)."""
        return bool(self.subscribers) or self._backlog is not None or self.watched()

    def subscribe(self, ident: str, body: bytes, legacy: bool = False) -> Response:
        parsed = parse_subscription(body, legacy)
        if isinstance(parsed, str):
            return _error(400, "ValidationError", parsed)
        old = self.subscribers.pop(ident, None)
        if old is not None:
            old.close()
        subscriber = self.subscribers[ident] = Subscriber(parsed, self)
        for kind, event in () if legacy else self._backlog or ():
            if kind in parsed.types:
                subscriber.add(event)
        return Response(200, b"OK", {"Content-Type": "text/plain"})

    def end_init(self) -> None:
        self._backlog = None

    def emit(self, kind: str, event_type: str, record: Any) -> None:
        """One event of ``kind`` (platform, function, extension) to the bus and to every
        subscriber."""
        publish = self.publish
        if publish is not None:
            publish(int(time.time() * 1000), event_type, record)
        if not self.subscribers and self._backlog is None:
            return
        at = now_iso()
        event = json.dumps(
            {"time": at, "type": event_type, "record": record}, separators=(",", ":")
        ).encode()
        backlog = self._backlog
        if backlog is not None and len(backlog) < BACKLOG_MAX:
            backlog.append((kind, event))
        for subscriber in self.subscribers.values():
            if kind not in subscriber.sub.types:
                continue
            if not subscriber.sub.legacy:
                subscriber.add(event)
                continue
            for old_type, old_record in legacy_events(event_type, record):
                subscriber.add(
                    json.dumps(
                        {"time": at, "type": old_type, "record": old_record},
                        separators=(",", ":"),
                    ).encode()
                )

    async def flush(self, timeout_s: float) -> None:
        """Send everything buffered and wait for it (at most ``timeout_s``)."""
        if not self.subscribers:
            return
        flushes = [asyncio.ensure_future(s.flush()) for s in self.subscribers.values()]
        _, pending = await asyncio.wait(flushes, timeout=timeout_s)
        for task in pending:
            task.cancel()

    def close(self) -> None:
        for subscriber in self.subscribers.values():
            subscriber.close()
        self.subscribers.clear()
        self._backlog = None
