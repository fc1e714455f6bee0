"""SQS queues and messages in SQLite (``sqs.db``); each method is one committed operation.

A message is *visible* when ``visible_at <= now``. Receiving one stamps a fresh receipt
token and pushes ``visible_at`` to the end of the visibility timeout; deleting needs that
token. A receive that finds a message already received ``maxReceiveCount`` times moves
it to the dead-letter queue instead (SQS's redrive).

A FIFO queue's messages also carry their group and deduplication ids; its receive takes
only groups with nothing in flight (:func:`lamina.services.sqs.fifo.pick`), and its sends
look deduplication ids up in ``dedup`` (five minutes, by queue or by group).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lamina.arns import parse_arn
from lamina.services.sqs.attributes import is_fifo, parse_redrive, with_defaults
from lamina.services.sqs.fifo import (
    DEDUP_WINDOW_S,
    Candidate,
    dedup_scope,
    fifo_settings,
    pick,
    sequence_number,
)
from lamina.services.sqs.movetasks import (
    CANCELLED,
    CANCELLING,
    FAILED,
    RUNNING,
    after_step,
)
from lamina.services.sqs.movetasks import MoveTask as MoveRow
from lamina.store.sqlite_writer import SqliteWriter

# Message attributes as SQS answers them: name -> {"DataType", "StringValue" | "BinaryValue"},
# a binary value as base64 text.
AttributeMap = dict[str, dict[str, str]]

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    created REAL NOT NULL,
    modified REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    md5_body TEXT NOT NULL,
    md5_attributes TEXT,
    system_attributes TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    first_receive_ms INTEGER,
    receive_count INTEGER NOT NULL DEFAULT 0,
    visible_at REAL NOT NULL,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS messages_visible ON messages (queue, visible_at, seq);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    sequence TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (queue, scope, dedup_id)
);
CREATE TABLE IF NOT EXISTS receive_attempts (
    queue TEXT NOT NULL,
    attempt_id TEXT NOT NULL,
    handles TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (queue, attempt_id)
);
CREATE TABLE IF NOT EXISTS move_tasks (
    task_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    source_arn TEXT NOT NULL,
    destination TEXT,
    rate INTEGER,
    status TEXT NOT NULL,
    moved INTEGER NOT NULL DEFAULT 0,
    to_move INTEGER NOT NULL,
    failure TEXT,
    started_ms INTEGER NOT NULL,
    last_seq INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS move_tasks_source ON move_tasks (source, started_ms);
"""
# Columns added after the first release: added to an older sqs.db when it is opened.
# ``dead_from``: the queue a dead-lettered message came from (a redrive's way back).
_ADDED_COLUMNS = {"group_id": "TEXT", "dedup_id": "TEXT", "dead_from": "TEXT"}
_MESSAGE_COLUMNS = (
    "seq, message_id, body, attributes, md5_body, system_attributes, sent_ms,"
    " first_receive_ms, receive_count, group_id, dedup_id"
)

# A move task's row as MoveRow's fields, then its source queue's name.
_MOVE_COLUMNS = (
    "task_id, source_arn, destination, rate, status, moved, to_move, failure, started_ms, source"
)


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created: float
    modified: float


@dataclass(frozen=True, slots=True)
class NewMessage:
    body: str
    attributes: AttributeMap
    md5_body: str
    md5_attributes: str | None
    system_attributes: dict[str, str]  # SenderId, AWSTraceHeader
    delay_s: int
    group_id: str | None = None  # FIFO queues (and fair standard queues)
    dedup_id: str | None = None  # FIFO queues


@dataclass(frozen=True, slots=True)
class Sent:
    message_id: str
    sequence_number: str | None  # FIFO queues


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    message_id: str
    receipt_handle: str
    body: str
    md5_body: str
    attributes: AttributeMap
    system_attributes: dict[str, str]
    sent_ms: int
    first_receive_ms: int
    receive_count: int


def receipt_handle(seq: int, token: str) -> str:
    return f"{seq}-{token}"


def parse_receipt(handle: str) -> tuple[int, str] | None:
    seq, dash, token = handle.partition("-")
    if not dash or not seq.isdigit() or not token:
        return None
    return int(seq), token


def _add_columns(c: sqlite3.Connection) -> None:
    have = {str(r[1]) for r in c.execute("PRAGMA table_info(messages)")}
    for column, kind in _ADDED_COLUMNS.items():
        if column not in have:
            c.execute(f"ALTER TABLE messages ADD COLUMN {column} {kind}")
    # A FIFO receive walks the queue in the order sent and reads each group it takes
    # from in order; every receive drops the messages past their retention period.
    c.execute("CREATE INDEX IF NOT EXISTS messages_order ON messages (queue, seq)")
    c.execute("CREATE INDEX IF NOT EXISTS messages_group ON messages (queue, group_id, seq)")
    c.execute("CREATE INDEX IF NOT EXISTS messages_sent ON messages (queue, sent_ms)")


def _received(
    row: tuple[Any, ...], token: str, now: float, *, again: bool = False
) -> ReceivedMessage:
    """A message row (``_MESSAGE_COLUMNS``) as it is handed out by this receive (``again``:
    handed out once more to a retried receive, which counts no new receive)."""
    seq, mid, body, mattrs, md5, sysattrs, sent, first, count, group, dedup = row
    system: dict[str, str] = json.loads(sysattrs)
    if group is not None:
        system["MessageGroupId"] = group
    if dedup is not None:
        system["MessageDeduplicationId"] = dedup
        system["SequenceNumber"] = sequence_number(seq)
    return ReceivedMessage(
        mid,
        receipt_handle(seq, token),
        body,
        md5,
        json.loads(mattrs),
        system,
        sent,
        first or int(now * 1000),
        count if again else count + 1,
    )


def _replay(
    c: sqlite3.Connection, queue: str, attempt_id: str, visibility_s: float, now: float
) -> list[ReceivedMessage] | None:
    """A FIFO receive retried with its ``ReceiveRequestAttemptId`` within five minutes: the
    same messages and receipt handles, their visibility timeout started again. Messages
    deleted since are left out; None when there is no such attempt (or nothing left)."""
    row = c.execute(
        "SELECT handles FROM receive_attempts WHERE queue = ? AND attempt_id = ? AND expires > ?",
        (queue, attempt_id, now),
    ).fetchone()
    if row is None:
        return None
    out = []
    for seq, token in json.loads(row[0]):
        found = c.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE seq = ? AND queue = ? AND receipt = ?",
            (seq, queue, token),
        ).fetchone()
        if found is not None:
            c.execute("UPDATE messages SET visible_at = ? WHERE seq = ?", (now + visibility_s, seq))
            out.append(_received(found, token, now, again=True))
    return out or None


class SqsStore:
    def __init__(self, path: Path, *, fsync: bool = True) -> None:
        self.writer = SqliteWriter(path, SCHEMA, fsync=fsync, name="sqs-db")
        self.writer.call(_add_columns)

    def close(self) -> None:
        self.writer.close()

    # -- queues -------------------------------------------------------------------------
    async def get_queue(self, name: str) -> QueueRow | None:
        def op(c: sqlite3.Connection) -> QueueRow | None:
            row = c.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            return QueueRow(row[0], json.loads(row[1]), json.loads(row[2]), row[3], row[4])

        return await self.writer.run(op)

    async def create_queue(
        self, name: str, attributes: dict[str, str], tags: dict[str, str], now: float
    ) -> QueueRow:
        """Create, or return the existing queue (the caller compares attributes)."""

        def op(c: sqlite3.Connection) -> QueueRow:
            row = c.execute("SELECT * FROM queues WHERE name = ?", (name,)).fetchone()
            if row is not None:
                return QueueRow(row[0], json.loads(row[1]), json.loads(row[2]), row[3], row[4])
            c.execute(
                "INSERT INTO queues VALUES (?, ?, ?, ?, ?)",
                (name, json.dumps(attributes), json.dumps(tags), now, now),
            )
            return QueueRow(name, attributes, tags, now, now)

        return await self.writer.run(op)

    async def set_attributes(self, name: str, attributes: dict[str, str], now: float) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            row = c.execute("SELECT attributes FROM queues WHERE name = ?", (name,)).fetchone()
            if row is None:
                return False
            merged = {**json.loads(row[0]), **attributes}
            c.execute(
                "UPDATE queues SET attributes = ?, modified = ? WHERE name = ?",
                (json.dumps(merged), now, name),
            )
            return True

        return await self.writer.run(op)

    async def update_tags(
        self, name: str, add: dict[str, str], remove: list[str]
    ) -> dict[str, str] | None:
        """Merge ``add`` into the queue's tags and drop ``remove``; None if there is no queue."""

        def op(c: sqlite3.Connection) -> dict[str, str] | None:
            row = c.execute("SELECT tags FROM queues WHERE name = ?", (name,)).fetchone()
            if row is None:
                return None
            tags: dict[str, str] = {**json.loads(row[0]), **add}
            for key in remove:
                tags.pop(key, None)
            c.execute("UPDATE queues SET tags = ? WHERE name = ?", (json.dumps(tags), name))
            return tags

        return await self.writer.run(op)

    async def attributes_of_all(self) -> list[tuple[str, dict[str, str]]]:
        """Every queue's name and attributes."""

        def op(c: sqlite3.Connection) -> list[tuple[str, dict[str, str]]]:
            rows = c.execute("SELECT name, attributes FROM queues").fetchall()
            return [(str(r[0]), dict(json.loads(r[1]))) for r in rows]

        return await self.writer.run(op)

    async def list_queues(self, prefix: str) -> list[str]:
        def op(c: sqlite3.Connection) -> list[str]:
            rows = c.execute("SELECT name FROM queues ORDER BY name").fetchall()
            return [r[0] for r in rows if r[0].startswith(prefix)]

        return await self.writer.run(op)

    async def delete_queue(self, name: str) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            c.execute("DELETE FROM messages WHERE queue = ?", (name,))
            c.execute("DELETE FROM dedup WHERE queue = ?", (name,))
            c.execute("DELETE FROM receive_attempts WHERE queue = ?", (name,))
            return c.execute("DELETE FROM queues WHERE name = ?", (name,)).rowcount > 0

        return await self.writer.run(op)

    async def purge(self, name: str) -> None:
        await self.writer.run(lambda c: c.execute("DELETE FROM messages WHERE queue = ?", (name,)))

    async def counts(self, name: str, now: float) -> tuple[int, int, int]:
        """(visible, in flight, delayed)."""

        def op(c: sqlite3.Connection) -> tuple[int, int, int]:
            row = c.execute(
                "SELECT SUM(visible_at <= ?), SUM(visible_at > ? AND receipt IS NOT NULL),"
                " SUM(visible_at > ? AND receipt IS NULL) FROM messages WHERE queue = ?",
                (now, now, now, name),
            ).fetchone()
            return int(row[0] or 0), int(row[1] or 0), int(row[2] or 0)

        return await self.writer.run(op)

    # -- messages -----------------------------------------------------------------------
    async def send(self, queue: str, messages: list[NewMessage], now: float) -> list[Sent]:
        """Append messages, in order. Raises KeyError if the queue is gone.

        On a FIFO queue a message whose deduplication id was accepted within the window
        is not stored again: it is answered with the first one's id and sequence number.
        """

        def op(c: sqlite3.Connection) -> list[Sent]:
            row = c.execute("SELECT attributes FROM queues WHERE name = ?", (queue,)).fetchone()
            if row is None:
                raise KeyError(queue)
            fifo = fifo_settings(json.loads(row[0]))
            if fifo is not None:
                c.execute("DELETE FROM dedup WHERE queue = ? AND expires <= ?", (queue, now))
            out = []
            for m in messages:
                scope = dedup_scope(fifo.per_group, m.group_id or "") if fifo else ""
                if fifo is not None and m.dedup_id is not None:
                    seen = c.execute(
                        "SELECT message_id, sequence FROM dedup"
                        " WHERE queue = ? AND scope = ? AND dedup_id = ?",
                        (queue, scope, m.dedup_id),
                    ).fetchone()
                    if seen is not None:
                        out.append(Sent(str(seen[0]), str(seen[1])))
                        continue
                mid = str(uuid.uuid4())
                cursor = c.execute(
                    "INSERT INTO messages (queue, message_id, body, attributes, md5_body,"
                    " md5_attributes, system_attributes, sent_ms, visible_at, group_id,"
                    " dedup_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        queue,
                        mid,
                        m.body,
                        json.dumps(m.attributes),
                        m.md5_body,
                        m.md5_attributes,
                        json.dumps(m.system_attributes),
                        int(now * 1000),
                        now + m.delay_s,
                        m.group_id,
                        m.dedup_id if fifo is not None else None,
                    ),
                )
                sequence = None
                if fifo is not None and m.dedup_id is not None:
                    sequence = sequence_number(int(cursor.lastrowid or 0))
                    c.execute(
                        "INSERT INTO dedup VALUES (?, ?, ?, ?, ?, ?)",
                        (queue, scope, m.dedup_id, mid, sequence, now + DEDUP_WINDOW_S),
                    )
                out.append(Sent(mid, sequence))
            return out

        return await self.writer.run(op)

    async def receive(
        self,
        queue: str,
        limit: int,
        visibility_s: float,
        now: float,
        attempt_id: str | None = None,
    ) -> tuple[list[ReceivedMessage], float | None]:
        """Receive up to ``limit`` visible messages; also when the next becomes visible.

        ``attempt_id`` (FIFO queues' ``ReceiveRequestAttemptId``) names the receive, so
        that a retry of it within five minutes gets the same messages back.
        """

        def op(c: sqlite3.Connection) -> tuple[list[ReceivedMessage], float | None]:
            row = c.execute("SELECT attributes FROM queues WHERE name = ?", (queue,)).fetchone()
            if row is None:
                raise KeyError(queue)
            attrs = with_defaults(json.loads(row[0]))
            retention = int(attrs["MessageRetentionPeriod"])
            c.execute(
                "DELETE FROM messages WHERE queue = ? AND sent_ms < ?",
                (queue, int((now - retention) * 1000)),
            )
            redrive = parse_redrive(attrs["RedrivePolicy"]) if attrs.get("RedrivePolicy") else None
            dlq_arn = parse_arn(redrive.dead_letter_arn) if redrive else None
            dlq = dlq_arn.resource if dlq_arn is not None else None
            if (
                dlq is not None
                and c.execute("SELECT 1 FROM queues WHERE name = ?", (dlq,)).fetchone() is None
            ):
                dlq = None  # a missing dead-letter queue: keep the message where it is
            fifo = is_fifo(attrs)
            if fifo and attempt_id is not None:
                c.execute(
                    "DELETE FROM receive_attempts WHERE queue = ? AND expires <= ?", (queue, now)
                )
                again = _replay(c, queue, attempt_id, visibility_s, now)
                if again is not None:
                    return again, None
            # FIFO: the groups with a message in flight before this receive (what it takes
            # itself locks its groups only for the receives after it).
            locked = (
                {
                    str(r[0])
                    for r in c.execute(
                        "SELECT DISTINCT group_id FROM messages WHERE queue = ?"
                        " AND visible_at > ? AND receipt IS NOT NULL",
                        (queue, now),
                    )
                }
                if fifo
                else set()
            )
            out: list[ReceivedMessage] = []
            tokens: list[tuple[int, str]] = []
            # Rows this receive has handed out or dead-lettered: with a visibility timeout
            # of 0 they are visible again at once, and must not come back in the same answer.
            taken: set[int] = set()
            while len(out) < limit:
                if fifo:
                    visible = (
                        Candidate(int(r[0]), str(r[1]))
                        for r in c.execute(
                            "SELECT seq, group_id FROM messages INDEXED BY messages_order"
                            " WHERE queue = ? AND visible_at <= ? ORDER BY seq",
                            (queue, now),
                        )
                        if int(r[0]) not in taken
                    )

                    def of_group(group: str, n: int, now: float = now) -> list[Candidate]:
                        return [
                            Candidate(int(r[0]), group)
                            for r in c.execute(
                                "SELECT seq FROM messages INDEXED BY messages_group"
                                " WHERE queue = ? AND group_id = ? AND visible_at <= ?"
                                " ORDER BY seq LIMIT ?",
                                (queue, group, now, n + len(taken)),
                            )
                            if int(r[0]) not in taken
                        ][:n]

                    chosen = [x.seq for x in pick(visible, locked, limit - len(out), of_group)]
                    rows = [
                        c.execute(
                            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE seq = ?", (s,)
                        ).fetchone()
                        for s in chosen
                    ]
                else:
                    rows = [
                        r
                        for r in c.execute(
                            f"SELECT {_MESSAGE_COLUMNS} FROM messages INDEXED BY messages_order"
                            " WHERE queue = ? AND visible_at <= ? ORDER BY seq LIMIT ?",
                            (queue, now, limit - len(out) + len(taken)),
                        )
                        if int(r[0]) not in taken
                    ][: limit - len(out)]
                if not rows:
                    break
                for row in rows:
                    seq, count, first = row[0], row[8], row[7]
                    taken.add(int(seq))
                    if (
                        redrive is not None
                        and dlq is not None
                        and count >= redrive.max_receive_count
                    ):
                        c.execute(
                            "UPDATE messages SET queue = ?, visible_at = ?, receipt = NULL,"
                            " dead_from = ? WHERE seq = ?",
                            (dlq, now, queue, seq),
                        )
                        continue
                    token = secrets.token_urlsafe(24)
                    c.execute(
                        "UPDATE messages SET receive_count = ?, first_receive_ms = ?,"
                        " visible_at = ?, receipt = ? WHERE seq = ?",
                        (count + 1, first or int(now * 1000), now + visibility_s, token, seq),
                    )
                    out.append(_received(row, token, now))
                    tokens.append((seq, token))
            if fifo and attempt_id is not None and out:
                c.execute(
                    "INSERT OR REPLACE INTO receive_attempts VALUES (?, ?, ?, ?)",
                    (queue, attempt_id, json.dumps(tokens), now + DEDUP_WINDOW_S),
                )
            # When to look again: a FIFO queue's visible messages may all be in locked
            # groups, so only a change still to come counts there (a deletion wakes too).
            nxt = c.execute(
                "SELECT MIN(visible_at) FROM messages WHERE queue = ?"
                + (" AND visible_at > ?" if fifo else ""),
                (queue, now) if fifo else (queue,),
            ).fetchone()[0]
            return out, nxt

        return await self.writer.run(op)

    async def delete(self, queue: str, handles: list[str]) -> list[bool]:
        """Delete by receipt handle; False for a malformed handle. A stale one is a no-op."""

        def op(c: sqlite3.Connection) -> list[bool]:
            ok = []
            for h in handles:
                parsed = parse_receipt(h)
                if parsed is None:
                    ok.append(False)
                    continue
                c.execute(
                    "DELETE FROM messages WHERE seq = ? AND queue = ? AND receipt = ?",
                    (parsed[0], queue, parsed[1]),
                )
                ok.append(True)
            return ok

        return await self.writer.run(op)

    async def change_visibility(
        self, queue: str, changes: list[tuple[str, int]], now: float
    ) -> list[str | None]:
        """Per change: None when done, else the error code."""

        def op(c: sqlite3.Connection) -> list[str | None]:
            out: list[str | None] = []
            for handle, timeout in changes:
                parsed = parse_receipt(handle)
                if parsed is None:
                    out.append("ReceiptHandleIsInvalid")
                    continue
                row = c.execute(
                    "SELECT receipt, visible_at FROM messages WHERE seq = ? AND queue = ?",
                    (parsed[0], queue),
                ).fetchone()
                if row is None:
                    out.append("ReceiptHandleIsInvalid")
                elif row[0] != parsed[1] or row[1] <= now:
                    out.append("MessageNotInflight")
                else:
                    c.execute(
                        "UPDATE messages SET visible_at = ? WHERE seq = ?",
                        (now + timeout, parsed[0]),
                    )
                    out.append(None)
            return out

        return await self.writer.run(op)

    # -- message move tasks (lamina.services.sqs.movetasks) -----------------------------
    async def start_move_task(
        self,
        task_id: str,
        source: str,
        source_arn: str,
        destination: str | None,
        rate: int | None,
        now: float,
    ) -> bool:
        """Record a RUNNING task over what ``source`` holds now; False (nothing recorded)
        when the source already has an active task."""

        def op(c: sqlite3.Connection) -> bool:
            busy = c.execute(
                "SELECT 1 FROM move_tasks WHERE source = ? AND status IN (?, ?)",
                (source, RUNNING, CANCELLING),
            ).fetchone()
            if busy is not None:
                return False
            last, count = c.execute(
                "SELECT MAX(seq), COUNT(*) FROM messages WHERE queue = ?", (source,)
            ).fetchone()
            c.execute(
                "INSERT INTO move_tasks (task_id, source, source_arn, destination, rate, status,"
                " to_move, started_ms, last_seq) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    task_id,
                    source,
                    source_arn,
                    destination,
                    rate,
                    RUNNING,
                    count,
                    int(now * 1000),
                    last or 0,
                ),
            )
            return True

        return await self.writer.run(op)

    async def move_tasks(self, source: str | None = None) -> list[tuple[MoveRow, str]]:
        """The tasks of ``source`` (every source when None), newest first, with their
        source queue's name."""

        def op(c: sqlite3.Connection) -> list[tuple[MoveRow, str]]:
            where, args = ("WHERE source = ?", (source,)) if source is not None else ("", ())
            rows = c.execute(
                f"SELECT {_MOVE_COLUMNS} FROM move_tasks {where} ORDER BY started_ms DESC,"
                " rowid DESC",
                args,
            ).fetchall()
            return [(MoveRow(*r[:-1]), str(r[-1])) for r in rows]

        return await self.writer.run(op)

    async def cancel_move_task(self, task_id: str) -> tuple[MoveRow, bool] | None:
        """Cancel a RUNNING task (moved messages stay moved): the task as it is after and
        whether this cancelled it; None when there is no such task."""

        def op(c: sqlite3.Connection) -> tuple[MoveRow, bool] | None:
            changed = c.execute(
                "UPDATE move_tasks SET status = ? WHERE task_id = ? AND status = ?",
                (CANCELLED, task_id, RUNNING),
            ).rowcount
            row = c.execute(
                f"SELECT {_MOVE_COLUMNS} FROM move_tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
            return None if row is None else (MoveRow(*row[:-1]), changed > 0)

        return await self.writer.run(op)

    async def move_step(
        self, task_id: str, limit: int, destination_of: Callable[[str], str | None], now: float
    ) -> MoveRow | None:
        """Move up to ``limit`` of the task's visible messages in one transaction: each
        leaves the source as it enters its destination (``destination_of`` of the task's
        destination ARN, or of the queue it was dead-lettered from), with a fresh receive
        count. A destination that is gone fails the task. The task after the step; None
        when it is no longer RUNNING."""

        def op(c: sqlite3.Connection) -> MoveRow | None:
            row = c.execute(
                f"SELECT {_MOVE_COLUMNS}, last_seq FROM move_tasks WHERE task_id = ?",
                (task_id,),
            ).fetchone()
            if row is None or row[4] != RUNNING:
                return None
            task = MoveRow(*row[:-2])
            source, last_seq = str(row[-2]), int(row[-1])
            batch = c.execute(
                "SELECT seq, dead_from FROM messages WHERE queue = ? AND seq <= ?"
                " AND visible_at <= ? ORDER BY seq LIMIT ?",
                (source, last_seq, now, limit),
            ).fetchall()
            moved, failure = 0, None
            for seq, dead_from in batch:
                if task.destination_arn is not None:
                    target = destination_of(task.destination_arn)
                else:
                    target = None if dead_from is None else str(dead_from)
                exists = (
                    target is not None
                    and c.execute("SELECT 1 FROM queues WHERE name = ?", (target,)).fetchone()
                )
                if not exists:
                    failure = (
                        "The destination queue does not exist."
                        if target is not None or task.destination_arn is not None
                        else "A message's original source queue is unknown."
                    )
                    break
                c.execute(
                    "UPDATE messages SET queue = ?, visible_at = ?, receipt = NULL,"
                    " receive_count = 0, first_receive_ms = NULL, dead_from = NULL"
                    " WHERE seq = ?",
                    (target, now, seq),
                )
                moved += 1
            left = c.execute(
                "SELECT COUNT(*) FROM messages WHERE queue = ? AND seq <= ?", (source, last_seq)
            ).fetchone()[0]
            status = FAILED if failure is not None else after_step(int(left))
            c.execute(
                "UPDATE move_tasks SET moved = moved + ?, status = ?, failure = ?"
                " WHERE task_id = ?",
                (moved, status, failure, task_id),
            )
            got = c.execute(
                f"SELECT {_MOVE_COLUMNS} FROM move_tasks WHERE task_id = ?", (task_id,)
            ).fetchone()
            return MoveRow(*got[:-1])

        return await self.writer.run(op)
