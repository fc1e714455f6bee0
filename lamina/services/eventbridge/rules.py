"""Schedule rules and their targets: values, and their SQLite store (``schedules.db``)."""

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
    last_tick REAL
);
CREATE TABLE IF NOT EXISTS targets (
    rule TEXT NOT NULL,
    id TEXT NOT NULL,
    arn TEXT NOT NULL,
    input TEXT,
    input_path TEXT,
    PRIMARY KEY (rule, id)
);
"""


@dataclass(frozen=True, slots=True)
class Target:
    id: str
    arn: str
    input: str | None = None  # constant JSON text that replaces the event
    input_path: str | None = None  # "$.detail" etc.: a part of the event


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    schedule: str  # the expression as written, e.g. "rate(5 minutes)"
    state: str  # ENABLED | DISABLED
    description: str
    anchor: float  # epoch seconds: rate ticks count from here (creation or last enable)
    last_tick: float | None  # the last tick fired (or deliberately skipped)
    targets: tuple[Target, ...] = ()

    @property
    def enabled(self) -> bool:
        return self.state == "ENABLED"


class RuleStore:
    """Rules in memory (the scheduler loop reads them) and on disk."""

    def __init__(self, path: Path) -> None:
        self._writer = SqliteWriter(path, SCHEMA, name="schedules-db")
        self.rules: dict[str, Rule] = {}
        rows = self._writer.call(lambda c: c.execute("SELECT * FROM rules").fetchall())
        targets = self._writer.call(
            lambda c: c.execute("SELECT rule, id, arn, input, input_path FROM targets").fetchall()
        )
        for name, schedule, state, description, anchor, last_tick in rows:
            mine = tuple(Target(*t[1:]) for t in targets if t[0] == name)
            self.rules[name] = Rule(name, schedule, state, description, anchor, last_tick, mine)

    def close(self) -> None:
        self._writer.close()

    def save(self, rule: Rule) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?)",
                (
                    rule.name,
                    rule.schedule,
                    rule.state,
                    rule.description,
                    rule.anchor,
                    rule.last_tick,
                ),
            )
            c.execute("DELETE FROM targets WHERE rule = ?", (rule.name,))
            c.executemany(
                "INSERT INTO targets VALUES (?, ?, ?, ?, ?)",
                [(rule.name, t.id, t.arn, t.input, t.input_path) for t in rule.targets],
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
