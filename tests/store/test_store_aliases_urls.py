"""The metadata store's aliases and function URL configurations, and their cascades."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.errors import PreconditionFailed, ResourceConflict, ResourceNotFound
from lamina.models.alias import Alias
from lamina.models.function import FunctionConfig
from lamina.models.function_url import Cors, FunctionUrlConfig
from lamina.store.metadata import MetadataStore


def config(name: str) -> FunctionConfig:
    return FunctionConfig(name, "python3.12", "app.handler", "ab" * 32, 100)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[MetadataStore]:
    store = MetadataStore(tmp_path / "lamina.db")
    store.create_function(config("f"))
    store.publish_version(config("f"))
    store.publish_version(config("f"))
    yield store
    store.close()


def url(qualifier: str | None, url_id: str = "a" * 32) -> FunctionUrlConfig:
    return FunctionUrlConfig("f", qualifier, url_id, "NONE", cors=Cors(allow_origins=("*",)))


def test_aliases_are_created_read_updated_and_listed(store: MetadataStore) -> None:
    live = Alias("f", "live", "1", revision_id="r1")
    store.create_alias(live)
    assert store.all_aliases() == [live]
    with pytest.raises(ResourceConflict, match="Alias already exists"):
        store.create_alias(live)
    moved = Alias("f", "live", "2", weights={"1": 0.2}, revision_id="r2")
    with pytest.raises(PreconditionFailed):
        store.update_alias(moved, expected_revision="stale")
    store.update_alias(moved, expected_revision="r1")
    assert store.all_aliases() == [moved]
    store.create_alias(Alias("f", "beta", "$LATEST", revision_id="r3"))
    assert [a.name for a in store.all_aliases()] == ["beta", "live"]


def test_an_alias_must_point_at_existing_versions(store: MetadataStore) -> None:
    with pytest.raises(ResourceNotFound, match=r"function:f:9$"):
        store.create_alias(Alias("f", "x", "9"))
    with pytest.raises(ResourceNotFound, match=r"function:f:7$"):
        store.create_alias(Alias("f", "x", "1", weights={"7": 0.5}))
    with pytest.raises(ResourceNotFound, match=r"function:g$"):
        store.create_alias(Alias("g", "x", "1"))


def test_a_version_an_alias_routes_to_cannot_be_deleted(store: MetadataStore) -> None:
    store.create_alias(Alias("f", "live", "1", weights={"2": 0.5}))
    for version in ("1", "2"):
        with pytest.raises(ResourceConflict, match="live"):
            store.delete_function("f", version)
    store.delete_alias("f", "live")
    store.delete_function("f", "2")


def test_url_configs_by_qualifier_and_id(store: MetadataStore) -> None:
    store.create_url_config(url(None))
    with pytest.raises(ResourceConflict):
        store.create_url_config(url(None, "b" * 32))
    with pytest.raises(ResourceNotFound):
        store.create_url_config(url("live", "c" * 32))  # no such alias
    store.create_alias(Alias("f", "live", "1"))
    store.create_url_config(url("live", "c" * 32))
    assert store.get_url_config("f", "live").url_id == "c" * 32
    assert store.url_config_by_id("a" * 32) == url(None)
    assert [c.qualifier for c in store.list_url_configs("f")] == [None, "live"]
    store.delete_alias("f", "live")  # takes its URL with it
    assert store.url_config_by_id("c" * 32) is None
    store.delete_url_config("f", None)
    with pytest.raises(ResourceNotFound):
        store.get_url_config("f", None)


def test_deleting_the_function_deletes_its_aliases_and_urls(store: MetadataStore) -> None:
    store.create_alias(Alias("f", "live", "1"))
    store.create_url_config(url(None))
    store.delete_function("f")
    assert store.all_aliases() == []
    assert store.url_config_by_id("a" * 32) is None
