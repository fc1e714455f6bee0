"""Access-log analyser, Python (handler ``app.handler``; runtime ``python3.11``).

A CloudWatch Logs subscription handler: the event is ``{"awslogs": {"data": <base64 of
gzipped JSON>}}`` whose ``logEvents[].message`` are nginx "combined" access-log lines with
the request time appended. Each line is parsed with one regular expression and the lot is
aggregated: status classes, methods, bytes, latency percentiles, the busiest minute, the
top paths and clients. The Rust twin (``../../rust/loglines``, the ``regex`` crate) gives
the same answer: the pattern uses only what both engines read alike (``[0-9]`` rather than
``\\d``, ``[^ ]`` rather than ``\\S``), times are parsed as integer milliseconds (never
floats), and every ranking breaks ties by name.
"""

from __future__ import annotations

import base64
import gzip
import json
import re
from collections import Counter
from typing import Any

# Matched against the whole line (fullmatch; the Rust twin anchors it with ^...$).
LINE = re.compile(
    r'([^ ]+) [^ ]+ [^ ]+ \[([0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}):[0-9]{2} [^\]]*\] '
    r'"([A-Z]+) ([^ "]+) [^ "]+" ([0-9]{3}) ([0-9]{1,15}|-) "[^"]*" "[^"]*"'
    r"(?: ([0-9]{1,6})\.([0-9]{1,6}))?"
)
TOP = 10


class LogError(Exception):
    """Raised when the event is not a CloudWatch Logs subscription event."""


def millis(seconds: str, fraction: str) -> int:
    """``0.042`` → 42: whole milliseconds, the fraction's digits beyond three dropped."""
    return int(seconds) * 1000 + int((fraction + "00")[:3])


def nearest_rank(ordered: list[int], percent: int) -> int:
    rank = max(1, (percent * len(ordered) + 99) // 100)
    return ordered[rank - 1]


def ranking(counts: Counter[str], limit: int) -> list[list[Any]]:
    """The ``limit`` largest counts, ties by key: ``[[key, count], ...]``."""
    return [[k, n] for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # json.loads would accept NaN and Infinity


def messages(event: Any) -> list[Any]:
    """The log events' messages (not necessarily strings: those count as unparsed)."""
    try:
        data = event["awslogs"]["data"]
        raw = gzip.decompress(base64.b64decode(data, validate=True))
        document = json.loads(raw.decode("utf-8"), parse_constant=_no_constants)
        return [e["message"] for e in document["logEvents"]]
    except (KeyError, TypeError, ValueError, OSError, EOFError):
        raise LogError("not a CloudWatch Logs subscription event") from None


def handler(event: Any, context: Any) -> dict[str, Any]:
    lines = messages(event)
    statuses: Counter[str] = Counter()
    methods: Counter[str] = Counter()
    minutes: Counter[str] = Counter()
    clients: Counter[str] = Counter()
    paths: dict[str, list[int]] = {}  # path -> [requests, 5xx, bytes]
    times: list[int] = []
    total_bytes = 0
    unparsed = 0
    for line in lines:
        m = LINE.fullmatch(line) if isinstance(line, str) else None
        if m is None:
            unparsed += 1
            continue
        client, minute, method, target, status, size, secs, frac = m.groups()
        statuses[status[0] + "xx"] += 1
        methods[method] += 1
        minutes[minute] += 1
        clients[client] += 1
        sent = 0 if size == "-" else int(size)
        total_bytes += sent
        path = target.split("?", 1)[0]
        entry = paths.setdefault(path, [0, 0, 0])
        entry[0] += 1
        entry[1] += status[0] == "5"
        entry[2] += sent
        if secs is not None:
            times.append(millis(secs, frac))
    times.sort()
    top_paths = sorted(paths.items(), key=lambda kv: (-kv[1][0], kv[0]))[:TOP]
    busiest = ranking(minutes, 1)
    return {
        "lines": len(lines),
        "parsed": len(lines) - unparsed,
        "unparsed": unparsed,
        "bytes": total_bytes,
        "statusClasses": dict(statuses),
        "methods": dict(methods),
        "latencyMs": None
        if not times
        else {
            "count": len(times),
            "p50": nearest_rank(times, 50),
            "p95": nearest_rank(times, 95),
            "p99": nearest_rank(times, 99),
            "max": times[-1],
        },
        "busiestMinute": {"minute": busiest[0][0], "requests": busiest[0][1]} if busiest else None,
        "topPaths": [
            {"path": p, "requests": n, "serverErrors": e, "bytes": b} for p, (n, e, b) in top_paths
        ],
        "topClients": ranking(clients, 5),
    }
