"""The metadata store: functions, versions, aliases, URLs, settings and tags in one SQLite file.

SQLite in WAL mode with ``synchronous=NORMAL``: readers never block the writer and a
commit costs no fsync (a power cut may lose the last commits, never the database). The
methods are synchronous and thread-safe; the API calls them off the invoke path, which
reads configurations from memory (loaded with :meth:`MetadataStore.all_functions` and
:meth:`MetadataStore.all_aliases` at start-up).
"""

from __future__ import annotations

import base64
import binascii
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from lamina.arns import function_arn
from lamina.errors import (
    InvalidParameterValue,
    PreconditionFailed,
    ResourceConflict,
    ResourceNotFound,
    ServiceError,
)
from lamina.models.alias import Alias
from lamina.models.function import LATEST, FunctionConfig
from lamina.models.function_url import FunctionUrlConfig
from lamina.models.provisioned import ProvisionedConfig
from lamina.store.codec import config_from_json, config_to_json
from lamina.store.schema import MIGRATIONS
from lamina.store.sqlite_db import SqliteDatabase
from lamina.store.stamps import now_lambda_timestamp

MAX_ITEMS_LIMIT = 10_000


class MetadataStore:
    """Function configurations and settings, persisted in ``path`` (``<data_dir>/lamina.db``)."""

    def __init__(
        self, path: Path, *, region: str = "us-east-1", account_id: str = "000000000000"
    ) -> None:
        self.path = Path(path)
        self.region = region
        self.account_id = account_id
        self._db = SqliteDatabase(self.path, MIGRATIONS, foreign_keys=True)
        self.schema_version = self._db.schema_version

    def close(self) -> None:
        self._db.close()

    def _arn(self, name: str, version: str = LATEST) -> str:
        """A function's ARN for error messages (unqualified for ``$LATEST``)."""
        return function_arn(
            self.region, self.account_id, name, None if version == LATEST else version
        )

    # -- functions and versions ------------------------------------------------------------

    def put_function(self, cfg: FunctionConfig) -> None:
        """Insert or replace that (name, version); ``created_at`` survives a replace."""
        with self._db.transaction() as conn:
            self._upsert(conn, cfg)

    def create_function(self, cfg: FunctionConfig) -> None:
        """Insert a new function; ResourceConflict if its ``$LATEST`` already exists."""
        with self._db.transaction() as conn:
            if self._exists(conn, cfg.name, LATEST):
                raise ResourceConflict(f"Function already exist: {cfg.name}")
            self._upsert(conn, cfg)

    def list_functions(
        self, marker: str | None, max_items: int
    ) -> tuple[list[FunctionConfig], str | None]:
        """One page of ``$LATEST`` configurations by name, and the marker of the next page."""
        if not 1 <= max_items <= MAX_ITEMS_LIMIT:
            bound = "greater than or equal to 1" if max_items < 1 else "less than or equal to"
            limit = "" if max_items < 1 else f" {MAX_ITEMS_LIMIT}"
            raise InvalidParameterValue.constraint(
                "maxItems", f"Member must have value {bound}{limit}", max_items
            )
        after = _decode_marker(marker) if marker else ""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT name, config FROM functions WHERE version = ? AND name > ? "
                "ORDER BY name LIMIT ?",
                (LATEST, after, max_items + 1),
            ).fetchall()
        page = [_decode(config) for _name, config in rows[:max_items]]
        next_marker = _encode_marker(rows[max_items - 1][0]) if len(rows) > max_items else None
        return page, next_marker

    def publish_version(self, cfg: FunctionConfig) -> FunctionConfig:
        """Store ``cfg`` as the next numbered version, atomically; return it as stored."""
        with self._db.transaction() as conn:
            if not self._exists(conn, cfg.name, LATEST):
                raise self._not_found(cfg.name, LATEST)
            published = cfg.with_changes(version=str(self._next_version(conn, cfg.name)))
            self._upsert(conn, published)
        return published

    def delete_function(self, name: str, version: str | None = None) -> None:
        """Delete one published version, or (``None``) the function with all it owns."""
        if version == LATEST:
            raise InvalidParameterValue(
                "$LATEST version cannot be deleted without deleting the function."
            )
        with self._db.transaction() as conn:
            if version is None:
                gone = conn.execute("DELETE FROM functions WHERE name = ?", (name,)).rowcount
                if not gone:
                    raise self._not_found(name, LATEST)
                conn.execute("DELETE FROM function_settings WHERE name = ?", (name,))
                conn.execute("DELETE FROM tags WHERE name = ?", (name,))
                conn.execute("DELETE FROM function_aliases WHERE name = ?", (name,))
                conn.execute("DELETE FROM function_urls WHERE name = ?", (name,))
                conn.execute("DELETE FROM provisioned_concurrency WHERE name = ?", (name,))
                return
            users = sorted(a.name for a in self._aliases_of(conn, name) if version in a.versions())
            if users:
                raise ResourceConflict(
                    f"Unable to delete version because the following aliases reference it: {users}"
                )
            gone = conn.execute(
                "DELETE FROM functions WHERE name = ? AND version = ?", (name, version)
            ).rowcount
            if not gone:
                raise self._not_found(name, version)
            conn.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?",
                (name, version),
            )

    def all_functions(self) -> list[FunctionConfig]:
        """Every stored version of every function (e.g. to know which code is in use)."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT config FROM functions ORDER BY name, version").fetchall()
        return [_decode(config) for (config,) in rows]

    # -- concurrency -------------------------------------------------------------------------

    def get_reserved_concurrency(self, name: str) -> int | None:
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT reserved_concurrency FROM function_settings WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None or row[0] is None else int(row[0])

    def set_reserved_concurrency(self, name: str, value: int | None) -> None:
        """Reserve ``value`` (``None`` removes the reservation); the function must exist."""
        with self._db.transaction() as conn:
            if not self._exists(conn, name, LATEST):
                raise self._not_found(name, LATEST)
            conn.execute(
                "INSERT INTO function_settings (name, reserved_concurrency) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET reserved_concurrency = excluded.reserved_concurrency",
                (name, value),
            )

    def sum_reserved_concurrency(self, exclude: str | None = None) -> int:
        """Concurrency reserved by all functions, leaving out ``exclude`` (being updated)."""
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT COALESCE(SUM(reserved_concurrency), 0) FROM function_settings "
                "WHERE name != ?",
                (exclude if exclude is not None else "",),
            ).fetchone()
        return int(row[0])

    # -- recursive loop detection ---------------------------------------------------------
    def set_recursive_loop(self, name: str, value: str) -> None:
        """``Allow`` or ``Terminate`` (Lambda's default) for the function ``name``."""
        with self._db.transaction() as conn:
            if not self._exists(conn, name, LATEST):
                raise self._not_found(name, LATEST)
            conn.execute(
                "INSERT INTO function_settings (name, recursive_loop) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET recursive_loop = excluded.recursive_loop",
                (name, value),
            )

    def loops_allowed(self) -> set[str]:
        """The functions whose recursive loops are allowed (``Allow``)."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT name FROM function_settings WHERE recursive_loop = 'Allow'"
            ).fetchall()
        return {str(name) for (name,) in rows}

    # -- provisioned concurrency ---------------------------------------------------------

    def put_provisioned(self, cfg: ProvisionedConfig) -> None:
        """Store (or replace) a provisioned concurrency configuration."""
        with self._db.transaction() as conn:
            if not self._exists(conn, cfg.function, LATEST):
                raise self._not_found(cfg.function, LATEST)
            conn.execute(
                "INSERT INTO provisioned_concurrency (name, qualifier, requested, last_modified) "
                "VALUES (?, ?, ?, ?) ON CONFLICT(name, qualifier) DO UPDATE SET "
                "requested = excluded.requested, last_modified = excluded.last_modified",
                (cfg.function, cfg.qualifier, cfg.requested, cfg.last_modified),
            )

    def delete_provisioned(self, name: str, qualifier: str) -> bool:
        """Delete one configuration; False if there was none."""
        with self._db.transaction() as conn:
            gone = conn.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?",
                (name, qualifier),
            ).rowcount
        return bool(gone)

    def all_provisioned(self) -> list[ProvisionedConfig]:
        """Every configuration of every function: loaded into memory at server start."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT name, qualifier, requested, last_modified FROM provisioned_concurrency "
                "ORDER BY name, qualifier"
            ).fetchall()
        return [ProvisionedConfig(n, q, int(r), m) for n, q, r, m in rows]

    # -- tags -------------------------------------------------------------------------------

    def get_tags(self, name: str) -> dict[str, str]:
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT key, value FROM tags WHERE name = ? ORDER BY key", (name,)
            ).fetchall()
        return {str(key): str(value) for key, value in rows}

    def set_tags(self, name: str, tags: Mapping[str, str]) -> None:
        """Add or overwrite tags (Lambda's TagResource); other tags stay."""
        with self._db.transaction() as conn:
            if not self._exists(conn, name, LATEST):
                raise self._not_found(name, LATEST)
            conn.executemany(
                "INSERT INTO tags (name, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(name, key) DO UPDATE SET value = excluded.value",
                [(name, key, value) for key, value in tags.items()],
            )

    def remove_tags(self, name: str, keys: Iterable[str]) -> None:
        """Remove tags by key (Lambda's UntagResource); unknown keys are ignored."""
        with self._db.transaction() as conn:
            if not self._exists(conn, name, LATEST):
                raise self._not_found(name, LATEST)
            conn.executemany(
                "DELETE FROM tags WHERE name = ? AND key = ?", [(name, key) for key in keys]
            )

    # -- aliases ----------------------------------------------------------------------------

    def create_alias(self, alias: Alias) -> None:
        """Insert a new alias; ResourceConflict if the name is taken."""
        with self._db.transaction() as conn:
            self._check_alias_target(conn, alias)
            row = conn.execute(
                "SELECT 1 FROM function_aliases WHERE name = ? AND alias = ?",
                (alias.function, alias.name),
            ).fetchone()
            if row is not None:
                raise ResourceConflict(
                    f"Alias already exists: {self._arn(alias.function, alias.name)}"
                )
            conn.execute(
                "INSERT INTO function_aliases (name, alias, config) VALUES (?, ?, ?)",
                (alias.function, alias.name, alias.to_json()),
            )

    def update_alias(self, alias: Alias, expected_revision: str | None) -> None:
        """Replace an alias; if ``expected_revision`` is given, only if it is still current."""
        with self._db.transaction() as conn:
            self._check_alias_target(conn, alias)
            current = self._alias(conn, alias.function, alias.name)
            if expected_revision is not None and current.revision_id != expected_revision:
                raise PreconditionFailed(
                    "The Revision Id provided does not match the latest Revision Id. Call the "
                    "GetFunction/GetAlias API to retrieve the latest Revision Id"
                )
            conn.execute(
                "UPDATE function_aliases SET config = ? WHERE name = ? AND alias = ?",
                (alias.to_json(), alias.function, alias.name),
            )

    def all_aliases(self) -> list[Alias]:
        """Every alias of every function: loaded into memory at server start."""
        with self._db.reading() as conn:
            rows = conn.execute("SELECT config FROM function_aliases ORDER BY name, alias")
            return [Alias.from_json(text) for (text,) in rows.fetchall()]

    def delete_alias(self, function: str, name: str) -> None:
        """Delete an alias and the function URL that serves it."""
        with self._db.transaction() as conn:
            self._alias(conn, function, name)
            conn.execute(
                "DELETE FROM function_aliases WHERE name = ? AND alias = ?", (function, name)
            )
            conn.execute(
                "DELETE FROM function_urls WHERE name = ? AND qualifier = ?", (function, name)
            )
            conn.execute(
                "DELETE FROM provisioned_concurrency WHERE name = ? AND qualifier = ?",
                (function, name),
            )

    # -- function URLs -------------------------------------------------------------------------

    def create_url_config(self, cfg: FunctionUrlConfig) -> None:
        """Insert a URL config; ResourceConflict if that function/qualifier has one."""
        with self._db.transaction() as conn:
            if not self._exists(conn, cfg.function, LATEST):
                raise self._not_found(cfg.function, LATEST)
            if cfg.qualifier is not None:
                self._alias(conn, cfg.function, cfg.qualifier)
            row = conn.execute(
                "SELECT 1 FROM function_urls WHERE name = ? AND qualifier = ?",
                (cfg.function, cfg.qualifier or ""),
            ).fetchone()
            if row is not None:
                arn = self._arn(cfg.function, cfg.qualifier or LATEST)
                raise ResourceConflict(
                    f"Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
                )
            conn.execute(
                "INSERT INTO function_urls (name, qualifier, url_id, config) VALUES (?, ?, ?, ?)",
                (cfg.function, cfg.qualifier or "", cfg.url_id, cfg.to_json()),
            )

    def update_url_config(self, cfg: FunctionUrlConfig) -> None:
        with self._db.transaction() as conn:
            self._url_config(conn, cfg.function, cfg.qualifier)
            conn.execute(
                "UPDATE function_urls SET config = ? WHERE name = ? AND qualifier = ?",
                (cfg.to_json(), cfg.function, cfg.qualifier or ""),
            )

    def get_url_config(self, function: str, qualifier: str | None) -> FunctionUrlConfig:
        with self._db.reading() as conn:
            return self._url_config(conn, function, qualifier)

    def url_config_by_id(self, url_id: str) -> FunctionUrlConfig | None:
        """The configuration a URL id names (for the HTTP front that serves URLs)."""
        with self._db.reading() as conn:
            row = conn.execute(
                "SELECT config FROM function_urls WHERE url_id = ?", (url_id,)
            ).fetchone()
        return None if row is None else FunctionUrlConfig.from_json(row[0])

    def list_url_configs(self, function: str) -> list[FunctionUrlConfig]:
        with self._db.reading() as conn:
            if not self._exists(conn, function, LATEST):
                raise self._not_found(function, LATEST)
            rows = conn.execute(
                "SELECT config FROM function_urls WHERE name = ? ORDER BY qualifier", (function,)
            ).fetchall()
        return [FunctionUrlConfig.from_json(text) for (text,) in rows]

    def delete_url_config(self, function: str, qualifier: str | None) -> None:
        with self._db.transaction() as conn:
            self._url_config(conn, function, qualifier)
            conn.execute(
                "DELETE FROM function_urls WHERE name = ? AND qualifier = ?",
                (function, qualifier or ""),
            )

    # -- internals --------------------------------------------------------------------------

    def _alias(self, conn: sqlite3.Connection, function: str, name: str) -> Alias:
        row = conn.execute(
            "SELECT config FROM function_aliases WHERE name = ? AND alias = ?", (function, name)
        ).fetchone()
        if row is None:
            raise ResourceNotFound(
                f"Alias not found: {self._arn(function, name)}"
                if self._exists(conn, function, LATEST)
                else f"Function not found: {self._arn(function)}"
            )
        return Alias.from_json(row[0])

    @staticmethod
    def _aliases_of(conn: sqlite3.Connection, function: str) -> list[Alias]:
        rows = conn.execute(
            "SELECT config FROM function_aliases WHERE name = ? ORDER BY alias", (function,)
        ).fetchall()
        return [Alias.from_json(text) for (text,) in rows]

    def _check_alias_target(self, conn: sqlite3.Connection, alias: Alias) -> None:
        """Every version an alias routes to must exist (checked in the write's transaction)."""
        if not self._exists(conn, alias.function, LATEST):
            raise self._not_found(alias.function, LATEST)
        for version in sorted(alias.versions()):
            if not self._exists(conn, alias.function, version):
                raise ResourceNotFound(f"Function not found: {self._arn(alias.function, version)}")

    def _url_config(
        self, conn: sqlite3.Connection, function: str, qualifier: str | None
    ) -> FunctionUrlConfig:
        row = conn.execute(
            "SELECT config FROM function_urls WHERE name = ? AND qualifier = ?",
            (function, qualifier or ""),
        ).fetchone()
        if row is None:
            if not self._exists(conn, function, LATEST):
                raise self._not_found(function, LATEST)
            raise ResourceNotFound("The resource you requested does not exist.")
        return FunctionUrlConfig.from_json(row[0])

    def _upsert(self, conn: sqlite3.Connection, cfg: FunctionConfig) -> None:
        now = now_lambda_timestamp()
        conn.execute(
            "INSERT INTO functions (name, version, config, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT(name, version) DO UPDATE SET "
            "config = excluded.config, updated_at = excluded.updated_at",
            (cfg.name, cfg.version, config_to_json(cfg), now, now),
        )
        if cfg.version != LATEST and cfg.version.isdigit():
            conn.execute(
                "INSERT INTO function_settings (name, last_version) VALUES (?, ?) "
                "ON CONFLICT(name) DO UPDATE SET "
                "last_version = MAX(last_version, excluded.last_version)",
                (cfg.name, int(cfg.version)),
            )

    def _next_version(self, conn: sqlite3.Connection, name: str) -> int:
        row = conn.execute(
            "SELECT MAX(COALESCE((SELECT last_version FROM function_settings WHERE name = ?), 0),"
            " COALESCE((SELECT MAX(CAST(version AS INTEGER)) FROM functions"
            "  WHERE name = ? AND version != ?), 0))",
            (name, name, LATEST),
        ).fetchone()
        return int(row[0]) + 1

    @staticmethod
    def _exists(conn: sqlite3.Connection, name: str, version: str) -> bool:
        row = conn.execute(
            "SELECT 1 FROM functions WHERE name = ? AND version = ?", (name, version)
        ).fetchone()
        return row is not None

    def _not_found(self, name: str, version: str) -> ResourceNotFound:
        return ResourceNotFound(f"Function not found: {self._arn(name, version)}")


def _decode(text: str) -> FunctionConfig:
    try:
        return config_from_json(text)
    except ValueError as exc:
        raise ServiceError(f"Stored function configuration is unreadable: {exc}") from exc


def _encode_marker(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode("ascii")


def _decode_marker(marker: str) -> str:
    try:
        return base64.urlsafe_b64decode(marker.encode("ascii")).decode()
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise InvalidParameterValue(f"Invalid marker: {marker}") from exc
