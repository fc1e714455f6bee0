"""The metadata database's schema, as an append-only list of migrations.

Migration *n* (1-based) moves the database from version *n - 1* to *n*. To add a table,
append a migration; never edit one that has shipped, since databases in the field have
already run it. The current version lives in ``schema_version``.
"""

from __future__ import annotations

import sqlite3

from lamina.errors import ConfigError

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: functions, their account-level settings and their tags.
    (
        """CREATE TABLE functions (
            name TEXT NOT NULL,
            version TEXT NOT NULL,          -- '$LATEST' or '1', '2', ...
            config TEXT NOT NULL,           -- FunctionConfig as JSON (lamina.store.codec)
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            PRIMARY KEY (name, version)
        )""",
        """CREATE TABLE function_settings (
            name TEXT PRIMARY KEY,
            reserved_concurrency INTEGER,   -- NULL: none reserved
            last_version INTEGER NOT NULL DEFAULT 0  -- published numbers are never reused
        )""",
        """CREATE TABLE tags (
            name TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (name, key)
        )""",
    ),
    # 2: aliases and function URL configurations.
    (
        """CREATE TABLE function_aliases (
            name TEXT NOT NULL,             -- the function
            alias TEXT NOT NULL,
            config TEXT NOT NULL,           -- Alias as JSON (lamina.models.alias)
            PRIMARY KEY (name, alias)
        )""",
        """CREATE TABLE function_urls (
            name TEXT NOT NULL,
            qualifier TEXT NOT NULL,        -- '' for the unqualified function, else an alias
            url_id TEXT NOT NULL UNIQUE,
            config TEXT NOT NULL,           -- FunctionUrlConfig as JSON
            PRIMARY KEY (name, qualifier)
        )""",
    ),
    # 3: provisioned concurrency configurations (lamina.models.provisioned).
    (
        """CREATE TABLE provisioned_concurrency (
            name TEXT NOT NULL,             -- the function
            qualifier TEXT NOT NULL,        -- a published version or an alias
            requested INTEGER NOT NULL,
            last_modified TEXT NOT NULL,
            PRIMARY KEY (name, qualifier)
        )""",
    ),
    # 4: recursive loop detection's setting (PutFunctionRecursionConfig); NULL: Terminate.
    ("ALTER TABLE function_settings ADD COLUMN recursive_loop TEXT",),
]


def current_version(conn: sqlite3.Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(conn: sqlite3.Connection, migrations: list[tuple[str, ...]] = MIGRATIONS) -> int:
    """Bring the database up to date, one transaction per migration; return its version.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(conn)
        if version > len(migrations):
            raise ConfigError(
                f"database schema version {version} is newer than this Lamina "
                f"({len(migrations)}); upgrade Lamina"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    for number in range(version + 1, len(migrations) + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Re-read inside the lock: another process may have migrated meanwhile.
            if current_version(conn) < number:
                for statement in migrations[number - 1]:
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return len(migrations)
