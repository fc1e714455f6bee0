"""The traces Lamina keeps for the X-Ray API: bounded in count, bytes, per function and age.

A trace exists once Lamina hands a sampled trace header to an invocation of a function
with active tracing (:meth:`TraceStore.open`); only then are documents for it kept. Each
holds the invocations' own segments (from their ledger records, :meth:`TraceStore.finish`)
and the documents the functions sent (:meth:`TraceStore.add`), the latest per id (an SDK
sends an in-progress subsegment, then the completed one with the same id).

Bounds: at most ``max_traces`` traces and ``max_bytes`` of documents (the oldest trace goes
first), a function's traces at most ``max_bytes // 4`` (its own oldest go first, so a
function that floods cannot push the others out), a trace at most ``trace_bytes`` (X-Ray's
``LimitExceeded``), and traces older than ``retention_s`` are dropped. Thread-safe: the
event loop adds documents, the ledger's flusher thread finishes segments, API calls read.
"""

from __future__ import annotations

import contextlib
import copy
import json
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lamina.arns import function_arn
from lamina.models.invocation import InvocationRecord
from lamina.xray.documents import Document, walk
from lamina.xray.segments import ORIGIN, failed, invocation_segment

MAX_TRACES = 10_000
MAX_BYTES = 32 * 1024 * 1024
TRACE_BYTES = 1024 * 1024
RETENTION_S = 3600.0
MAX_FUNCTIONS = 256  # functions (and callers' links) one trace records
OWN_BYTES = 512  # what an invocation's own segment is charged (about its JSON's size)


@dataclass(slots=True)
class Trace:
    id: str  # 1-<8 hex>-<24 hex>
    opened: float  # when Lamina handed it out (epoch seconds)
    functions: list[str]
    # Lamina's own segments (one per invocation in the trace), by id.
    own: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the functions sent, by id (the latest wins).
    sent: dict[str, Document] = field(default_factory=dict)
    # An invocation's segment id → its caller's span (the Parent of the header it continued).
    parents: dict[str, str] = field(default_factory=dict)
    size: int = 0
    limit_exceeded: bool = False

    def documents(self) -> list[dict[str, Any]]:
        return [*self.own.values(), *(d.body for d in self.sent.values())]


class TraceStore:
    """Traces by id (see the module's docstring for the bounds)."""

    def __init__(
        self,
        *,
        max_traces: int = MAX_TRACES,
        max_bytes: int = MAX_BYTES,
        trace_bytes: int = TRACE_BYTES,
        retention_s: float = RETENTION_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.max_traces = max_traces
        self.max_bytes = max_bytes
        self.function_bytes = max_bytes // 4
        self.trace_bytes = trace_bytes
        self.retention_s = retention_s
        self._clock = clock
        self._lock = threading.Lock()
        self._traces: OrderedDict[str, Trace] = OrderedDict()
        self._by_function: dict[str, deque[str]] = {}
        self._function_size: dict[str, int] = {}
        self._size = 0
        self._requests: dict[str, str] = {}  # request id → trace id, for the console
        self.evicted = 0  # traces dropped to stay in bounds (not counting age)
        self.over_limit = 0  # documents refused because their trace was full

    def open(self, trace_id: str, function: str, link: tuple[str, str] | None = None) -> None:
        """An invocation of ``function`` was handed ``trace_id``: documents for it are kept
        (``link``: its segment's id and its caller's span, the segment's parent)."""
        with self._lock:
            self._expire()
            trace = self._traces.get(trace_id)
            if trace is None:
                trace = self._traces[trace_id] = Trace(trace_id, self._clock(), [function])
                self._by_function.setdefault(function, deque()).append(trace_id)
                while len(self._traces) > self.max_traces:
                    self._drop(next(iter(self._traces)))
                    self.evicted += 1
            elif function not in trace.functions and len(trace.functions) < MAX_FUNCTIONS:
                trace.functions.append(function)
            if link is not None and len(trace.parents) < MAX_FUNCTIONS:
                trace.parents[link[0]] = link[1]

    def is_open(self, trace_id: str) -> bool:
        with self._lock:
            return trace_id in self._traces

    def finish(self, segment: dict[str, Any]) -> None:
        """An invocation's own segment (from its record); kept if its trace is open and
        has room (a caller may send every invoke with one header: each is charged
        ``OWN_BYTES`` to the trace's, its function's and the store's bounds)."""
        with self._lock:
            trace = self._traces.get(segment["trace_id"])
            if trace is None or segment["id"] in trace.own:
                return
            if trace.size + OWN_BYTES > self.trace_bytes:
                trace.limit_exceeded = True
                self.over_limit += 1
                return
            parent = trace.parents.get(segment["id"])
            trace.own[segment["id"]] = {**segment, "parent_id": parent} if parent else segment
            self._requests[segment["aws"]["request_id"]] = trace.id
            owner = trace.functions[0]
            trace.size += OWN_BYTES
            self._size += OWN_BYTES
            self._function_size[owner] = self._function_size.get(owner, 0) + OWN_BYTES
            self._shrink(owner, keep=trace.id)

    def add(self, doc: Document, function: str) -> bool:
        """Keep ``doc`` (sent by an environment of ``function``) in its open trace; False
        when the trace is not open or is full."""
        with self._lock:
            trace = self._traces.get(doc.trace_id)
            if trace is None:
                return False
            old = trace.sent.get(doc.id)
            grow = doc.size - (old.size if old is not None else 0)
            if trace.size + grow > self.trace_bytes:
                trace.limit_exceeded = True
                self.over_limit += 1
                return False
            owner = trace.functions[0]
            trace.sent[doc.id] = doc
            trace.size += grow
            self._size += grow
            self._function_size[owner] = self._function_size.get(owner, 0) + grow
            self._shrink(owner, keep=doc.trace_id)
            return doc.trace_id in self._traces

    def _shrink(self, function: str, keep: str) -> None:
        """Drop the oldest traces of ``function``, then anyone's, until within bounds
        (``keep`` last of all)."""
        ids = self._by_function.get(function, deque())
        while self._function_size.get(function, 0) > self.function_bytes and ids:
            victim = ids[0] if ids[0] != keep or len(ids) == 1 else ids[1]
            self._drop(victim)
            self.evicted += 1
        while self._size > self.max_bytes and self._traces:
            victim = next(iter(self._traces))
            self._drop(victim)
            self.evicted += 1

    def _drop(self, trace_id: str) -> None:
        trace = self._traces.pop(trace_id, None)
        if trace is None:
            return
        for segment in trace.own.values():
            self._requests.pop(segment["aws"]["request_id"], None)
        owner = trace.functions[0]
        self._size -= trace.size
        left = self._function_size.get(owner, 0) - trace.size
        if left > 0:
            self._function_size[owner] = left
        else:
            self._function_size.pop(owner, None)
        ids = self._by_function.get(owner)
        if ids is not None:
            with contextlib.suppress(ValueError):
                ids.remove(trace_id)
            if not ids:
                del self._by_function[owner]

    def _expire(self) -> None:
        horizon = self._clock() - self.retention_s
        while self._traces:
            first = next(iter(self._traces.values()))
            if first.opened >= horizon:
                break
            self._drop(first.id)

    # -- reading ----------------------------------------------------------------------
    def traces(self, ids: Iterable[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """``BatchGetTraces``' Traces (each with segment documents, subsegments sent on
        their own nested under their parent) and the ids it does not hold."""
        found, missing = [], []
        with self._lock:
            self._expire()
            for trace_id in ids:
                trace = self._traces.get(trace_id)
                if trace is None or not (trace.own or trace.sent):
                    missing.append(trace_id)
                    continue
                found.append(_trace_shape(trace))
        return found, missing

    def subsegments(self, request_id: str) -> list[tuple[int, str, float, bool]]:
        """The subsegments under one invocation's own segment, depth first: (depth, name,
        duration in ms, failed); in-progress ones last as long as the invocation. Empty
        when the invocation was not traced or its trace is gone."""
        with self._lock:
            trace = self._traces.get(self._requests.get(request_id, ""))
            if trace is None:
                return []
            mine = [i for i, seg in enumerate(trace.own.values())
                    if seg["aws"]["request_id"] == request_id]  # fmt: skip
            if not mine:
                return []
            own = _nest(trace)[mine[0]]  # Lamina's own segments come first, in order
        rows = []
        stack = [(sub, 0) for sub in reversed(own.get("subsegments", []))]
        while stack:
            entity, depth = stack.pop()
            end = entity.get("end_time") or own["end_time"]
            rows.append(
                (depth, entity["name"], (end - entity["start_time"]) * 1000, failed(entity))
            )
            stack.extend((sub, depth + 1) for sub in reversed(entity.get("subsegments", [])))
        return rows

    def summaries(
        self, start: float, end: float, service: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """``GetTraceSummaries``' summaries of traces that started in ``[start, end]``
        (newest first; of ``service`` only when given), and how many were looked at."""
        out = []
        looked = 0
        with self._lock:
            self._expire()
            for trace in reversed(self._traces.values()):
                docs = trace.documents()
                if not docs:
                    continue
                first = min(d["start_time"] for d in docs)
                if not start <= first <= end:
                    continue
                looked += 1
                if service is not None and service not in trace.functions:
                    continue
                out.append(_summary(trace, docs, first))
        return out, looked


def _nest(trace: Trace) -> list[dict[str, Any]]:
    """The trace's top-level documents: Lamina's segments and the segments the functions
    sent, each subsegment sent on its own copied under its parent wherever in the trace
    that is (as X-Ray assembles them); one whose parent the trace lacks stays on its own."""
    tops: list[dict[str, Any]] = [copy.deepcopy(seg) for seg in trace.own.values()]
    tops += [copy.deepcopy(d.body) for d in trace.sent.values() if not d.subsegment]
    index = {entity["id"]: entity for top in tops for entity, _ in walk(top)}
    waiting = sorted((d for d in trace.sent.values() if d.subsegment), key=lambda d: d.start)
    while waiting:
        left = []
        for doc in waiting:
            parent = index.get(doc.parent_id or "")
            if parent is None:
                left.append(doc)
                continue
            body = copy.deepcopy(doc.body)
            for key in ("trace_id", "parent_id", "type"):
                body.pop(key, None)
            parent.setdefault("subsegments", []).append(body)
            index.update((entity["id"], entity) for entity, _ in walk(body))
        if len(left) == len(waiting):
            break
        waiting = left
    return [*tops, *(d.body for d in waiting)]


def _trace_shape(trace: Trace) -> dict[str, Any]:
    docs = _nest(trace)
    starts = [d["start_time"] for d in docs]
    ends = [d.get("end_time") or d["start_time"] for d in docs]
    return {
        "Id": trace.id,
        "Duration": round(max(ends) - min(starts), 3),
        "LimitExceeded": trace.limit_exceeded,
        "Segments": [
            {"Id": d["id"], "Document": json.dumps(d, separators=(",", ":"))} for d in docs
        ],
    }


def _summary(trace: Trace, docs: list[dict[str, Any]], first: float) -> dict[str, Any]:
    ends = [d.get("end_time") or d["start_time"] for d in docs]
    root = next(iter(trace.own.values()), None) or docs[0]
    services = [{"Name": name, "Names": [name], "Type": ORIGIN} for name in trace.functions]
    annotations: dict[str, list[dict[str, Any]]] = {}
    for doc in docs:
        values = doc.get("annotations")
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            typed = _annotation_value(value)
            if typed is not None and len(annotations) < 50:
                annotations.setdefault(str(key), []).append({"AnnotationValue": typed})
    return {
        "Id": trace.id,
        "StartTime": first,
        "Duration": round(max(ends) - first, 3),
        "ResponseTime": round((root.get("end_time") or root["start_time"]) - root["start_time"], 3),
        # As X-Ray: fault and error are the root segment's (the invocation's own), a
        # throttle anyone's.
        "HasFault": root.get("fault") is True,
        "HasError": root.get("error") is True,
        "HasThrottle": any(d.get("throttle") is True for d in docs),
        "IsPartial": any(d.get("in_progress") is True for d in docs),
        "Annotations": annotations,
        "ServiceIds": services,
        "EntryPoint": services[0],
        "ErrorRootCauses": [],
        "FaultRootCauses": [],
        "Revision": len(docs),
        "Users": [],
        "ResourceARNs": [],
        "InstanceIds": [],
        "AvailabilityZones": [],
        "Http": {},
    }


def _annotation_value(value: object) -> dict[str, Any] | None:
    if isinstance(value, bool):
        return {"BooleanValue": value}
    if isinstance(value, (int, float)):
        return {"NumberValue": float(value)}
    if isinstance(value, str):
        return {"StringValue": value}
    return None


def record_observer(
    store: TraceStore, region: str, account: str
) -> Callable[[list[InvocationRecord]], None]:
    """A ledger observer: each sampled invocation's own segment goes to its open trace
    (runs on the ledger's flusher thread)."""

    def observe(records: list[InvocationRecord]) -> None:
        for rec in records:
            if rec.trace_header is None or "Sampled=1" not in rec.trace_header:
                continue
            arn = function_arn(region, account, rec.function_name)
            segment = invocation_segment(rec, arn)
            if segment is not None:
                store.finish(segment)

    return observe
