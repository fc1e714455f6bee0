"""The REPORT line Lambda writes after every invoke, parsed into numbers.

``REPORT RequestId: <id>\\tDuration: 4157.16 ms\\tBilled Duration: 4158 ms\\tMemory Size:
256 MB\\tMax Memory Used: 99 MB\\tInit Duration: 841.60 ms\\t`` — ``Init Duration`` only on
a cold start. The tools read it from the log tail an invoke returns with
``X-Amz-Log-Type: Tail``, exactly as a user of AWS would.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_REPORT = re.compile(
    r"REPORT RequestId: (?P<id>\S+)\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: (?P<max>\d+) MB\t?(?:Init Duration: (?P<init>[\d.]+) ms)?"
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

    @property
    def cold(self) -> bool:
        return self.init_ms is not None


def parse_report(log_tail: str) -> Report | None:
    """The last REPORT line of a log tail, or None when it has none."""
    found = None
    for found in _REPORT.finditer(log_tail):  # noqa: B007 - the last match is wanted
        pass
    if found is None:
        return None
    init = found.group("init")
    return Report(
        request_id=found.group("id"),
        duration_ms=float(found.group("duration")),
        billed_ms=int(found.group("billed")),
        memory_mb=int(found.group("memory")),
        max_memory_mb=int(found.group("max")),
        init_ms=float(init) if init else None,
    )
