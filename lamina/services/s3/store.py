"""Buckets and objects on local disk: blobs in ``<root>/<bucket>/``, metadata in SQLite.

Object bodies are files named by the SHA-256 of their key (S3 keys may hold any
character, and ``a`` and ``a/b`` may both exist, which a directory tree cannot mirror);
``s3.db`` maps keys to blobs with size, ETag, content type and user metadata. A write
lands in a temporary file, is fsynced and renamed, then its metadata committed: a crash
leaves either the old object or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from lamina.store.sqlite_writer import SqliteWriter

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    notifications TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    content_type TEXT NOT NULL,
    last_modified REAL NOT NULL,
    metadata TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
);
CREATE TABLE IF NOT EXISTS bucket_configs (
    bucket TEXT NOT NULL,
    name TEXT NOT NULL,
    document BLOB NOT NULL,
    PRIMARY KEY (bucket, name)
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    etag: str  # hex MD5 (or "<md5>-<parts>" for multipart uploads), unquoted
    content_type: str
    last_modified: float
    metadata: dict[str, str]  # x-amz-meta-* and standard headers to replay


class ObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.db = SqliteWriter(root / "s3.db", SCHEMA, name="s3-db")

    def close(self) -> None:
        self.db.close()

    def blob_path(self, bucket: str, key: str) -> Path:
        digest = hashlib.sha256(key.encode()).hexdigest()
        return self.root / "buckets" / bucket / digest[:2] / digest

    # -- buckets ------------------------------------------------------------------------
    async def bucket_exists(self, name: str) -> bool:
        return bool(
            await self.db.run(
                lambda c: c.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone()
            )
        )

    async def create_bucket(self, name: str) -> bool:
        """False if it already exists."""

        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute(
                "INSERT OR IGNORE INTO buckets (name, created) VALUES (?, ?)", (name, time.time())
            )
            return cur.rowcount > 0

        return await self.db.run(op)

    async def list_buckets(self) -> list[tuple[str, float]]:
        return await self.db.run(
            lambda c: c.execute("SELECT name, created FROM buckets ORDER BY name").fetchall()
        )

    async def delete_bucket(self, name: str) -> str:
        """ "deleted", "missing" or "not-empty"."""

        def op(c: sqlite3.Connection) -> str:
            if not c.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone():
                return "missing"
            if c.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                return "not-empty"
            c.execute("DELETE FROM buckets WHERE name = ?", (name,))
            c.execute("DELETE FROM bucket_configs WHERE bucket = ?", (name,))
            return "deleted"

        result = await self.db.run(op)
        if result == "deleted":
            shutil.rmtree(self.root / "buckets" / name, ignore_errors=True)
        return result

    async def get_notifications(self, bucket: str) -> str:
        row = await self.db.run(
            lambda c: c.execute(
                "SELECT notifications FROM buckets WHERE name = ?", (bucket,)
            ).fetchone()
        )
        return str(row[0]) if row else ""

    async def set_notifications(self, bucket: str, raw: str) -> None:
        await self.db.run(
            lambda c: c.execute(
                "UPDATE buckets SET notifications = ? WHERE name = ?", (raw, bucket)
            )
        )

    async def get_config(self, bucket: str, name: str) -> bytes | None:
        """The configuration document (``?policy``, ``?cors``, ...) last PUT, if any."""
        row = await self.db.run(
            lambda c: c.execute(
                "SELECT document FROM bucket_configs WHERE bucket = ? AND name = ?",
                (bucket, name),
            ).fetchone()
        )
        return bytes(row[0]) if row else None

    async def configs_named(self, name: str) -> list[tuple[str, bytes]]:
        """Every bucket's ``name`` configuration, as (bucket, document)."""
        rows = await self.db.run(
            lambda c: c.execute(
                "SELECT bucket, document FROM bucket_configs WHERE name = ?", (name,)
            ).fetchall()
        )
        return [(str(r[0]), bytes(r[1])) for r in rows]

    async def set_config(self, bucket: str, name: str, document: bytes | None) -> None:
        """Keep ``document`` as the bucket's ``name`` configuration (None deletes it)."""

        def op(c: sqlite3.Connection) -> None:
            if document is None:
                c.execute(
                    "DELETE FROM bucket_configs WHERE bucket = ? AND name = ?", (bucket, name)
                )
            else:
                c.execute(
                    "INSERT OR REPLACE INTO bucket_configs VALUES (?, ?, ?)",
                    (bucket, name, document),
                )

        await self.db.run(op)

    async def next_sequencer(self) -> str:
        def op(c: sqlite3.Connection) -> int:
            c.execute("INSERT OR IGNORE INTO meta VALUES ('sequencer', 0)")
            c.execute("UPDATE meta SET value = value + 1 WHERE name = 'sequencer'")
            return int(c.execute("SELECT value FROM meta WHERE name = 'sequencer'").fetchone()[0])

        return f"{await self.db.run(op):016X}"

    # -- objects ------------------------------------------------------------------------
    def write_blob(self, bucket: str, key: str, parts: list[bytes] | list[Path]) -> tuple[int, str]:
        """Write (off the event loop) the body from bytes or part files; (size, md5 hex)."""
        path = self.blob_path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".tmp{os.getpid()}-{time.monotonic_ns()}")
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        with open(tmp, "wb") as f:
            for part in parts:
                data = part.read_bytes() if isinstance(part, Path) else part
                f.write(data)
                md5.update(data)
                size += len(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return size, md5.hexdigest()

    async def put_info(self, info: ObjectInfo) -> None:
        def op(c: sqlite3.Connection) -> None:
            c.execute(
                "INSERT OR REPLACE INTO objects VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    info.bucket,
                    info.key,
                    info.size,
                    info.etag,
                    info.content_type,
                    info.last_modified,
                    json.dumps(info.metadata),
                ),
            )

        await self.db.run(op)

    async def head(self, bucket: str, key: str) -> ObjectInfo | None:
        row = await self.db.run(
            lambda c: c.execute(
                "SELECT * FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
        )
        if row is None:
            return None
        return ObjectInfo(row[0], row[1], row[2], row[3], row[4], row[5], json.loads(row[6]))

    async def delete(self, bucket: str, key: str) -> bool:
        def op(c: sqlite3.Connection) -> bool:
            cur = c.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key))
            return cur.rowcount > 0

        existed = await self.db.run(op)
        if existed:
            self.blob_path(bucket, key).unlink(missing_ok=True)
        return existed

    async def list(self, bucket: str, prefix: str, after: str, limit: int) -> list[ObjectInfo]:
        """Objects with ``prefix`` whose key sorts after ``after``, in key order."""

        def op(c: sqlite3.Connection) -> list[tuple[object, ...]]:
            # keys sort by UTF-8 bytes in S3; SQLite's BINARY collation compares UTF-8 bytes
            return c.execute(
                "SELECT * FROM objects WHERE bucket = ? AND key > ? AND substr(key, 1, ?) = ?"
                " ORDER BY key LIMIT ?",
                (bucket, after, len(prefix), prefix, limit),
            ).fetchall()

        rows = await self.db.run(op)
        return [
            ObjectInfo(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]))  # type: ignore[arg-type]
            for r in rows
        ]
