"""EventBridge archives and replays: values, pure decisions and their SQLite store
(``event-archives.db``, next to the rules' ``schedules.db``).

An archive keeps the events put to one bus (those its optional pattern matches) for
``RetentionDays`` (0: for ever); a replay puts an archive's events of a time window back
on that bus. A replay's state moves STARTING -> RUNNING -> COMPLETED, or to CANCELLING ->
CANCELLED when cancelled, or to FAILED; a replay a restart interrupted is FAILED with a
reason that says how far it got (never left RUNNING)."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import Future
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lamina.store.sqlite_writer import SqliteWriter

FILE = "event-archives.db"
DAY_S = 86_400.0
PAGE = 100  # archived events read per query by a replay

SCHEMA = """
CREATE TABLE IF NOT EXISTS archives (
    name TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    event_pattern TEXT,
    retention_days INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    archive TEXT NOT NULL,
    event_time REAL NOT NULL,
    archived_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS archived_by_time ON archived_events (archive, archived_at);
CREATE TABLE IF NOT EXISTS replays (
    name TEXT PRIMARY KEY,
    archive TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    event_start REAL NOT NULL,
    event_end REAL NOT NULL,
    destination TEXT NOT NULL,
    filter_arns TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    last_replayed REAL,
    started REAL NOT NULL,
    ended REAL
);
"""

ACTIVE = ("STARTING", "RUNNING", "CANCELLING")
CANCELLABLE = ("STARTING", "RUNNING")


@dataclass(frozen=True, slots=True)
class Archive:
    name: str
    bus: str  # the event bus whose events it keeps
    description: str
    event_pattern: str | None  # None: every event put to the bus
    retention_days: int  # 0: for ever
    created: float  # epoch seconds


@dataclass(frozen=True, slots=True)
class Replay:
    name: str
    archive: str
    description: str
    event_start: float  # the window of event times replayed: [start, end)
    event_end: float
    destination: str  # the bus ARN (the archive's own bus)
    filter_arns: tuple[str, ...]  # rule ARNs; empty: every rule on the bus
    state: str
    reason: str
    last_replayed: float | None  # the event time of the last event replayed
    started: float
    ended: float | None


def event_time(event: dict[str, Any], default: float) -> float:
    """An event's ``time`` (``2026-12-06T08:30:00Z``) as epoch seconds; ``default`` if it
    has none that parses."""
    value = event.get("time")
    if isinstance(value, str):
        try:
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            pass
    return default


def retention_cutoff(retention_days: int, now: float) -> float | None:
    """Events archived before this time have expired; None: the archive keeps them all."""
    return None if retention_days <= 0 else now - retention_days * DAY_S


def recovered(replay: Replay, now: float) -> Replay:
    """A replay as a restart finds it: one that was under way has failed (its events up to
    ``EventLastReplayedTime`` were delivered; the rest were not), one being cancelled is
    cancelled; a finished one is as it was."""
    if replay.state in CANCELLABLE:
        reached = (
            "no event was replayed"
            if replay.last_replayed is None
            else "events up to EventLastReplayedTime were replayed"
        )
        return replace(
            replay,
            state="FAILED",
            reason=f"Lamina restarted while the replay was {replay.state}; {reached}.",
            ended=now,
        )
    if replay.state == "CANCELLING":
        return replace(replay, state="CANCELLED", ended=now)
    return replay


class ArchiveStore:
    """Archives and replays in memory (small), archived events on disk only."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self._writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="event-archives-db")
        rows = self._writer.call(
            lambda c: c.execute(
                "SELECT name, bus, description, event_pattern, retention_days, created "
                "FROM archives"
            ).fetchall()
        )
        self.archives: dict[str, Archive] = {r[0]: Archive(*r) for r in rows}
        replays = self._writer.call(
            lambda c: c.execute(
                "SELECT name, archive, description, event_start, event_end, destination, "
                "filter_arns, state, reason, last_replayed, started, ended FROM replays"
            ).fetchall()
        )
        self.replays: dict[str, Replay] = {}
        for (
            name,
            archive,
            text,
            start,
            end,
            dest,
            filters,
            state,
            reason,
            last,
            began,
            ended,
        ) in replays:
            self.replays[name] = Replay(
                name,
                archive,
                text,
                start,
                end,
                dest,
                tuple(json.loads(filters)),
                state,
                reason,
                last,
                began,
                ended,
            )

    def close(self) -> None:
        self._writer.close()

    # -- archives -----------------------------------------------------------------------
    def save_archive(self, archive: Archive) -> None:
        self._writer.call(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO archives (name, bus, description, event_pattern, "
                "retention_days, created) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    archive.name,
                    archive.bus,
                    archive.description,
                    archive.event_pattern,
                    archive.retention_days,
                    archive.created,
                ),
            )
        )
        self.archives[archive.name] = archive

    def delete_archive(self, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM archives WHERE name = ?", (name,))
            c.execute("DELETE FROM archived_events WHERE archive = ?", (name,))

        self._writer.call(op)
        self.archives.pop(name, None)

    def append(self, archive: str, event: dict[str, Any], now: float) -> None:
        """Keep ``event`` in ``archive``. Queued, not awaited: PutEvents does not wait on the
        archive's disk (as EventBridge archives asynchronously); later reads see it, since
        the writer runs operations in order."""
        body = json.dumps(event, separators=(",", ":"))
        at = event_time(event, now)
        self._writer.submit(
            lambda c: c.execute(
                "INSERT INTO archived_events (archive, event_time, archived_at, body) "
                "VALUES (?, ?, ?, ?)",
                (archive, at, now, body),
            )
        )

    def usage(self, name: str) -> tuple[int, int]:
        """(EventCount, SizeBytes) of an archive."""
        count, size = self._writer.call(
            lambda c: c.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(CAST(body AS BLOB))), 0) "
                "FROM archived_events WHERE archive = ?",
                (name,),
            ).fetchone()
        )
        return int(count), int(size)

    def sweep(self, now: float) -> Future[int]:
        """Delete the events past their archive's retention (queued; the future holds how
        many were deleted once committed)."""
        cutoffs = [
            (a.name, cut)
            for a in self.archives.values()
            if (cut := retention_cutoff(a.retention_days, now)) is not None
        ]

        def op(c: sqlite3.Connection) -> int:
            gone = 0
            for name, cut in cutoffs:
                gone += c.execute(
                    "DELETE FROM archived_events WHERE archive = ? AND archived_at < ?",
                    (name, cut),
                ).rowcount
            return gone

        return self._writer.submit(op)

    async def page(
        self, archive: str, start: float, end: float, after: int
    ) -> list[tuple[int, float, str]]:
        """The next archived events of a window, in the order they were archived:
        (seq, event time, event JSON) after ``seq`` ``after``."""
        return await self._writer.run(
            lambda c: c.execute(
                "SELECT seq, event_time, body FROM archived_events WHERE archive = ? "
                "AND event_time >= ? AND event_time < ? AND seq > ? ORDER BY seq LIMIT ?",
                (archive, start, end, after, PAGE),
            ).fetchall()
        )

    # -- replays ------------------------------------------------------------------------
    def save_replay(self, replay: Replay) -> None:
        self._writer.call(lambda c: _write_replay(c, replay))
        self.replays[replay.name] = replay

    async def record_replay(self, replay: Replay) -> None:
        """Save a replay's progress from the replay's task (not blocking the loop)."""
        self.replays[replay.name] = replay
        await self._writer.run(lambda c: _write_replay(c, replay))


def _write_replay(c: sqlite3.Connection, r: Replay) -> None:
    c.execute(
        "INSERT OR REPLACE INTO replays (name, archive, description, event_start, event_end, "
        "destination, filter_arns, state, reason, last_replayed, started, ended) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            r.name,
            r.archive,
            r.description,
            r.event_start,
            r.event_end,
            r.destination,
            json.dumps(list(r.filter_arns)),
            r.state,
            r.reason,
            r.last_replayed,
            r.started,
            r.ended,
        ),
    )
