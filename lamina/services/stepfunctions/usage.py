"""What workflows used, for ``lamina cost``: one row per state machine and UTC day.

Each execution adds to its state machine's row for the day it ended: Standard ones their
state transitions (billed per transition), Express ones their billed MB-milliseconds
(the memory step times the duration rounded up to 100 ms, per execution, as AWS bills).
Rows are summed on write (an upsert), so the table grows with state machines and days,
never with executions: a million Express executions a day is one row.

One read path: :func:`read_usage` opens the data directory's ``stepfunctions.db`` read-only;
the server answers ``GET /lamina/v1/ledger`` with it, and ``lamina cost --offline`` /
``--data-dir`` calls it on the file.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamina.services.stepfunctions.records import ExecutionRecord
from lamina.workflows.cost import (
    WorkflowPrices,
    billed_duration_ms,
    billed_memory_mb,
    express_memory_mb,
    transitions,
)

log = logging.getLogger("lamina.stepfunctions.usage")

USAGE_FILE = "stepfunctions.db"
USAGE_SCHEMA = """
CREATE TABLE IF NOT EXISTS usage (
    machine_arn TEXT NOT NULL, day TEXT NOT NULL, type TEXT NOT NULL,
    executions INTEGER NOT NULL, transitions INTEGER NOT NULL, billed_ms INTEGER NOT NULL,
    mb_ms INTEGER NOT NULL, PRIMARY KEY (machine_arn, day)
);
"""
UPSERT = (
    "INSERT INTO usage VALUES (?,?,?,?,?,?,?) ON CONFLICT (machine_arn, day) DO UPDATE SET"
    " executions = executions + excluded.executions,"
    " transitions = transitions + excluded.transitions,"
    " billed_ms = billed_ms + excluded.billed_ms, mb_ms = mb_ms + excluded.mb_ms"
)


@dataclass(frozen=True, slots=True)
class WorkflowUsage:
    """A state machine's use over a span (or one day, as stored)."""

    machine_arn: str
    type: str  # STANDARD | EXPRESS
    executions: int
    transitions: int  # Standard: states entered plus task retries
    billed_ms: int  # Express: summed rounded durations
    mb_ms: int  # Express: summed memory step * rounded duration

    @property
    def name(self) -> str:
        return self.machine_arn.rsplit(":", 1)[-1]

    def to_json(self) -> dict[str, Any]:
        return {
            "stateMachineArn": self.machine_arn,
            "type": self.type,
            "executions": self.executions,
            "transitions": self.transitions,
            "billedMs": self.billed_ms,
            "mbMs": self.mb_ms,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> WorkflowUsage:
        return cls(
            str(doc["stateMachineArn"]),
            str(doc["type"]),
            int(doc["executions"]),
            int(doc["transitions"]),
            int(doc["billedMs"]),
            int(doc["mbMs"]),
        )


def _day(epoch_s: float) -> str:
    return datetime.fromtimestamp(epoch_s, UTC).date().isoformat()


def usage_row(
    ex: ExecutionRecord, prices: WorkflowPrices, wall: float | None = None
) -> tuple[Any, ...]:
    """The usage an execution that just ended adds (an :data:`UPSERT` row), on the UTC day
    of ``wall`` (now): the execution's own times are on the workflow clock, which a time
    scale speeds up, so they say how long it ran (what Express bills), not when. A
    redriven Standard execution counts only the transitions since its last redrive: those
    before were counted when it ended the first time."""
    assert ex.stopped is not None
    machine = ex.machine_arn
    day = _day(time.time() if wall is None else wall)
    if ex.express:
        ms = billed_duration_ms((ex.stopped - ex.started) * 1000, prices)
        mb = billed_memory_mb(express_memory_mb(ex.definition, ex.input, ex.output or ""), prices)
        return (machine, day, "EXPRESS", 1, 0, ms, mb * ms)
    start = 0
    for i in range(len(ex.history) - 1, -1, -1):
        if ex.history[i].type == "ExecutionRedriven":
            start = i
            break
    count = transitions([{"type": e.type} for e in ex.history[start:]])
    return (machine, day, "STANDARD", 0 if start else 1, count, 0, 0)


def _span(since: float | None, until: float | None) -> tuple[str, list[str]]:
    where, args = [], []
    if since is not None:
        where.append("day >= ?")
        args.append(_day(since))
    if until is not None:
        where.append("day <= ?")
        args.append(_day(until))
    return (" WHERE " + " AND ".join(where)) if where else "", args


def query_usage(
    c: sqlite3.Connection, since: float | None = None, until: float | None = None
) -> list[WorkflowUsage]:
    """Each state machine's use over the UTC days the span touches."""
    where, args = _span(since, until)
    rows = c.execute(
        "SELECT machine_arn, type, SUM(executions), SUM(transitions), SUM(billed_ms),"
        f" SUM(mb_ms) FROM usage{where} GROUP BY machine_arn, type ORDER BY machine_arn",
        args,
    ).fetchall()
    return [WorkflowUsage(str(r[0]), str(r[1]), *(int(v) for v in r[2:])) for r in rows]


def read_usage(
    data_dir: Path, since: float | None = None, until: float | None = None
) -> list[WorkflowUsage]:
    """The usage in ``data_dir``'s workflow store, read-only; none when there is no store
    yet (a server that never ran a workflow) or it predates the usage table."""
    path = data_dir / USAGE_FILE
    if not path.is_file():
        return []
    try:
        c = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    except sqlite3.Error as exc:
        log.warning("cannot open %s for workflow usage: %s", path, exc)
        return []
    try:
        return query_usage(c, since, until)
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    finally:
        c.close()
