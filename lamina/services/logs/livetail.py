"""StartLiveTail: a session's request, its cursor over the log files, its event stream.

A session answers ``200 application/vnd.amazon.eventstream``: an ``initial-response``
(botocore's JSON protocol reads one before any event), one ``sessionStart`` echoing the
request, then a ``sessionUpdate`` every second with the events written since the last
one (an empty list when there were none), as CloudWatch Logs does. More than
:data:`MAX_RESULTS` matching events in one update are sampled down to that many and the
update says ``sampled``. After :data:`SESSION_LIMIT_S` (three hours, CloudWatch's limit)
a ``SessionTimeoutException`` ends the stream.

A session sees what was written after it started, in every stream of its groups,
including streams created later: :class:`TailCursor` remembers how far it has read each
stream file (the files only grow; one the retention sweep rewrote shorter is resumed
from its new end).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lamina.arns import parse_log_group_identifier
from lamina.errors import AwsServiceError, InvalidParameterValue
from lamina.logs.store import MAX_EVENT_CHARS, LogStore, group_folder
from lamina.services.logs.filter import Matcher, compile_pattern
from lamina.wire import eventstream

SESSION_LIMIT_S = 3 * 3600.0
UPDATE_INTERVAL_S = 1.0
MAX_RESULTS = 500
MAX_GROUPS = 10
MAX_STREAMS = 100
# The most one poll reads of a stream file: a flood past it is skipped to its newest lines
# (the update says ``sampled``), so a session's memory is bounded whatever a function writes.
MAX_READ_BYTES = 4 * 1024 * 1024
_IDENTIFIER = re.compile(r"^[\w#+=/:,.@-]{1,2048}$")
_STREAM = re.compile(r"^[^:*]{1,512}$")


def _invalid(message: str) -> AwsServiceError:
    return AwsServiceError("InvalidParameterException", message)


def _strings(
    body: dict[str, Any], key: str, low: int, high: int, form: re.Pattern[str]
) -> list[str]:
    raw = body.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise _invalid(f"{key} must be a list of strings")
    if not low <= len(raw) <= high:
        raise _invalid(
            f"1 validation error detected: Value at '{key}' failed to satisfy constraint: "
            f"Member must have length between {low} and {high}"
        )
    for value in raw:
        if not form.match(value):
            raise _invalid(
                f"1 validation error detected: Value '{value}' at '{key}' failed to satisfy "
                f"constraint: Member must satisfy regular expression pattern: {form.pattern}"
            )
    return raw


@dataclass(frozen=True, slots=True)
class TailSpec:
    """A validated StartLiveTail request (pure)."""

    identifiers: tuple[str, ...]  # as the caller wrote them (names or ARNs)
    groups: tuple[str, ...]  # the group names they stand for
    stream_names: tuple[str, ...]
    stream_prefixes: tuple[str, ...]
    pattern: str | None
    matcher: Matcher = field(compare=False)

    def wants(self, stream: str) -> bool:
        if self.stream_names:
            return stream in self.stream_names
        if self.stream_prefixes:
            return stream.startswith(self.stream_prefixes)
        return True

    def start_fields(self, request_id: str, session_id: str) -> dict[str, Any]:
        """``LiveTailSessionStart``: the session's ids and the request it serves."""
        out: dict[str, Any] = {
            "requestId": request_id,
            "sessionId": session_id,
            "logGroupIdentifiers": list(self.identifiers),
        }
        if self.stream_names:
            out["logStreamNames"] = list(self.stream_names)
        if self.stream_prefixes:
            out["logStreamNamePrefixes"] = list(self.stream_prefixes)
        if self.pattern is not None:
            out["logEventFilterPattern"] = self.pattern
        return out


def parse_spec(body: dict[str, Any]) -> TailSpec:
    """The request's fields, validated as CloudWatch Logs validates them: 1 to 10 groups
    (names or ARNs, not ending in ``:*``); stream names or prefixes, not both, and only
    with a single group; a filter pattern in the FilterLogEvents syntax."""
    identifiers = _strings(body, "logGroupIdentifiers", 1, MAX_GROUPS, _IDENTIFIER)
    if not identifiers:
        raise _invalid("logGroupIdentifiers is required")
    groups = []
    for ident in identifiers:  # the pattern has no '*': an ARN ending in ':*' is refused
        try:
            groups.append(parse_log_group_identifier(ident))
        except InvalidParameterValue as exc:
            raise _invalid(exc.message) from None
    names = _strings(body, "logStreamNames", 1, MAX_STREAMS, _STREAM)
    prefixes = _strings(body, "logStreamNamePrefixes", 1, MAX_STREAMS, _STREAM)
    if names and prefixes:
        raise _invalid("logStreamNames and logStreamNamePrefixes are mutually exclusive")
    if (names or prefixes) and len(identifiers) != 1:
        raise _invalid(
            "logStreamNames and logStreamNamePrefixes need exactly one log group identifier"
        )
    raw_pattern = body.get("logEventFilterPattern")
    if raw_pattern is not None and (not isinstance(raw_pattern, str) or len(raw_pattern) > 1024):
        raise _invalid("logEventFilterPattern must be a string of at most 1024 characters")
    try:
        matcher = compile_pattern(raw_pattern)
    except InvalidParameterValue as exc:
        raise _invalid(exc.message) from None
    return TailSpec(
        tuple(identifiers), tuple(groups), tuple(names), tuple(prefixes), raw_pattern, matcher
    )


@dataclass(frozen=True, slots=True)
class TailEvent:
    identifier: str  # the group as the caller named it
    stream: str
    timestamp_ms: int
    message: str


def parse_lines(data: bytes) -> list[tuple[int, str]]:
    """(epoch ms, message) of each whole ``<ms>\\t<message>\\n`` line of a stream file's
    bytes (pure); lines longer than CloudWatch's largest event are cut, as reads cut them."""
    out = []
    for raw in data.decode("utf-8", "replace").split("\n"):
        stamp, tab, message = raw.partition("\t")
        if not tab:
            continue
        try:
            out.append((int(stamp), message[:MAX_EVENT_CHARS]))
        except ValueError:
            continue
    return out


def select(events: Sequence[TailEvent], matcher: Matcher) -> tuple[list[TailEvent], bool]:
    """The events that match, at most :data:`MAX_RESULTS` of them, evenly sampled when
    there are more (pure); and whether they were sampled."""
    matched = [e for e in events if matcher(e.message)]
    if len(matched) <= MAX_RESULTS:
        return matched, False
    step = math.ceil(len(matched) / MAX_RESULTS)
    return matched[::step], True


class TailCursor:
    """How far a session has read each stream file of its groups (thin I/O: reads only
    the bytes appended since the last poll)."""

    def __init__(self, store: LogStore, spec: TailSpec) -> None:
        self.store = store
        self.spec = spec
        self._offsets: dict[Path, int] = {}
        self.store.flush()
        for _ident, _stream, path in self._files():
            self._offsets[path] = _size(path)

    def _files(self) -> list[tuple[str, str, Path]]:
        found = []
        for ident, group in zip(self.spec.identifiers, self.spec.groups, strict=True):
            for stream, path in self.store.stream_paths(group_folder(group)):
                if self.spec.wants(stream):
                    found.append((ident, stream, path))
        return found

    def poll(self) -> tuple[list[TailEvent], bool]:
        """The events written since the last poll, oldest first; and whether some were
        skipped (more than :data:`MAX_READ_BYTES` written to a stream since)."""
        self.store.flush()
        new: list[TailEvent] = []
        skipped = False
        for ident, stream, path in self._files():
            start = self._offsets.get(path, 0)
            size = _size(path)
            if size < start:  # rewritten shorter by the retention sweep: resume at its end
                self._offsets[path] = size
                continue
            if size == start:
                continue
            cut = size - start > MAX_READ_BYTES
            skipped = skipped or cut
            # A cut read starts one byte early, so the line it lands in (if any) is dropped
            # whole: after the first newline of what was read.
            begin = size - MAX_READ_BYTES - 1 if cut else start
            with path.open("rb") as fh:
                fh.seek(begin)
                data = fh.read(size - begin)
            whole = data.rfind(b"\n") + 1  # a line still being written waits for the next poll
            self._offsets[path] = begin + whole
            first = data.find(b"\n") + 1 if cut else 0
            lines = parse_lines(data[first:whole])
            new += [TailEvent(ident, stream, ts, m) for ts, m in lines]
        new.sort(key=lambda e: e.timestamp_ms)
        return new, skipped


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _json_event(event_type: str, fields: dict[str, Any]) -> bytes:
    return eventstream.event(event_type, json.dumps(fields).encode(), "application/json")


def initial_response() -> bytes:
    return _json_event("initial-response", {})


def session_start(spec: TailSpec, request_id: str, session_id: str) -> bytes:
    return _json_event("sessionStart", spec.start_fields(request_id, session_id))


def session_update(events: Sequence[TailEvent], sampled: bool) -> bytes:
    """``LiveTailSessionUpdate``; Lamina stores an event when it is written, so its
    ingestion time is its timestamp."""
    results = [
        {
            "logStreamName": e.stream,
            "logGroupIdentifier": e.identifier,
            "message": e.message,
            "timestamp": e.timestamp_ms,
            "ingestionTime": e.timestamp_ms,
        }
        for e in events
    ]
    return _json_event(
        "sessionUpdate", {"sessionMetadata": {"sampled": sampled}, "sessionResults": results}
    )


def session_timeout() -> bytes:
    return eventstream.exception(
        "SessionTimeoutException", "Live Tail session has ended after the 3 hour limit"
    )
