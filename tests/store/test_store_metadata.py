"""The SQLite metadata store: functions, versions, paging, errors, settings, persistence."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import ConfigError, InvalidParameterValue, ResourceConflict, ResourceNotFound
from lamina.models.function import FunctionConfig
from lamina.store.metadata import MetadataStore
from lamina.store.schema import MIGRATIONS, migrate


def config(name: str, **changes: object) -> FunctionConfig:
    cfg = FunctionConfig(name, "python3.12", "app.handler", "ab" * 32, 100)
    return cfg.with_changes(**changes)


def stored(store: MetadataStore, name: str, version: str = "$LATEST") -> FunctionConfig:
    """What the store holds for (name, version), read the way the server reads it."""
    found = [c for c in store.all_functions() if (c.name, c.version) == (name, version)]
    assert found, f"{name}:{version} is not stored"
    return found[0]


def versions(store: MetadataStore, name: str) -> list[str]:
    """The function's stored versions, ``$LATEST`` first, then by number."""
    found = [c.version for c in store.all_functions() if c.name == name]
    return sorted(found, key=lambda v: -1 if v == "$LATEST" else int(v))


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "lamina.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(db_path, region="eu-west-1", account_id="123456789012")
    yield store
    store.close()


def test_create_then_get_returns_the_same_config(store: MetadataStore) -> None:
    cfg = config("orders", environment={"A": "b"}, revision_id="r1")
    store.create_function(cfg)
    assert stored(store, "orders") == cfg


def test_create_twice_is_a_conflict(store: MetadataStore) -> None:
    store.create_function(config("orders"))
    with pytest.raises(ResourceConflict) as err:
        store.create_function(config("orders", memory_mb=256))
    assert err.value.message == "Function already exist: orders"
    assert err.value.status == 409
    assert stored(store, "orders").memory_mb == 128


def test_missing_function_is_not_found_with_its_arn(store: MetadataStore) -> None:
    with pytest.raises(ResourceNotFound) as err:
        store.delete_function("nope")
    assert err.value.message == (
        "Function not found: arn:aws:lambda:eu-west-1:123456789012:function:nope"
    )
    assert err.value.error_type == "ResourceNotFoundException"
    store.create_function(config("f"))
    with pytest.raises(ResourceNotFound, match=r"function:f:3$"):
        store.delete_function("f", "3")


def test_default_region_and_account_in_not_found(db_path: Path) -> None:
    store = MetadataStore(db_path)
    with pytest.raises(
        ResourceNotFound, match=r"arn:aws:lambda:us-east-1:000000000000:function:x$"
    ):
        store.publish_version(config("x"))
    store.close()


def test_put_function_replaces_that_version(store: MetadataStore) -> None:
    store.create_function(config("f"))
    store.put_function(config("f", memory_mb=512))
    assert stored(store, "f").memory_mb == 512


def test_list_functions_pages_by_name(store: MetadataStore) -> None:
    names = [f"fn-{i:02d}" for i in range(7)]
    for name in reversed(names):
        store.create_function(config(name))
    store.put_function(config("fn-03", version="1"))  # versions are not listed
    seen: list[str] = []
    marker: str | None = None
    pages = 0
    while True:
        page, marker = store.list_functions(marker, 3)
        pages += 1
        seen += [cfg.name for cfg in page]
        assert all(cfg.version == "$LATEST" for cfg in page)
        if marker is None:
            break
    assert seen == names
    assert pages == 3


def test_list_functions_exact_page_has_no_next_marker(store: MetadataStore) -> None:
    for name in ("a", "b"):
        store.create_function(config(name))
    page, marker = store.list_functions(None, 2)
    assert [cfg.name for cfg in page] == ["a", "b"]
    assert marker is None
    assert store.list_functions(None, 50) == (page, None)


def test_list_functions_rejects_bad_page_size_and_marker(store: MetadataStore) -> None:
    with pytest.raises(InvalidParameterValue, match="greater than or equal to 1"):
        store.list_functions(None, 0)
    with pytest.raises(InvalidParameterValue, match="less than or equal to 10000"):
        store.list_functions(None, 10_001)
    with pytest.raises(InvalidParameterValue, match="Invalid marker"):
        store.list_functions("%%%not-base64", 10)


def test_versions_are_numbered_and_never_reused(store: MetadataStore) -> None:
    store.create_function(config("f"))
    one = store.publish_version(config("f", description="v1"))
    two = store.publish_version(config("f", description="v2"))
    assert (one.version, two.version) == ("1", "2")
    assert versions(store, "f") == ["$LATEST", "1", "2"]
    store.delete_function("f", "2")
    assert store.publish_version(config("f")).version == "3"
    assert stored(store, "f", "1").description == "v1"


def test_versions_sort_numerically(store: MetadataStore) -> None:
    store.create_function(config("f"))
    for number in (10, 2, 1):
        store.put_function(config("f", version=str(number)))
    assert versions(store, "f") == ["$LATEST", "1", "2", "10"]
    assert store.publish_version(config("f")).version == "11"


def test_delete_function_removes_versions_settings_and_tags(store: MetadataStore) -> None:
    store.create_function(config("f"))
    store.publish_version(config("f"))
    store.set_reserved_concurrency("f", 5)
    store.set_tags("f", {"team": "a"})
    store.delete_function("f")
    assert versions(store, "f") == []
    with pytest.raises(ResourceNotFound):
        store.publish_version(config("f"))
    assert store.get_reserved_concurrency("f") is None
    assert store.get_tags("f") == {}
    store.create_function(config("f"))
    # A new function starts over, as on Lambda.
    assert store.publish_version(config("f")).version == "1"


def test_delete_errors(store: MetadataStore) -> None:
    with pytest.raises(ResourceNotFound):
        store.delete_function("ghost")
    store.create_function(config("f"))
    with pytest.raises(ResourceNotFound, match=r"function:f:9$"):
        store.delete_function("f", "9")
    with pytest.raises(InvalidParameterValue, match=r"\$LATEST version cannot be deleted"):
        store.delete_function("f", "$LATEST")


def test_reserved_concurrency_and_its_sum(store: MetadataStore) -> None:
    for name in ("a", "b", "c"):
        store.create_function(config(name))
    assert store.sum_reserved_concurrency() == 0
    store.set_reserved_concurrency("a", 100)
    store.set_reserved_concurrency("b", 250)
    assert store.get_reserved_concurrency("a") == 100
    assert store.get_reserved_concurrency("c") is None
    assert store.sum_reserved_concurrency() == 350
    assert store.sum_reserved_concurrency(exclude="b") == 100
    store.set_reserved_concurrency("b", None)
    assert store.get_reserved_concurrency("b") is None
    assert store.sum_reserved_concurrency() == 100
    with pytest.raises(ResourceNotFound):
        store.set_reserved_concurrency("ghost", 1)


def test_tags_merge_and_remove(store: MetadataStore) -> None:
    store.create_function(config("f"))
    store.set_tags("f", {"team": "a", "env": "dev"})
    store.set_tags("f", {"env": "prod"})
    assert store.get_tags("f") == {"env": "prod", "team": "a"}
    store.remove_tags("f", ["team", "unknown"])
    assert store.get_tags("f") == {"env": "prod"}


def test_all_functions_lists_every_version_by_name(store: MetadataStore) -> None:
    store.create_function(config("b"))
    store.create_function(config("a"))
    store.publish_version(config("a"))
    assert [(cfg.name, cfg.version) for cfg in store.all_functions()] == [
        ("a", "$LATEST"),
        ("a", "1"),
        ("b", "$LATEST"),
    ]


def test_data_survives_close_and_reopen(db_path: Path) -> None:
    first = MetadataStore(db_path)
    first.create_function(config("f", environment={"K": "v"}))
    first.publish_version(config("f", description="one"))
    first.set_reserved_concurrency("f", 7)
    first.set_tags("f", {"t": "1"})
    before = (first.all_functions(), first.get_reserved_concurrency("f"), first.get_tags("f"))
    first.close()
    second = MetadataStore(db_path)
    after = (second.all_functions(), second.get_reserved_concurrency("f"), second.get_tags("f"))
    assert after == before
    assert second.publish_version(config("f")).version == "2"
    second.close()


def test_database_uses_wal_and_the_current_schema(store: MetadataStore, db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
        assert versions == list(range(1, len(MIGRATIONS) + 1))
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        assert {"functions", "function_settings", "tags", "schema_version"} <= tables
    finally:
        conn.close()
    assert store.schema_version == len(MIGRATIONS)


def test_migrations_apply_once_and_new_ones_are_picked_up(db_path: Path) -> None:
    conn = sqlite3.connect(db_path, isolation_level=None)
    extra = [*MIGRATIONS, ("CREATE TABLE aliases (name TEXT, alias TEXT)",)]
    assert migrate(conn) == len(MIGRATIONS)
    assert migrate(conn, extra) == len(extra)
    assert migrate(conn, extra) == len(extra)  # idempotent
    with pytest.raises(ConfigError, match="newer than this Lamina"):
        migrate(conn)
    conn.close()


def test_foreign_keys_are_enforced(store: MetadataStore) -> None:
    row = store._db._conn.execute("PRAGMA foreign_keys").fetchone()
    assert row[0] == 1
