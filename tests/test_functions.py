"""Functions: the control plane's writes and the in-memory index, over real stores and a
real scheduler pool (no server, no root)."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.config import Settings
from lamina.errors import InvalidParameterValue, PreconditionFailed, ResourceNotFound
from lamina.functions import Functions
from lamina.models.function import FunctionConfig
from lamina.models.layer import PublishRequest
from lamina.models.requests import CodeRef, CodeUpdate, CreateRequest
from lamina.scheduler.pool import Pool, PoolLimits
from lamina.store.code import CodeStore
from lamina.store.metadata import MetadataStore


def package(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", text)
    return buf.getvalue()


def create_request(name: str, **changes: object) -> CreateRequest:
    cfg = FunctionConfig(name, "python3.12", "app.handler", "0" * 64, 0).with_changes(**changes)
    return CreateRequest(cfg, CodeRef(zip_file=b""), publish=False, tags={})


class Parts:
    """One data directory's stores, the pool reservations land in, and what was drained."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings
        self.metadata = MetadataStore(root / "lamina.db")
        self.code = CodeStore(root / "code")
        self.pool = Pool(PoolLimits(account=settings.concurrency_limit))
        self.drained: list[str] = []

    def functions(self, draw: float = 0.0) -> Functions:
        async def drain(name: str) -> None:
            self.drained.append(name)

        return Functions(
            self.settings,
            self.metadata,
            self.code,
            drain,
            self.pool.set_reserved,
            draw=lambda: draw,
        )


@pytest.fixture
def parts(tmp_path: Path) -> Iterator[Parts]:
    settings = Settings(data_dir=tmp_path, concurrency_limit=1000, unreserved_minimum=100)
    made = Parts(tmp_path, settings)
    yield made
    made.metadata.close()


def test_a_reservation_is_stored_and_takes_effect_in_the_pool(parts: Parts) -> None:
    functions = parts.functions()
    functions.create(create_request("f"), package("a"))
    functions.set_reserved_concurrency("f", 300)
    assert functions.reserved_concurrency("f") == 300
    assert parts.pool.unreserved_limit() == 700
    functions.set_reserved_concurrency("f", None)
    assert functions.reserved_concurrency("f") is None
    assert parts.pool.unreserved_limit() == 1000


def test_a_reservation_must_leave_the_unreserved_minimum(parts: Parts) -> None:
    functions = parts.functions()
    for name in ("a", "b"):
        functions.create(create_request(name), package(name))
    functions.set_reserved_concurrency("a", 800)
    with pytest.raises(InvalidParameterValue, match=r"minimum value of \[100\]"):
        functions.set_reserved_concurrency("b", 101)
    functions.set_reserved_concurrency("b", 100)
    # Changing a's own reservation does not count a's old value against it.
    functions.set_reserved_concurrency("a", 800)
    assert parts.pool.unreserved_limit() == 100


def test_reservations_are_loaded_into_the_pool_at_start(parts: Parts) -> None:
    first = parts.functions()
    first.create(create_request("f"), package("a"))
    first.set_reserved_concurrency("f", 42)
    restarted = Parts(parts.root, parts.settings)
    try:
        restarted.functions()
        assert restarted.pool.unreserved_limit() == 958
    finally:
        restarted.metadata.close()


def test_deleting_a_function_releases_its_reservation_and_drains_it(parts: Parts) -> None:
    functions = parts.functions()
    functions.create(create_request("f"), package("a"))
    functions.set_reserved_concurrency("f", 10)
    asyncio.run(functions.delete("f"))
    assert parts.pool.unreserved_limit() == 1000
    assert parts.drained == ["f"]
    with pytest.raises(ResourceNotFound):
        functions.reserved_concurrency("f")


def test_settings_of_a_missing_function_are_not_found(parts: Parts) -> None:
    functions = parts.functions()
    with pytest.raises(ResourceNotFound, match=r"function:ghost$"):
        functions.set_reserved_concurrency("ghost", 1)
    with pytest.raises(ResourceNotFound):
        functions.tag("ghost", {"a": "b"})


def test_collect_code_removes_only_packages_no_version_uses(parts: Parts) -> None:
    functions = parts.functions()
    old = functions.create(create_request("f"), package("old")).code_sha256
    published = functions.publish("f").code_sha256
    new = asyncio.run(
        functions.update_code("f", CodeUpdate(CodeRef(), None, False, False, None), package("new"))
    ).code_sha256
    gone = functions.create(create_request("g"), package("gone")).code_sha256
    asyncio.run(functions.delete("g"))
    assert functions.collect_code() == [gone]
    assert published == old  # version 1 still runs the old code: it stays
    assert parts.code.has(old) and parts.code.has(new)
    assert not parts.code.has(gone)


def test_collect_code_keeps_layers_published_and_in_use(parts: Parts) -> None:
    functions = parts.functions()
    layers = functions.layers
    used = layers.publish("lib", PublishRequest(), package("used layer"))
    unused = layers.publish("spare", PublishRequest(), package("spare layer"))
    with_layer = CreateRequest(
        create_request("f").config, CodeRef(), False, {}, (layers.version_arn(used),)
    )
    functions.create(with_layer, package("f"))
    # A deleted layer version still runs in the functions that name it (as on Lambda).
    layers.delete("lib", used.version)
    gone = layers.publish("tmp", PublishRequest(), package("tmp layer"))
    layers.delete("tmp", gone.version)
    assert functions.collect_code() == [gone.code_sha256]
    assert parts.code.has(used.code_sha256) and parts.code.has(unused.code_sha256)


def test_a_stale_revision_is_refused_and_nothing_changes(parts: Parts) -> None:
    functions = parts.functions()
    cfg = functions.create(create_request("f"), package("a"))
    with pytest.raises(PreconditionFailed):
        asyncio.run(functions.update_configuration("f", cfg.with_changes(memory_mb=256), "stale"))
    assert functions.get("f").memory_mb == 128
    assert parts.drained == []
    updated = asyncio.run(
        functions.update_configuration("f", cfg.with_changes(memory_mb=256), cfg.revision_id)
    )
    assert updated.memory_mb == 256 and updated.revision_id != cfg.revision_id
    assert parts.drained == ["f"]


def test_publishing_an_unchanged_function_answers_the_last_version(parts: Parts) -> None:
    functions = parts.functions()
    functions.create(create_request("f"), package("a"))
    one = functions.publish("f")
    assert functions.publish("f", description="again") == one
    assert [c.version for c in functions.versions("f")] == ["$LATEST", "1"]


@pytest.mark.parametrize(("draw", "version"), [(0.0, "2"), (0.19, "2"), (0.2, "1"), (0.99, "1")])
def test_an_alias_with_weights_draws_its_version(parts: Parts, draw: float, version: str) -> None:
    functions = parts.functions(draw)
    functions.create(create_request("f"), package("a"))
    functions.publish("f")
    asyncio.run(
        functions.update_configuration(
            "f", functions.get("f").with_changes(memory_mb=256), revision_id=None
        )
    )
    functions.publish("f")
    functions.create_alias("f", "live", "1", "", {"2": 0.2})
    assert functions.resolve("f", "live").version == version
    assert functions.get("f", "live").version == "1"  # reads answer the primary version


def test_where_nothing_would_provision_a_configuration_is_refused_not_kept(parts: Parts) -> None:
    # A cluster's control plane has no provisioner (its invokes run on the nodes): a
    # configuration there would stay IN_PROGRESS for ever, so it is refused and not stored.
    functions = parts.functions()
    assert functions.provisioning is None
    functions.create(create_request("f"), package("a"))
    version = functions.publish("f").version
    with pytest.raises(InvalidParameterValue, match="not available on a Lamina cluster"):
        functions.put_provisioned("f", version, 1)
    assert functions.provisioned_configs("f") == []
