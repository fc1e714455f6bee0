"""CloudWatch Logs operations over the logs Lamina keeps (:class:`~lamina.logs.store.LogStore`).

Each function's group is ``/aws/lambda/<function>`` and each execution environment's
stream is its ``AWS_LAMBDA_LOG_STREAM_NAME``: the same names Lambda uses, so
``aws logs filter-log-events --log-group-name /aws/lambda/fn`` and ``sam logs`` work as
they do against AWS. Groups and streams made with CreateLogGroup / CreateLogStream /
PutLogEvents live beside them. Every read streams the files (memory is bounded by the
page size, never by the size of a group) and every answer stays under 1 MB, as
CloudWatch's do.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import itertools
import json
import re
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from lamina.arns import log_group_arn, log_stream_arn, parse_log_group_identifier
from lamina.errors import AwsServiceError, InvalidParameterValue
from lamina.logs.store import LogStore, folder_group, group_folder, read_events
from lamina.services.logs.filter import compile_pattern
from lamina.services.logs.groups import GroupInfo, GroupSettings, validate_retention
from lamina.services.logs.retention import DAY_MS
from lamina.services.protocol.awsjson import JsonOperation

MAX_ANSWER_BYTES = 1_048_576
MAX_TAGS = 50
_GROUP = re.compile(r"^[\.\-_/#A-Za-z0-9]{1,512}$")
_STREAM = re.compile(r"^[^:*]{1,512}$")
# PutLogEvents: events older than 14 days or more than 2 hours ahead are rejected.
TOO_OLD_MS = 14 * DAY_MS
TOO_NEW_MS = 2 * 3_600_000


def _invalid(message: str) -> AwsServiceError:
    return AwsServiceError("InvalidParameterException", message)


def _not_found(what: str) -> AwsServiceError:
    return AwsServiceError("ResourceNotFoundException", f"The specified {what} does not exist.")


def _integer(body: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = body.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(
            f"1 validation error detected: Value '{value}' at '{key}' failed to satisfy "
            f"constraint: Member must have value between {low} and {high}"
        )
    return value


def _optional_ms(body: dict[str, Any], key: str) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _invalid(f"{key} must be a non-negative number of milliseconds")
    return value


def _tags(raw: object) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in raw.items()
    ):
        raise _invalid("tags must be a map of strings to strings")
    return dict(raw)


def _token(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


def _untoken(raw: object) -> Any:
    if not isinstance(raw, str):
        raise _invalid("The specified nextToken is invalid.")
    try:
        return json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise _invalid("The specified nextToken is invalid.") from None


def _modified_ms(path: Any) -> int:
    try:
        return int(path.stat().st_mtime * 1000)
    except FileNotFoundError:
        return 0


def _edges(path: Any) -> tuple[int, int] | None:
    """First and last event timestamps of a stream file (reads its two ends only)."""
    try:
        with path.open("rb") as fh:
            first = fh.readline()
            size = fh.seek(0, 2)
            fh.seek(max(0, size - 65536))
            tail = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
    except FileNotFoundError:
        return None
    stamps = []
    for line in (first, tail):
        try:
            stamps.append(int(line.split(b"\t", 1)[0]))
        except ValueError:
            return None
    return stamps[0], stamps[1]


class LogsOperations:
    """The operations, as ``body → answer`` functions for the AWS JSON protocol."""

    def __init__(
        self,
        store: LogStore,
        groups: GroupSettings,
        region: str,
        account: str,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.groups = groups
        self.region = region
        self.account = account
        self.clock = clock

    def table(self) -> dict[str, JsonOperation]:
        return {
            "DescribeLogGroups": self.describe_log_groups,
            "DescribeLogStreams": self.describe_log_streams,
            "GetLogEvents": self.get_log_events,
            "FilterLogEvents": self.filter_log_events,
            "PutRetentionPolicy": self.put_retention_policy,
            "DeleteRetentionPolicy": self.delete_retention_policy,
            "CreateLogGroup": self.create_log_group,
            "DeleteLogGroup": self.delete_log_group,
            "CreateLogStream": self.create_log_stream,
            "DeleteLogStream": self.delete_log_stream,
            "PutLogEvents": self.put_log_events,
            "TagResource": self.tag_resource,
            "UntagResource": self.untag_resource,
            "ListTagsForResource": self.list_tags_for_resource,
            "TagLogGroup": self.tag_log_group,
            "UntagLogGroup": self.untag_log_group,
            "ListTagsLogGroup": self.list_tags_log_group,
            "StartLiveTail": self.start_live_tail,
        }

    # -- helpers -------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return int(self.clock() * 1000)

    @staticmethod
    def _group_name(body: dict[str, Any]) -> str:
        raw = body.get("logGroupName") or body.get("logGroupIdentifier")
        if not isinstance(raw, str):
            raise _invalid("logGroupName is required")
        name = parse_log_group_identifier(raw)
        if not _GROUP.match(name):
            raise _invalid(
                f"1 validation error detected: Value '{name}' at 'logGroupName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                "[\\.\\-_/#A-Za-z0-9]+"
            )
        return name

    @staticmethod
    def _stream_name(body: dict[str, Any]) -> str:
        raw = body.get("logStreamName")
        if not isinstance(raw, str) or not _STREAM.match(raw):
            raise _invalid(
                f"1 validation error detected: Value '{raw}' at 'logStreamName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: [^:*]*"
            )
        return raw

    def require_group(self, group: str) -> None:
        """ResourceNotFoundException unless ``group`` exists."""
        self._existing(group)

    @staticmethod
    def start_live_tail(body: dict[str, Any]) -> dict[str, Any]:
        """Streamed by :class:`~lamina.services.logs.service.LogsService` on the request's
        connection; a call without one (Lamina asking itself) has nowhere to stream."""
        raise AwsServiceError(
            "InvalidOperationException", "StartLiveTail streams its answer: call it over HTTP"
        )

    def _existing(self, group: str) -> str:
        self.store.flush()  # a function's first lines may still be in the buffer
        folder = group_folder(group)
        if not (self.store.root / folder).is_dir():
            raise _not_found("log group")
        return folder

    def _cutoff(self, group: str) -> int:
        """Events before this are past the group's retention and never shown."""
        days = self.groups.retention(group)
        return 0 if days is None else self._now_ms() - days * DAY_MS

    def _created_ms(self, group: str, folder: str) -> int:
        info = self.groups.get(group)
        if info.created_ms is not None:
            return info.created_ms
        try:
            return int((self.store.root / folder).stat().st_ctime * 1000)
        except FileNotFoundError:
            return self._now_ms()

    # -- groups --------------------------------------------------------------------------------
    def describe_log_groups(self, body: dict[str, Any]) -> dict[str, Any]:
        prefix = body.get("logGroupNamePrefix") or ""
        pattern = str(body.get("logGroupNamePattern") or "").lower()
        if prefix and pattern:
            raise _invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive")
        limit = _integer(body, "limit", 50, 1, 50)
        after = _untoken(body["nextToken"]) if body.get("nextToken") else ""
        found = sorted((folder_group(f), f) for f in self.store.folders())
        chosen = [
            (g, f)
            for g, f in found
            if g.startswith(str(prefix)) and pattern in g.lower() and g > after
        ]
        page = chosen[:limit]
        out: dict[str, Any] = {"logGroups": [self._group_shape(g, f) for g, f in page]}
        if len(chosen) > limit:
            out["nextToken"] = _token(page[-1][0])
        return out

    def _group_shape(self, group: str, folder: str) -> dict[str, Any]:
        stored = 0
        for _stream, path in self.store.stream_paths(folder):
            try:
                stored += path.stat().st_size
            except FileNotFoundError:
                continue
        shape: dict[str, Any] = {
            "logGroupName": group,
            "creationTime": self._created_ms(group, folder),
            "metricFilterCount": 0,
            "arn": log_group_arn(self.region, self.account, group, star=True),
            "storedBytes": stored,
            "logGroupClass": "STANDARD",
            "logGroupArn": log_group_arn(self.region, self.account, group),
        }
        retention = self.groups.retention(group)
        if retention is not None:
            shape["retentionInDays"] = retention
        return shape

    def create_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        folder = group_folder(group)
        if (self.store.root / folder).is_dir():
            raise AwsServiceError(
                "ResourceAlreadyExistsException", "The specified log group already exists"
            )
        self.store.create(folder)
        tags = _tags(body.get("tags"))
        self.groups.set(group, GroupInfo(self.groups.retention(group), self._now_ms(), tags))
        return {}

    def delete_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        self.store.delete_group(self._existing(group))
        self.groups.forget(group)
        return {}

    def put_retention_policy(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        days = body.get("retentionInDays")
        try:
            days = validate_retention(days)
        except InvalidParameterValue as exc:  # CloudWatch's own error code
            raise _invalid(exc.message) from None
        self._existing(group)
        self.groups.set(group, replace(self.groups.get(group), retention_days=days))
        return {}

    def delete_retention_policy(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        self._existing(group)
        self.groups.set(group, replace(self.groups.get(group), retention_days=None))
        return {}

    # -- tags ----------------------------------------------------------------------------------
    def _group_of_arn(self, body: dict[str, Any]) -> str:
        arn = body.get("resourceArn")
        if not isinstance(arn, str) or ":log-group:" not in arn:
            raise _invalid("resourceArn must be a log group ARN")
        group = parse_log_group_identifier(arn.removesuffix(":*"))
        self._existing(group)
        return group

    def _retag(self, group: str, add: dict[str, str], remove: object = ()) -> None:
        if not isinstance(remove, list | tuple) or not all(isinstance(k, str) for k in remove):
            raise _invalid("tag keys must be a list of strings")
        info = self.groups.get(group)
        tags = {k: v for k, v in {**info.tags, **add}.items() if k not in remove}
        if len(tags) > MAX_TAGS:
            raise _invalid(f"A log group can have at most {MAX_TAGS} tags")
        self.groups.set(group, replace(info, tags=tags))

    def tag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        self._retag(self._group_of_arn(body), _tags(body.get("tags")))
        return {}

    def untag_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        self._retag(self._group_of_arn(body), {}, body.get("tagKeys") or [])
        return {}

    def list_tags_for_resource(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"tags": dict(self.groups.get(self._group_of_arn(body)).tags)}

    def tag_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        self._existing(group)
        self._retag(group, _tags(body.get("tags")))
        return {}

    def untag_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        self._existing(group)
        self._retag(group, {}, body.get("tags") or [])
        return {}

    def list_tags_log_group(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        self._existing(group)
        return {"tags": dict(self.groups.get(group).tags)}

    # -- streams -------------------------------------------------------------------------------
    def describe_log_streams(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        folder = self._existing(group)
        prefix = str(body.get("logStreamNamePrefix") or "")
        order = body.get("orderBy") or "LogStreamName"
        if order not in ("LogStreamName", "LastEventTime"):
            raise _invalid(
                f"1 validation error detected: Value '{order}' at 'orderBy' failed to satisfy "
                "constraint: Member must satisfy enum value set: [LogStreamName, LastEventTime]"
            )
        if order == "LastEventTime" and prefix:
            raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
        descending = bool(body.get("descending"))
        limit = _integer(body, "limit", 50, 1, 50)
        rows = []
        for stream, path in self.store.stream_paths(folder):
            if not stream.startswith(prefix):
                continue
            edges = _edges(path)
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            rows.append((stream, edges, st))
        key: Callable[[Any], Any] = (
            (lambda r: r[0])
            if order == "LogStreamName"
            else (lambda r: ((r[1] or (0, 0))[1], r[0]))
        )
        rows.sort(key=key, reverse=descending)
        start = int(_untoken(body["nextToken"])) if body.get("nextToken") else 0
        page = rows[start : start + limit]
        streams = []
        for stream, edges, st in page:
            shape: dict[str, Any] = {
                "logStreamName": stream,
                "creationTime": edges[0] if edges else int(st.st_ctime * 1000),
                "arn": log_stream_arn(self.region, self.account, group, stream),
                "storedBytes": st.st_size,
            }
            if edges:
                shape["firstEventTimestamp"] = edges[0]
                shape["lastEventTimestamp"] = edges[1]
                shape["lastIngestionTime"] = int(st.st_mtime * 1000)
                shape["uploadSequenceToken"] = "1"
            streams.append(shape)
        out: dict[str, Any] = {"logStreams": streams}
        if start + limit < len(rows):
            out["nextToken"] = _token(start + limit)
        return out

    def create_log_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        group, stream = self._group_name(body), self._stream_name(body)
        folder = self._existing(group)
        if self.store.stream_path(folder, stream).exists():
            raise AwsServiceError(
                "ResourceAlreadyExistsException", "The specified log stream already exists"
            )
        self.store.create(folder, stream)
        return {}

    def delete_log_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        group, stream = self._group_name(body), self._stream_name(body)
        folder = self._existing(group)
        if not self.store.stream_path(folder, stream).exists():
            raise _not_found("log stream")
        self.store.delete_stream(folder, stream)
        return {}

    def put_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        group, stream = self._group_name(body), self._stream_name(body)
        folder = self._existing(group)
        if not self.store.stream_path(folder, stream).exists():
            raise _not_found("log stream")
        events = body.get("logEvents")
        if not isinstance(events, list) or not 1 <= len(events) <= 10_000:
            raise _invalid("logEvents must hold 1 to 10,000 events")
        now = self._now_ms()
        parsed: list[tuple[int, str]] = []
        for event in events:
            if not isinstance(event, dict):
                raise _invalid("Each log event needs a timestamp and a message")
            ts, message = event.get("timestamp"), event.get("message")
            if not isinstance(ts, int) or isinstance(ts, bool) or not isinstance(message, str):
                raise _invalid("Each log event needs a timestamp and a message")
            parsed.append((ts, message))
        if any(a[0] > b[0] for a, b in itertools.pairwise(parsed)):
            raise _invalid(
                "Log events in a single PutLogEvents request must be in chronological order."
            )
        rejected: dict[str, int] = {}
        old = [i for i, (ts, _) in enumerate(parsed) if ts < now - TOO_OLD_MS]
        new = [i for i, (ts, _) in enumerate(parsed) if ts > now + TOO_NEW_MS]
        if old:
            rejected["tooOldLogEventEndIndex"] = old[-1] + 1
        if new:
            rejected["tooNewLogEventStartIndex"] = new[0]
        for i, (ts, message) in enumerate(parsed):
            if i not in old and i not in new:
                self.store.append(folder, stream, ts, message)
        self.store.flush()
        out: dict[str, Any] = {"nextSequenceToken": "1"}
        if rejected:
            out["rejectedLogEventsInfo"] = rejected
        return out

    # -- events --------------------------------------------------------------------------------
    def get_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        group, stream = self._group_name(body), self._stream_name(body)
        folder = self._existing(group)
        path = self.store.stream_path(folder, stream)
        self.store.flush()
        if not path.exists():
            raise _not_found("log stream")
        limit = _integer(body, "limit", 10_000, 1, 10_000)
        low = max(_optional_ms(body, "startTime") or 0, self._cutoff(group))
        high = _optional_ms(body, "endTime")
        token = body.get("nextToken")
        forward = bool(body.get("startFromHead"))
        position: int | None = None
        if token:
            if not isinstance(token, str) or token[:2] not in ("f/", "b/"):
                raise _invalid("The specified nextToken is invalid.")
            try:
                position = int(token[2:])
            except ValueError:
                raise _invalid("The specified nextToken is invalid.") from None
            forward = token.startswith("f/")
        selected = (
            (ts, message)
            for ts, message in read_events(path)
            if ts >= low and (high is None or ts < high)
        )
        window: deque[tuple[int, str]] = deque()
        start = 0
        if forward:
            start = position or 0
            for index, event in enumerate(selected):
                if index < start:
                    continue
                if len(window) == limit:
                    break
                window.append(event)
        else:
            window = deque(maxlen=limit)
            end = position
            count = 0
            for index, event in enumerate(selected):
                if end is not None and index >= end:
                    break
                window.append(event)
                count = index + 1
            start = count - len(window)
        size = sum(len(m) + 26 for _, m in window)
        while size > MAX_ANSWER_BYTES and len(window) > 1:
            if forward:
                size -= len(window.pop()[1]) + 26
            else:
                size -= len(window.popleft()[1]) + 26
                start += 1
        return {
            "events": [{"timestamp": ts, "message": m, "ingestionTime": ts} for ts, m in window],
            "nextForwardToken": f"f/{start + len(window):020d}",
            "nextBackwardToken": f"b/{start:020d}",
        }

    def filter_log_events(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._group_name(body)
        folder = self._existing(group)
        names = body.get("logStreamNames")
        prefix = body.get("logStreamNamePrefix")
        if names and prefix:
            raise _invalid(
                "logStreamNames and logStreamNamePrefix are mutually exclusive parameters"
            )
        if names is not None and (
            not isinstance(names, list) or not all(isinstance(n, str) for n in names)
        ):
            raise _invalid("logStreamNames must be a list of stream names")
        try:
            match = compile_pattern(body.get("filterPattern"))
        except InvalidParameterValue as exc:  # CloudWatch's own error code
            raise _invalid(exc.message) from None
        limit = _integer(body, "limit", 10_000, 1, 10_000)
        low = max(_optional_ms(body, "startTime") or 0, self._cutoff(group))
        high = _optional_ms(body, "endTime")
        after = tuple(_untoken(body["nextToken"])) if body.get("nextToken") else None
        self.store.flush()
        streams = [
            (stream, path)
            for stream, path in self.store.stream_paths(folder)
            if (not names or stream in names) and (not prefix or stream.startswith(str(prefix)))
        ]
        # A stream last written before ``startTime`` (allowing for PutLogEvents' events up to
        # 2 hours ahead) holds nothing to show: a polling tail reads only live streams.
        searched = [(s, p) for s, p in streams if low == 0 or _modified_ms(p) + TOO_NEW_MS >= low]

        def events_of(stream: str, path: Any) -> Iterator[tuple[int, str, int, str]]:
            for line, (ts, message) in enumerate(read_events(path)):
                if ts >= low and (high is None or ts < high):
                    yield ts, stream, line, message

        found: list[dict[str, Any]] = []
        size = 0
        more = False
        last: tuple[int, str, int] | None = None
        for ts, stream, line, message in heapq.merge(
            *(events_of(s, p) for s, p in searched), key=lambda e: (e[0], e[1], e[2])
        ):
            if after is not None and (ts, stream, line) <= after:
                continue
            if not match(message):
                continue
            if len(found) == limit or (found and size + len(message) > MAX_ANSWER_BYTES):
                more = True
                break
            size += len(message) + 100
            found.append(
                {
                    "logStreamName": stream,
                    "timestamp": ts,
                    "message": message,
                    "ingestionTime": ts,
                    "eventId": f"{ts:020d}{line:012d}{zlib.crc32(stream.encode()):010d}",
                }
            )
            last = (ts, stream, line)
        out: dict[str, Any] = {
            "events": found,
            "searchedLogStreams": [
                {"logStreamName": stream, "searchedCompletely": not more} for stream, _ in streams
            ],
        }
        if more and last is not None:
            out["nextToken"] = _token(list(last))
        return out
