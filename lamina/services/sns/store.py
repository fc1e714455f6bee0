"""Topics, their subscriptions and tags: values and their SQLite store (``sns.db``).

Every change is committed before the call that made it is answered, so topics and
subscriptions survive a restart; messages are not stored here: a publish is answered once
each subscriber's delivery is itself durable (the async-invoke queue, the SQS store).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    arn TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS subscriptions (
    arn TEXT PRIMARY KEY,
    topic_arn TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attributes TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_topic ON subscriptions (topic_arn);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
"""


@dataclass(frozen=True, slots=True)
class Topic:
    arn: str
    name: str
    attributes: dict[str, str]  # the settable ones, as set


@dataclass(frozen=True, slots=True)
class Subscription:
    arn: str
    topic_arn: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]  # the settable ones, as set


def _topic(row: tuple[str, str, str]) -> Topic:
    return Topic(row[0], row[1], json.loads(row[2]))


def _subscription(row: tuple[str, str, str, str, str]) -> Subscription:
    return Subscription(row[0], row[1], row[2], row[3], json.loads(row[4]))


_SUB_COLUMNS = "arn, topic_arn, protocol, endpoint, attributes"


class SnsStore:
    """Durable (each change committed before it returns), small, async."""

    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self._writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="sns-db")

    def close(self) -> None:
        self._writer.close()

    # -- topics -------------------------------------------------------------------------
    async def get_topic(self, arn: str) -> Topic | None:
        row = await self._writer.run(
            lambda c: c.execute(
                "SELECT arn, name, attributes FROM topics WHERE arn = ?", (arn,)
            ).fetchone()
        )
        return None if row is None else _topic(row)

    async def create_topic(self, topic: Topic, tags: dict[str, str], now: float) -> Topic:
        """Create ``topic`` unless one of its ARN exists; returns the stored one."""

        def op(c: sqlite3.Connection) -> Topic:
            row = c.execute(
                "SELECT arn, name, attributes FROM topics WHERE arn = ?", (topic.arn,)
            ).fetchone()
            if row is not None:
                return _topic(row)
            c.execute(
                "INSERT INTO topics VALUES (?, ?, ?, ?)",
                (topic.arn, topic.name, json.dumps(topic.attributes), now),
            )
            c.executemany(
                "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                [(topic.arn, k, v) for k, v in tags.items()],
            )
            return topic

        return await self._writer.run(op)

    async def count_topics(self) -> int:
        row = await self._writer.run(lambda c: c.execute("SELECT count(*) FROM topics").fetchone())
        return int(row[0])

    async def set_topic_attributes(self, arn: str, attributes: dict[str, str]) -> None:
        await self._writer.run(
            lambda c: c.execute(
                "UPDATE topics SET attributes = ? WHERE arn = ?", (json.dumps(attributes), arn)
            )
        )

    async def delete_topic(self, arn: str) -> None:
        """The topic, its subscriptions and its tags."""

        def op(c: sqlite3.Connection) -> None:
            c.execute("DELETE FROM topics WHERE arn = ?", (arn,))
            c.execute("DELETE FROM subscriptions WHERE topic_arn = ?", (arn,))
            c.execute("DELETE FROM tags WHERE arn = ?", (arn,))

        await self._writer.run(op)

    async def list_topics(self, after: str, limit: int) -> list[str]:
        """Topic ARNs after ``after`` in ARN order, at most ``limit``."""
        rows = await self._writer.run(
            lambda c: c.execute(
                "SELECT arn FROM topics WHERE arn > ? ORDER BY arn LIMIT ?", (after, limit)
            ).fetchall()
        )
        return [str(r[0]) for r in rows]

    # -- subscriptions ------------------------------------------------------------------
    async def get_subscription(self, arn: str) -> Subscription | None:
        row = await self._writer.run(
            lambda c: c.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE arn = ?", (arn,)
            ).fetchone()
        )
        return None if row is None else _subscription(row)

    async def find_subscription(
        self, topic_arn: str, protocol: str, endpoint: str
    ) -> Subscription | None:
        row = await self._writer.run(
            lambda c: c.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions "
                "WHERE topic_arn = ? AND protocol = ? AND endpoint = ?",
                (topic_arn, protocol, endpoint),
            ).fetchone()
        )
        return None if row is None else _subscription(row)

    async def add_subscription(self, sub: Subscription, now: float, most: int) -> bool:
        """Store ``sub`` unless its topic already has ``most`` subscriptions (False) or is
        gone (False: the caller checked it existed; a concurrent delete won)."""

        def op(c: sqlite3.Connection) -> bool:
            if c.execute("SELECT 1 FROM topics WHERE arn = ?", (sub.topic_arn,)).fetchone() is None:
                return False
            (n,) = c.execute(
                "SELECT count(*) FROM subscriptions WHERE topic_arn = ?", (sub.topic_arn,)
            ).fetchone()
            if n >= most:
                return False
            c.execute(
                "INSERT INTO subscriptions VALUES (?, ?, ?, ?, ?, ?)",
                (
                    sub.arn,
                    sub.topic_arn,
                    sub.protocol,
                    sub.endpoint,
                    json.dumps(sub.attributes),
                    now,
                ),
            )
            return True

        return await self._writer.run(op)

    async def set_subscription_attributes(self, arn: str, attributes: dict[str, str]) -> None:
        await self._writer.run(
            lambda c: c.execute(
                "UPDATE subscriptions SET attributes = ? WHERE arn = ?",
                (json.dumps(attributes), arn),
            )
        )

    async def delete_subscription(self, arn: str) -> None:
        await self._writer.run(
            lambda c: c.execute("DELETE FROM subscriptions WHERE arn = ?", (arn,))
        )

    async def subscriptions(
        self, topic_arn: str | None, after: str, limit: int
    ) -> list[Subscription]:
        """Subscriptions (of one topic, or all) after ``after`` in ARN order."""
        where, args = ("topic_arn = ? AND ", (topic_arn,)) if topic_arn else ("", ())
        rows = await self._writer.run(
            lambda c: c.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE {where}arn > ? "
                "ORDER BY arn LIMIT ?",
                (*args, after, limit),
            ).fetchall()
        )
        return [_subscription(r) for r in rows]

    async def lambda_subscriptions(self, function_arn: str) -> list[Subscription]:
        """The ``lambda`` subscriptions of a function (unqualified ARN), any qualifier."""
        rows = await self._writer.run(
            lambda c: c.execute(
                f"SELECT {_SUB_COLUMNS} FROM subscriptions WHERE protocol = 'lambda' "
                "AND (endpoint = ? OR substr(endpoint, 1, ?) = ?) ORDER BY topic_arn, arn",
                (function_arn, len(function_arn) + 1, function_arn + ":"),
            ).fetchall()
        )
        return [_subscription(r) for r in rows]

    async def count_subscriptions(self, topic_arn: str) -> int:
        row = await self._writer.run(
            lambda c: c.execute(
                "SELECT count(*) FROM subscriptions WHERE topic_arn = ?", (topic_arn,)
            ).fetchone()
        )
        return int(row[0])

    async def count_filtered(self, topic_arn: str) -> int:
        """How many of a topic's subscriptions have a filter policy."""
        rows = await self._writer.run(
            lambda c: c.execute(
                "SELECT attributes FROM subscriptions WHERE topic_arn = ?", (topic_arn,)
            ).fetchall()
        )
        return sum(1 for (a,) in rows if json.loads(a).get("FilterPolicy"))

    # -- tags ---------------------------------------------------------------------------
    async def tags(self, arn: str) -> dict[str, str]:
        rows = await self._writer.run(
            lambda c: c.execute(
                "SELECT key, value FROM tags WHERE arn = ? ORDER BY key", (arn,)
            ).fetchall()
        )
        return {str(k): str(v) for k, v in rows}

    async def tag(self, arn: str, tags: dict[str, str]) -> None:
        await self._writer.run(
            lambda c: c.executemany(
                "INSERT OR REPLACE INTO tags VALUES (?, ?, ?)",
                [(arn, k, v) for k, v in tags.items()],
            )
        )

    async def untag(self, arn: str, keys: list[str]) -> None:
        await self._writer.run(
            lambda c: c.executemany(
                "DELETE FROM tags WHERE arn = ? AND key = ?", [(arn, k) for k in keys]
            )
        )
