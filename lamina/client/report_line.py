"""The REPORT line Lambda writes after every invoke, parsed into numbers.

``REPORT RequestId: <id>\\tDuration: 4157.16 ms\\tBilled Duration: 4158 ms\\tMemory Size:
256 MB\\tMax Memory Used: 99 MB\\tInit Duration: 841.60 ms\\t`` — ``Init Duration`` only on
a cold start; a SnapStart-style restore adds ``Restore Duration`` and ``Billed Restore
Duration`` instead. Functions logging in JSON write the same figures as a
``platform.report`` record. The tools read them from the log tail an invoke returns with
``X-Amz-Log-Type: Tail``, exactly as a user of AWS would.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<max>\d+) MB\t?(?:Init Duration: (?P<init>[\d.]+) ms\t?)?"
    r"(?:Restore Duration: (?P<restore>[\d.]+) ms\t?)?"
)


@dataclass(frozen=True, slots=True)
class Report:
    """The figures of one REPORT line."""

    request_id: str
    duration_ms: float
    billed_ms: int
    memory_mb: int
    max_memory_mb: int
    init_ms: float | None  # only on a cold start
    restore_ms: float | None = None  # only on a cold start restored from a snapshot

    @property
    def cold(self) -> bool:
        return self.init_ms is not None or self.restore_ms is not None


def parse_report(log_tail: str) -> Report | None:
    """The last report of a log tail (text REPORT line or JSON record), or None."""
    found: Report | None = None
    for line in log_tail.splitlines():
        if line.startswith("{"):
            found = _json_report(line) or found
            continue
        m = _REPORT.search(line)
        if m is not None:
            init, restore = m.group("init"), m.group("restore")
            found = Report(
                request_id=m.group("id"),
                duration_ms=float(m.group("duration")),
                billed_ms=int(m.group("billed")),
                memory_mb=int(m.group("memory")),
                max_memory_mb=int(m.group("max")),
                init_ms=float(init) if init else None,
                restore_ms=float(restore) if restore else None,
            )
    return found


def _json_report(line: str) -> Report | None:
    """A ``{"type": "platform.report", "record": {...}}`` line of the JSON log format."""
    try:
        doc: Any = json.loads(line)
        if doc.get("type") != "platform.report":
            return None
        record = doc["record"]
        metrics = record["metrics"]
        init, restore = metrics.get("initDurationMs"), metrics.get("restoreDurationMs")
        return Report(
            request_id=str(record["requestId"]),
            duration_ms=float(metrics["durationMs"]),
            billed_ms=int(metrics["billedDurationMs"]),
            memory_mb=int(metrics["memorySizeMB"]),
            max_memory_mb=int(metrics["maxMemoryUsedMB"]),
            init_ms=None if init is None else float(init),
            restore_ms=None if restore is None else float(restore),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
