"""The framed protocol between the control plane and a node's worker (pure: no sockets).

One persistent TCP connection per node carries every invoke; Ray is not on this path.
A frame is ``u32 header length | u32 body length | header (JSON object) | body (bytes)``.
The header says what the frame is (``op``); the body carries the one large opaque value
(an event payload, an answer, a code package) so it is never JSON-escaped.

Control plane → worker: ``hello`` (the cluster token; first frame, nothing else is read
before it checks), ``code`` (a package the worker lacks, by SHA-256), ``invoke``,
``drain``, ``warm`` (start an idle environment: a leaving node's moves here),
``pause`` / ``resume`` (a streamed invoke's reader is behind / caught up) and ``envs``
(list your environments, for the control plane's views; off the invoke path).
Worker → control plane: ``welcome`` (node facts), ``start`` and ``chunk`` (a streamed
invoke's content type, then its bytes as the function writes them), ``answer`` /
``failed`` (one per invoke, by ``id``), ``state`` (its environments' memory and idle
environments, the ledger records and log events produced since the last frame), ``envs``
(the reply, under the question's ``id``: :mod:`lamina.cluster.node_envs`) and
``leaving``.

The invoke's round trip carries only what the caller needs: an ``answer`` has the node's
``state`` only when it changed since the last one sent on the connection (no ``state``:
"as before", so the control plane's view of a node is never older than its last answer),
the log tail only when asked for, and no ledger record (records leave in batches).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii
from typing import Any, NamedTuple

from lamina.errors import LaminaError
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.scheduler.driver import InvokeRequest
from lamina.store.codec import config_to_json
from lamina.triggers import TRIGGERS

HEAD = struct.Struct(">II")
MAX_HEADER = 4 * 1024 * 1024
# An invoke payload is at most 6 MB, a code package at most 250 MB unzipped (50 MB zipped
# through the API): bound the body so a broken peer cannot make us buffer without limit.
MAX_BODY = 64 * 1024 * 1024


class FrameError(LaminaError):
    """Raised when bytes on a cluster connection are not a valid frame."""


class Frame(NamedTuple):
    # A tuple: one is built per frame read, and a frozen dataclass costs twice as much.
    op: str
    header: dict[str, Any]
    body: bytes = b""


# The JSON reader of ``json.loads`` without its Python layers (the encoding detection of
# bytes, ``decode``, ``raw_decode``): a frame header is read on every invoke, both ends.
_scan: Callable[[str, int], tuple[object, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
# The usual warm answer's whole header is this, the id and "}": read without JSON.
_ANSWER_HEAD = b'{"op":"answer","id":'


def encode(op: str, header: dict[str, object], body: bytes = b"") -> bytes:
    head = json.dumps({"op": op, **header}, separators=(",", ":")).encode()
    return HEAD.pack(len(head), len(body)) + head + body


def invoke_header(
    ident: int,
    req: InvokeRequest,
    credentials: tuple[str, str, str] | None,
    make_room_mb: int,
    with_config: bool,
    prefix: bytes,
) -> bytes:
    """An ``invoke`` frame without its body (the payload follows as is): only the fields
    that are set, the configuration itself only with ``with_config`` (the first time on a
    connection: parsing it costs more than the rest of the hop; then its key suffices).
    ``prefix`` is :func:`invoke_prefix` of the request, encoded once per function."""
    extra: dict[str, object] = {}
    if req.client_context is not None:
        extra["client_context"] = req.client_context
    if req.cognito_identity is not None:
        extra["cognito_identity"] = req.cognito_identity
    if req.tail:
        extra["tail"] = True
    if req.trace_header is not None:
        extra["trace"] = req.trace_header
    if req.trigger != "other":
        extra["trigger"] = req.trigger
    if req.stream is not None:
        extra["stream_limit"] = req.stream.limit
    if credentials is not None:
        extra["credentials"] = list(credentials)
    if make_room_mb > 0:
        extra["make_room_mb"] = make_room_mb
    if with_config:
        extra["cfg"] = config_to_json(req.cfg)
    rest = b"," + _dumps(extra)[1:-1] if extra else b""
    rid = encode_basestring_ascii(req.request_id).encode()  # json.dumps of a str, in C
    head = b'%s,"id":%d,"request_id":%s%s}' % (prefix, ident, rid, rest)
    return HEAD.pack(len(head), len(req.payload)) + head


def invoke_prefix(req: InvokeRequest) -> bytes:
    """The part of an ``invoke`` header that is the same for every invoke of a function
    (its configuration's key and ARN), without the closing brace."""
    return _dumps({"op": "invoke", "key": req.cfg.cache_key, "arn": req.function_arn})[:-1]


def answer_frame(ident: int, payload: bytes, fields: dict[str, object] | None) -> bytes:
    """An ``answer``: only the id when nothing else is to be said (the usual warm one)."""
    if fields:
        return encode("answer", {"id": ident, **fields}, payload)
    head = b'{"op":"answer","id":%d}' % ident
    return HEAD.pack(len(head), len(payload)) + head + payload


def _dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class FrameDecoder:
    """Bytes in, whole frames out (incremental). A read that holds whole frames (the
    usual case on the invoke path) is parsed in place; only a frame split across reads
    is buffered, and it is joined once, when its last byte has arrived."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 0  # bytes the buffered frame needs before it is worth parsing

    def feed(self, data: bytes) -> list[Frame]:
        if self._buf:
            self._buf += data
            if len(self._buf) < self._need:
                return []
            data = bytes(self._buf)
            self._buf.clear()
        out: list[Frame] = []
        pos, size = 0, len(data)
        while size - pos >= HEAD.size:
            head_len, body_len = HEAD.unpack_from(data, pos)
            if head_len > MAX_HEADER or body_len > MAX_BODY:
                raise FrameError(f"frame too large ({head_len} + {body_len} bytes)")
            start = pos + HEAD.size
            end = start + head_len + body_len
            if size < end:
                self._need = end - pos
                break
            out.append(_frame(data, start, start + head_len, end))
            pos = end
        else:
            self._need = HEAD.size
        if pos < size:
            self._buf += data[pos:]
        return out

    @property
    def buffered(self) -> int:
        return len(self._buf)


def _frame(data: bytes, start: int, body_at: int, end: int) -> Frame:
    """The frame whose header is ``data[start:body_at]`` and body ``data[body_at:end]``."""
    if data.startswith(_ANSWER_HEAD, start, body_at) and data[body_at - 1] == 0x7D:  # "}"
        ident = data[start + len(_ANSWER_HEAD) : body_at - 1]
        if ident.isdigit():
            return Frame("answer", {"op": "answer", "id": int(ident)}, data[body_at:end])
    return Frame(*_header(data[start:body_at]), data[body_at:end])


def _header(raw: bytes) -> tuple[str, dict[str, Any]]:
    try:
        text = raw.decode()
        header, stop = _scan(text, 0)
    except (UnicodeDecodeError, StopIteration, ValueError) as exc:
        raise FrameError(f"frame header is not JSON: {exc!r:.200}") from exc
    if stop != len(text):
        raise FrameError("frame header is not JSON: data after its object")
    if not isinstance(header, dict) or not isinstance(header.get("op"), str):
        raise FrameError("frame header has no op")
    return header["op"], header


# -- what travels in headers, typed at the edge ------------------------------------------
class LogEvent(NamedTuple):
    """One log line a node produced (made per line on the node and again on the control
    plane: a named tuple is made in ~a third of a frozen dataclass's time)."""

    function: str  # the log store's folder (the function's log group)
    stream: str
    timestamp_ms: int
    message: str
    # The function's name when it is not the folder (a LoggingConfig.LogGroup of its own):
    # the live tail follows functions by name.
    name: str = ""

    @property
    def function_name(self) -> str:
        return self.name or self.function


@dataclass(frozen=True, slots=True)
class NodeState:
    """What a worker's environments hold, and what it produced since its last frame."""

    used_mb: int
    idle: dict[str, int]
    idle_mb: int = 0  # the part of used_mb held by idle environments (reclaimable)
    records: tuple[InvocationRecord, ...] = ()
    logs: tuple[LogEvent, ...] = ()
    codes: tuple[str, ...] = ()  # packages the worker has (SHA-256)


@dataclass(frozen=True, slots=True)
class Welcome:
    node_id: str
    capacity_mb: int
    cpus: float
    state: NodeState = field(default_factory=lambda: NodeState(0, {}))
    # The node pulls the packages it lacks itself (lamina.cluster.nodecode): the control
    # plane sends it none.
    pulls: bool = False


# A record travels as a positional row (batches of them leave every 0.1 s: keys would be
# most of the bytes); these are its fields in order, and how each is read back.
RECORD_FIELDS = (
    "request_id", "function_name", "version", "started_at", "duration_ms", "billed_ms",
    "memory_mb", "max_memory_used_mb", "init_ms", "architecture", "outcome", "ephemeral_mb",
    "restored", "trace_header", "trigger",
)  # fmt: skip
# Rows from a worker of an earlier version end at trace_header (their trigger: "other").
_OLD_ROW = len(RECORD_FIELDS) - 1


def record_to_json(rec: InvocationRecord) -> list[object]:
    return [
        rec.request_id,
        rec.function_name,
        rec.version,
        rec.started_at,
        rec.duration_ms,
        rec.billed_ms,
        rec.memory_mb,
        rec.max_memory_used_mb,
        rec.init_ms,
        rec.architecture,
        rec.outcome.value,
        rec.ephemeral_mb,
        rec.restored,
        rec.trace_header,
        rec.trigger,
    ]


_OUTCOMES = {o.value: o for o in Outcome}  # a dict: calling the enum is a Python call


def record_from_json(row: object, node: str | None = None) -> InvocationRecord:
    """A record from its row (or, from a worker of an earlier version, its object), run
    on ``node`` (the node whose connection carried it)."""
    if isinstance(row, dict):
        try:
            row = [row[name] for name in RECORD_FIELDS[:-3]] + [
                row.get("restored", False),
                row.get("trace_header"),
                row.get("trigger", "other"),
            ]
        except KeyError as exc:
            raise FrameError(f"bad invocation record: no {exc}") from exc
    if not isinstance(row, list) or len(row) != len(RECORD_FIELDS):
        if isinstance(row, list) and len(row) == _OLD_ROW:
            row = [*row, "other"]
        else:
            raise FrameError(f"bad invocation record: {row!r:.200}")
    try:
        (rid, function, version, started, duration, billed, memory, peak, init, arch,
         outcome, ephemeral, restored, trace, trigger) = row  # fmt: skip
        # (Type tests spelled out, no generator: a batch holds a record per invoke.)
        if type(rid) is not str or type(function) is not str or type(version) is not str:
            raise TypeError("its ids and version must be strings")
        if type(arch) is not str:
            raise TypeError("its architecture must be a string")
        return InvocationRecord(
            rid,
            function,
            version,
            float(started),
            float(duration),
            int(billed),
            int(memory),
            int(peak),
            None if init is None else float(init),
            arch,
            _OUTCOMES[outcome],
            int(ephemeral),
            bool(restored),
            None if trace is None else str(trace),
            # Set here, not by _replace afterwards (~1.6 µs a record, one per invoke).
            node,
            # A node's word for it, kept only if it is one of the conventions' values.
            trigger if trigger in TRIGGERS else "other",
        )
    except (TypeError, ValueError, KeyError) as exc:
        raise FrameError(f"bad invocation record: {exc!r:.200}") from exc


def state_to_json(state: NodeState) -> dict[str, object]:
    return {
        "used_mb": state.used_mb,
        "idle_mb": state.idle_mb,
        "idle": state.idle,
        "records": [record_to_json(r) for r in state.records],
        "logs": [_log_row(e) for e in state.logs],
        "codes": list(state.codes),
    }


def _log_row(e: LogEvent) -> list[object]:
    row: list[object] = [e.function, e.stream, e.timestamp_ms, e.message]
    if e.name:
        row.append(e.name)
    return row


def _log_event(row: Any) -> LogEvent:
    """A log row: four fields, and the function's name when its folder is not it."""
    folder, stream, ts, message, *name = row
    return LogEvent(str(folder), str(stream), int(ts), str(message), str(name[0]) if name else "")


def state_from_json(d: object, node: str | None = None) -> NodeState:
    """A node's state; its records say they ran on ``node``."""
    if not isinstance(d, dict):
        raise FrameError("node state is not an object")
    try:
        idle = {str(k): int(v) for k, v in d.get("idle", {}).items()}
        logs = tuple(_log_event(row) for row in d.get("logs", []))
        return NodeState(
            used_mb=int(d.get("used_mb", 0)),
            idle_mb=int(d.get("idle_mb", 0)),
            idle=idle,
            records=tuple(record_from_json(r, node) for r in d.get("records", [])),
            logs=logs,
            codes=tuple(str(c) for c in d.get("codes", [])),
        )
    except (AttributeError, TypeError, ValueError) as exc:
        raise FrameError(f"bad node state: {exc}") from exc


def welcome_from(frame: Frame) -> Welcome:
    h = frame.header
    try:
        return Welcome(
            str(h["node_id"]),
            int(h["capacity_mb"]),
            float(h["cpus"]),
            state_from_json(h.get("state", {})),
            bool(h.get("pulls", False)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FrameError(f"bad welcome: {exc}") from exc
