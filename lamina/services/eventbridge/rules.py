"""Rules (schedules, event patterns) and their targets: values, and their SQLite store
(``schedules.db``)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, replace
from pathlib import Path

from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS rules (
    name TEXT PRIMARY KEY,
    schedule TEXT NOT NULL,
    state TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    anchor REAL NOT NULL,
    last_tick REAL,
    flexible_window_s INTEGER NOT NULL DEFAULT 0,
    event_pattern TEXT
);
CREATE TABLE IF NOT EXISTS targets (
    rule TEXT NOT NULL,
    id TEXT NOT NULL,
    arn TEXT NOT NULL,
    input TEXT,
    input_path TEXT,
    max_retries INTEGER,
    max_age_s INTEGER,
    role_arn TEXT,
    PRIMARY KEY (rule, id)
);
"""
# Columns added after the first release: added to older files when they are opened.
_ADDED = (
    ("rules", "flexible_window_s", "INTEGER NOT NULL DEFAULT 0"),
    ("targets", "max_retries", "INTEGER"),
    ("targets", "max_age_s", "INTEGER"),
    ("targets", "role_arn", "TEXT"),
    ("rules", "event_pattern", "TEXT"),
)
# EventBridge's (and EventBridge Scheduler's) default RetryPolicy.
DEFAULT_MAX_RETRIES = 185
DEFAULT_MAX_AGE_S = 86_400


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    arn: str
    input: str | None = None  # constant JSON text that replaces the event
    input_path: str | None = None  # "$.detail" etc.: a part of the event
    # RetryPolicy: how often, and for how long, a failed delivery is retried (None: default).
    max_retries: int | None = None
    max_age_s: int | None = None
    role_arn: str | None = None  # the role the target is called with (kept and shown)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    schedule: str  # the expression as written, e.g. "rate(5 minutes)"; "" for none
    state: str  # ENABLED | DISABLED
    description: str
    anchor: float  # epoch seconds: rate ticks count from here (creation or last enable)
    last_tick: float | None  # the last tick fired (or deliberately skipped)
    targets: tuple[Target, ...] = ()
    # FlexibleTimeWindow (EventBridge Scheduler): each tick fires within this many seconds
    # after its scheduled time (0: on time).
    flexible_window_s: int = 0
    # EventPattern (EventBridge rules): the JSON text events put to the bus are matched with.
    event_pattern: str | None = None

    @property
    def enabled(self) -> bool:
        return self.state == "ENABLED"


class RuleStore:
    """Rules in memory (the scheduler loop reads them) and on disk."""

    def __init__(self, path: Path) -> None:
        self._writer = SqliteWriter(path, SCHEMA, name="schedules-db")
        self._writer.call(_add_columns)
        self.rules: dict[str, Rule] = {}
        rows = self._writer.call(
            lambda c: c.execute(
                "SELECT name, schedule, state, description, anchor, last_tick, "
                "flexible_window_s, event_pattern FROM rules"
            ).fetchall()
        )
        targets = self._writer.call(
            lambda c: c.execute(
                "SELECT rule, id, arn, input, input_path, max_retries, max_age_s, role_arn "
                "FROM targets"
            ).fetchall()
        )
        for name, schedule, state, description, anchor, last_tick, window, pattern in rows:
            mine = tuple(Target(*t[1:]) for t in targets if t[0] == name)
            self.rules[name] = Rule(
                name, schedule, state, description, anchor, last_tick, mine, int(window), pattern
            )

    def close(self) -> None:
        self._writer.close()

    def save(self, rule: Rule) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO rules (name, schedule, state, description, anchor, "
                "last_tick, flexible_window_s, event_pattern) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.name,
                    rule.schedule,
                    rule.state,
                    rule.description,
                    rule.anchor,
                    rule.last_tick,
                    rule.flexible_window_s,
                    rule.event_pattern,
                ),
            )
            c.execute("DELETE FROM targets WHERE rule = ?", (rule.name,))
            c.executemany(
                "INSERT INTO targets (rule, id, arn, input, input_path, max_retries, max_age_s, "
                "role_arn) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        rule.name,
                        t.id,
                        t.arn,
                        t.input,
                        t.input_path,
                        t.max_retries,
                        t.max_age_s,
                        t.role_arn,
                    )
                    for t in rule.targets
                ],
            )

        self._writer.call(op)
        self.rules[rule.name] = rule

    async def record_tick(self, name: str, tick: float) -> None:
        """Remember the last tick fired, durably, so a restart neither repeats nor loses it."""

        def op(c: sqlite3.Connection) -> None:
            c.execute("UPDATE rules SET last_tick = ? WHERE name = ?", (tick, name))

        await self._writer.run(op)
        rule = self.rules.get(name)
        if rule is not None:
            self.rules[name] = replace(rule, last_tick=tick)

    def delete(self, name: str) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM rules WHERE name = ?", (name,))
            c.execute("DELETE FROM targets WHERE rule = ?", (name,))

        self._writer.call(op)
        self.rules.pop(name, None)


def _add_columns(c: sqlite3.Connection) -> None:
    for table, column, kind in _ADDED:
        have = {row[1] for row in c.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            c.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
