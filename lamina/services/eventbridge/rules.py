"""Rules (schedules, event patterns), their targets and the custom event buses they are on:
values, and their SQLite store (``schedules.db``).

A rule is named within its bus: the store keys it by :attr:`Rule.key` (its name on the
``default`` bus, ``<bus>/<name>`` on a custom one; a bus or rule name holds no ``/``)."""

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
    event_pattern TEXT,
    bus TEXT NOT NULL DEFAULT 'default'
);
CREATE TABLE IF NOT EXISTS event_buses (
    name TEXT PRIMARY KEY,
    description TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL
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
    input_transformer TEXT,
    message_group_id TEXT,
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
    ("rules", "bus", "TEXT NOT NULL DEFAULT 'default'"),
    ("targets", "input_transformer", "TEXT"),
    ("targets", "message_group_id", "TEXT"),
)
DEFAULT_BUS = "default"
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
    # InputTransformer as JSON text ({"InputPathsMap", "InputTemplate"}; see
    # lamina.services.eventbridge.input_transformer).
    input_transformer: str | None = None
    # SqsParameters.MessageGroupId: the message group of what it sends to a queue (a FIFO
    # queue needs one).
    message_group_id: str | None = None


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
    bus: str = DEFAULT_BUS  # the event bus the rule is on

    @property
    def enabled(self) -> bool:
        return self.state == "ENABLED"

    @property
    def key(self) -> str:
        """The store's key: the name on the default bus, ``<bus>/<name>`` on another."""
        return rule_key(self.bus, self.name)


def rule_key(bus: str, name: str) -> str:
    return name if bus == DEFAULT_BUS else f"{bus}/{name}"


@dataclass(frozen=True, slots=True)
class EventBus:
    """A custom event bus (the default bus always exists and is not stored)."""

    name: str
    description: str
    created: float  # epoch seconds


class RuleStore:
    """Rules in memory (the scheduler loop reads them) and on disk."""

    def __init__(self, path: Path) -> None:
        self._writer = SqliteWriter(path, SCHEMA, name="schedules-db")
        self._writer.call(_add_columns)
        self.rules: dict[str, Rule] = {}  # by Rule.key
        self.buses: dict[str, EventBus] = {
            name: EventBus(name, description, created)
            for name, description, created in self._writer.call(
                lambda c: c.execute("SELECT name, description, created FROM event_buses").fetchall()
            )
        }
        rows = self._writer.call(
            lambda c: c.execute(
                "SELECT name, schedule, state, description, anchor, last_tick, "
                "flexible_window_s, event_pattern, bus FROM rules"
            ).fetchall()
        )
        targets = self._writer.call(
            lambda c: c.execute(
                "SELECT rule, id, arn, input, input_path, max_retries, max_age_s, role_arn, "
                "input_transformer, message_group_id FROM targets"
            ).fetchall()
        )
        for key, schedule, state, description, anchor, last_tick, window, pattern, bus in rows:
            mine = tuple(Target(*t[1:]) for t in targets if t[0] == key)
            name = key if bus == DEFAULT_BUS else key[len(bus) + 1 :]
            self.rules[key] = Rule(
                name,
                schedule,
                state,
                description,
                anchor,
                last_tick,
                mine,
                int(window),
                pattern,
                bus,
            )

    def close(self) -> None:
        self._writer.close()

    def save(self, rule: Rule) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO rules (name, schedule, state, description, anchor, "
                "last_tick, flexible_window_s, event_pattern, bus) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.key,
                    rule.schedule,
                    rule.state,
                    rule.description,
                    rule.anchor,
                    rule.last_tick,
                    rule.flexible_window_s,
                    rule.event_pattern,
                    rule.bus,
                ),
            )
            c.execute("DELETE FROM targets WHERE rule = ?", (rule.key,))
            c.executemany(
                "INSERT INTO targets (rule, id, arn, input, input_path, max_retries, max_age_s, "
                "role_arn, input_transformer, message_group_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        rule.key,
                        t.id,
                        t.arn,
                        t.input,
                        t.input_path,
                        t.max_retries,
                        t.max_age_s,
                        t.role_arn,
                        t.input_transformer,
                        t.message_group_id,
                    )
                    for t in rule.targets
                ],
            )

        self._writer.call(op)
        self.rules[rule.key] = rule

    def save_bus(self, bus: EventBus) -> None:
        self._writer.call(
            lambda c: c.execute(
                "INSERT OR REPLACE INTO event_buses (name, description, created) VALUES (?, ?, ?)",
                (bus.name, bus.description, bus.created),
            )
        )
        self.buses[bus.name] = bus

    def delete_bus(self, name: str) -> None:
        self._writer.call(lambda c: c.execute("DELETE FROM event_buses WHERE name = ?", (name,)))
        self.buses.pop(name, None)

    async def record_tick(self, name: str, tick: float) -> None:
        """Remember the last tick fired, durably, so a restart neither repeats nor loses it."""

        def op(c: sqlite3.Connection) -> None:
            c.execute("UPDATE rules SET last_tick = ? WHERE name = ?", (tick, name))

        await self._writer.run(op)
        rule = self.rules.get(name)
        if rule is not None:
            self.rules[name] = replace(rule, last_tick=tick)

    def delete(self, name: str) -> None:
        """Delete the rule keyed ``name`` (its :attr:`Rule.key`)."""

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
