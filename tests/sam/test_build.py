"""Building packages: deterministic zips, dependency caches, inline code, layers, Rust."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest

from lamina.sam.builds.builder import build_function, build_layer
from lamina.sam.builds.deps import Toolchain
from lamina.sam.errors import BuildError
from lamina.sam.model import CodeSource, FunctionSpec, LayerSpec

ROOT = Path(__file__).resolve().parents[2]


def spec(path: Path | None, runtime: str = "python3.12", **extra: object) -> FunctionSpec:
    code = CodeSource("dir", path=path) if path is not None else CodeSource("inline", inline="")
    base = FunctionSpec("Fn", "app-Fn", runtime, "app.handler", code)
    return replace(base, **extra)  # type: ignore[arg-type]


def tools(tmp: Path, **extra: object) -> Toolchain:
    return Toolchain(cache=tmp / "cache", logs=tmp / "logs", **extra)  # type: ignore[arg-type]


def names(data: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(data)).namelist()


def test_the_same_sources_give_the_same_sha(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "pkg").mkdir(parents=True)
    (src / "app.py").write_text("def handler(e, c):\n    return 1\n")
    (src / "pkg" / "util.py").write_text("X = 1\n")
    (src / "__pycache__").mkdir()
    (src / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"junk")
    (src / ".lamina").mkdir()
    (src / ".lamina" / "state.json").write_text("{}")
    first = build_function(spec(src), tools(tmp_path))
    os.utime(src / "app.py", (1, 1))  # a touch changes nothing
    second = build_function(spec(src), tools(tmp_path))
    assert first.sha256 == second.sha256
    assert names(first.data) == ["app.py", "pkg/util.py"]
    (src / "app.py").write_text("def handler(e, c):\n    return 2\n")
    assert build_function(spec(src), tools(tmp_path)).sha256 != first.sha256


def test_requirements_are_installed_once_per_distinct_file(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("import six\n")
    (src / "requirements.txt").write_text("six==1.17.0\n")
    package = build_function(spec(src), tools(tmp_path))
    assert "six.py" in names(package.data) and "app.py" in names(package.data)
    # A second build must not run pip again: a pip that cannot run proves it.
    broken = tools(tmp_path, pip=("/nonexistent/pip",))
    assert build_function(spec(src), broken).sha256 == package.sha256
    (src / "requirements.txt").write_text("six==1.17.0\n# changed\n")
    with pytest.raises(BuildError, match="pip"):
        build_function(spec(src), broken)


def test_pip_failures_name_the_function_and_show_the_log(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "app.py").write_text("")
    (src / "requirements.txt").write_text("this-package-does-not-exist-lamina==9.9.9\n")
    with pytest.raises(BuildError) as info:
        build_function(spec(src), tools(tmp_path))
    assert str(info.value).startswith("Fn: pip")
    assert "this-package-does-not-exist-lamina" in str(info.value)


def test_inline_code_is_named_after_the_handler_module(tmp_path: Path) -> None:
    fn = replace(
        spec(None, "nodejs22.x", handler="index.handler"),
        code=CodeSource("inline", inline="exports.handler = async () => 1;\n"),
    )
    data = build_function(fn, tools(tmp_path)).data
    assert names(data) == ["index.js"]


def test_node_without_dependencies_needs_no_npm_and_skips_node_modules(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "node_modules" / "dev-only").mkdir(parents=True)
    (src / "node_modules" / "dev-only" / "index.js").write_text("")
    (src / "index.js").write_text("exports.handler = async () => 1;\n")
    (src / "package.json").write_text('{"name": "x", "devDependencies": {"jest": "1"}}')
    fn = spec(src, "nodejs22.x", handler="index.handler")
    data = build_function(fn, tools(tmp_path, npm="/nonexistent/npm")).data
    assert names(data) == ["index.js", "package.json"]


def test_a_layer_is_its_own_package_not_merged_into_the_function(tmp_path: Path) -> None:
    src, layer = tmp_path / "src", tmp_path / "layer"
    src.mkdir()
    (src / "app.py").write_text("import shared\n")
    (layer / "python").mkdir(parents=True)
    (layer / "python" / "shared.py").write_text("A = 1\n")
    shared = LayerSpec("Shared", "shared", "arn:layer", CodeSource("dir", path=layer))
    package = build_function(spec(src, layers=(shared,)), tools(tmp_path))
    assert names(package.data) == ["app.py"]
    assert names(build_layer(shared, tools(tmp_path)).data) == ["python/shared.py"]


def test_a_layer_with_a_python_build_method_goes_under_python(tmp_path: Path) -> None:
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "shared.py").write_text("A = 1\n")
    (layer / "requirements.txt").write_text("six==1.17.0\n")
    built = LayerSpec(
        "Shared", "shared", "arn:layer", CodeSource("dir", path=layer, build_method="python3.12")
    )
    listed = names(build_layer(built, tools(tmp_path)).data)
    assert "python/shared.py" in listed and "python/six.py" in listed
    assert all(name.startswith("python/") for name in listed)


def test_a_makefile_build_runs_make_with_artifacts_dir(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    src = tmp_path / "src"
    src.mkdir()
    (src / "Makefile").write_text(
        "build-Fn:\n\tprintf 'def handler(e, c):\\n    return 42\\n' > $(ARTIFACTS_DIR)/app.py\n"
    )
    fn = spec(src, code=CodeSource("dir", path=src, build_method="makefile"))
    assert names(build_function(fn, tools(tmp_path)).data) == ["app.py"]


@pytest.mark.slow
def test_rust_builds_offline_into_an_executable_bootstrap(tmp_path: Path) -> None:
    crate = tmp_path / "report"
    shutil.copytree(ROOT / "examples" / "sam" / "scheduled-job" / "report", crate)
    shutil.rmtree(crate / "target", ignore_errors=True)
    fn = spec(crate, "provided.al2023", handler="bootstrap")
    zf = zipfile.ZipFile(io.BytesIO(build_function(fn, tools(tmp_path)).data))
    (info,) = zf.infolist()
    assert info.filename == "bootstrap" and (info.external_attr >> 16) & 0o111
    assert zf.read(info)[:4] == b"\x7fELF"
    config = (tmp_path / "cache" / "cargo-home" / "config.toml").read_text()
    assert 'directory = "/usr/share/cargo/registry"' in config


def test_a_layer_with_a_makefile_build_runs_make_build_logical_id(tmp_path: Path) -> None:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    layer = tmp_path / "layer"
    layer.mkdir()
    (layer / "Makefile").write_text(
        "build-Shared:\n\tmkdir -p $(ARTIFACTS_DIR)/python\n"
        "\tprintf 'A = 1\\n' > $(ARTIFACTS_DIR)/python/shared.py\n"
    )
    built = LayerSpec(
        "Shared", "shared", "arn:layer", CodeSource("dir", path=layer, build_method="makefile")
    )
    assert names(build_layer(built, tools(tmp_path)).data) == ["python/shared.py"]
