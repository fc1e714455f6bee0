"""The layer store, the merged /opt trees, and the pure rules around layers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from lamina.arns import layer_version_arn, parse_layer_name, parse_layer_version_arn
from lamina.errors import InvalidParameterValue, PreconditionFailed, ResourceConflict
from lamina.layers import Layers, check_total_size
from lamina.models.function import FunctionConfig
from lamina.models.layer import FunctionLayer, LayerVersion, PublishRequest, validate_permission
from lamina.scheduler.variables import environment_variables, node_path, python_layer_path
from lamina.store.code import CodeStore
from lamina.store.codec import config_from_json, config_to_json
from lamina.store.layers import LayerStore
from lamina.store.optdir import LayerMerger
from tests.integration.harness import zip_files


def version(name: str = "l", sha: str = "a" * 64) -> LayerVersion:
    return LayerVersion(name, 0, sha, 10, 20, "2024-01-01T00:00:00.000+0000")


def test_version_numbers_grow_and_are_never_reused(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers.db")
    assert [store.publish(version()).version for _ in range(2)] == [1, 2]
    store.delete("l", 1)
    store.delete("l", 2)
    assert store.versions("l") == []
    assert store.publish(version()).version == 3
    # Survives a restart.
    store.close()
    again = LayerStore(tmp_path / "layers.db")
    assert [v.version for v in again.versions("l")] == [3]
    assert again.publish(version()).version == 4


def test_permissions_conflict_on_a_statement_id_and_check_the_revision(tmp_path: Path) -> None:
    store = LayerStore(tmp_path / "layers.db")
    store.publish(version())
    perm = validate_permission("s1", "lambda:GetLayerVersion", "*", None)
    store.add_permission("l", 1, perm, "r1", None)
    with pytest.raises(ResourceConflict):
        store.add_permission("l", 1, perm, "r2", None)
    with pytest.raises(PreconditionFailed):
        store.add_permission("l", 1, perm.__class__("s2", "*"), "r2", "stale")
    statements, revision = store.permissions("l", 1)
    assert [s.statement_id for s in statements] == ["s1"] and revision == "r1"


def test_permission_fields_are_validated() -> None:
    with pytest.raises(InvalidParameterValue, match="at 'principal'"):
        validate_permission("s", "lambda:GetLayerVersion", "someone", None)
    with pytest.raises(InvalidParameterValue, match="at 'action'"):
        validate_permission("s", "lambda:InvokeFunction", "*", None)
    with pytest.raises(InvalidParameterValue, match="OrganizationId"):
        validate_permission("s", "lambda:GetLayerVersion", "123456789012", "o-abcdefghij")


def test_layer_arns_parse_and_refuse() -> None:
    arn = layer_version_arn("us-east-1", "123456789012", "my-layer", 7)
    ref = parse_layer_version_arn(arn)
    assert (ref.name, ref.version, ref.region, ref.account) == (
        "my-layer",
        7,
        "us-east-1",
        "123456789012",
    )
    assert parse_layer_name("my-layer").name == "my-layer"
    assert parse_layer_name(arn.rsplit(":", 1)[0]).name == "my-layer"
    for bad in ("my-layer", arn.rsplit(":", 1)[0], "arn:aws:lambda:us-east-1:1:layer:x:1"):
        with pytest.raises(InvalidParameterValue, match="at 'arn'"):
            parse_layer_version_arn(bad)
    with pytest.raises(InvalidParameterValue, match="at 'layerName'"):
        parse_layer_name("bad name")


def test_resolve_checks_count_duplicates_and_existence(tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    layers = Layers(LayerStore(tmp_path / "layers.db"), code, "us-east-1", "000000000000")
    pkg = zip_files({"python/x.py": "X = 1\n"})
    one = layers.publish("x", PublishRequest(), pkg)
    two = layers.publish("x", PublishRequest(), pkg)
    assert one.code_sha256 == two.code_sha256  # content-addressed: stored once
    assert one.unzipped_size == len("X = 1\n")
    arn1, arn2 = layers.version_arn(one), layers.version_arn(two)
    resolved = layers.resolve([arn1])
    assert resolved == (FunctionLayer(arn1, one.code_sha256, one.code_size, one.unzipped_size),)
    with pytest.raises(InvalidParameterValue, match="more than 5"):
        layers.resolve([arn1] * 6)
    with pytest.raises(InvalidParameterValue, match="same layer"):
        layers.resolve([arn1, arn2])
    with pytest.raises(InvalidParameterValue, match="does not exist"):
        layers.resolve([arn1.replace("us-east-1", "eu-west-1")])


def test_the_250_mb_limit_counts_code_and_layers() -> None:
    layer = FunctionLayer("arn", "a" * 64, 1, 200_000_000)
    check_total_size(62_144_000, [layer])
    with pytest.raises(InvalidParameterValue, match="The actual size is 262144001 bytes"):
        check_total_size(62_144_001, [layer])


def test_a_function_configuration_with_layers_round_trips_through_the_store_codec() -> None:
    cfg = FunctionConfig(
        "f", "python3.12", "app.handler", "b" * 64, 1, layers=(FunctionLayer("a", "c" * 64, 2, 3),)
    )
    assert config_from_json(config_to_json(cfg)) == cfg


def test_layers_merge_in_order_into_a_read_only_tree(tmp_path: Path) -> None:
    code = CodeStore(tmp_path / "code")
    first = code.put_zip(
        zip_files(
            {"python/a.py": "a", "shared.txt": "first", "bin/tool": "#!/bin/sh\n"},
            ("bin/tool",),
        )
    )
    second = code.put_zip(zip_files({"python/b.py": "b", "shared.txt": "second"}))
    merger = LayerMerger(tmp_path / "code" / "opt", code.unpacked)
    merged = merger.merged((first.sha256_hex, second.sha256_hex))
    assert (merged / "python" / "a.py").read_text() == "a"
    assert (merged / "python" / "b.py").read_text() == "b"
    assert (merged / "shared.txt").read_text() == "second"
    assert os.access(merged / "bin" / "tool", os.X_OK)
    assert stat.S_IMODE((merged / "python").stat().st_mode) == 0o555
    # Built once: the same set answers the same tree; another order is another tree.
    assert merger.merged((first.sha256_hex, second.sha256_hex)) == merged
    other = merger.merged((second.sha256_hex, first.sha256_hex))
    assert other != merged and (other / "shared.txt").read_text() == "first"
    assert not [p for p in merger.root.iterdir() if p.name.startswith(".tmp-")]


def test_runtime_paths_point_at_the_layers() -> None:
    assert node_path("nodejs22.x", "/opt", "/var/runtime", "/var/task").split(":") == [
        "/opt/nodejs/node22/node_modules",
        "/opt/nodejs/node_modules",
        "/var/runtime/node_modules",
        "/var/runtime",
        "/var/task",
    ]
    assert python_layer_path("/x", "3.12.1") == "/x/python/lib/python3.12/site-packages:/x/python"
    cfg = FunctionConfig("f", "nodejs20.x", "index.handler", "b" * 64, 1)
    env = environment_variables(
        cfg,
        region="us-east-1",
        runtime_api="127.0.0.1:1",
        log_stream="s",
        task_root="/t",
        runtime_dir="/r",
        execution_env=None,
        opt_root="/data/opt/abc",
    )
    assert env["PATH"].endswith(":/data/opt/abc/bin")
    assert env["LD_LIBRARY_PATH"].endswith(":/data/opt/abc/lib")
    assert env["NODE_PATH"].startswith("/data/opt/abc/nodejs/node20/node_modules:")
