"""What the numbers were measured on: cores, CPU model, kernel, Python, sandbox tier."""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Machine:
    cpus: int
    cpu_model: str
    kernel: str
    memory_gb: float
    python: str
    sandbox: str  # Lamina's isolation tier, from GET /lamina/v1/health
    event_loop: str  # "uvloop" or "asyncio", from Lamina's start-up line
    date: str  # UTC, ISO 8601 to the minute
    load_average: float  # 1-minute load average when the run ended: other work skews results


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` of ``/proc/cpuinfo`` text ("unknown" when there is none)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return "unknown"


def memory_gb(meminfo: str) -> float:
    """``MemTotal`` of ``/proc/meminfo`` text, in GiB (0 when missing)."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / (1024 * 1024)
    return 0.0


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def describe_machine(sandbox: str, event_loop: str, now: datetime | None = None) -> Machine:
    when = now or datetime.now(UTC)
    return Machine(
        cpus=len(os.sched_getaffinity(0)),
        cpu_model=cpu_model(_read("/proc/cpuinfo")),
        kernel=platform.release(),
        memory_gb=memory_gb(_read("/proc/meminfo")),
        python=sys.version.split()[0],
        sandbox=sandbox,
        event_loop=event_loop,
        date=when.strftime("%Y-%m-%d %H:%M UTC"),
        load_average=os.getloadavg()[0],
    )
