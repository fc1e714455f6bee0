"""One function's package from its sources: the right build for its runtime, then the zip.

=========================  =====================================================
source                     build
=========================  =====================================================
``InlineCode``             one file, named after the handler's module
a ``.zip``                 used as is
``Metadata.BuildMethod:``  ``make build-<LogicalId>`` with ``ARTIFACTS_DIR``, as
``makefile``               ``sam build`` runs it
Python directory           the files, plus ``requirements.txt``'s packages
Node.js directory          the files, plus ``package.json``'s production dependencies
``provided.*`` with        ``cargo build --release --offline``; the binary ships
``Cargo.toml``             as ``bootstrap``
anything else              the directory's files
=========================  =====================================================

Layers are packages of their own (:func:`build_layer`), published as layer versions and
mounted at ``/opt``, as ``sam build`` and ``sam deploy`` do: a ``ContentUri`` directory as
it is, or with ``Metadata.BuildMethod: python3.x`` its files and ``requirements.txt``'s
packages under ``python/``, with ``nodejs2x.x`` under ``nodejs/`` (and ``package.json``'s
production dependencies in ``nodejs/node_modules``), with ``makefile`` what
``make build-<LogicalId>`` leaves in ``ARTIFACTS_DIR``.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lamina.sam.builds.deps import Toolchain, node_deps, python_deps
from lamina.sam.builds.package import (
    Entries,
    Package,
    collect,
    zip_cached,
    zip_entries,
    zip_file_entries,
)
from lamina.sam.builds.runner import run_logged
from lamina.sam.builds.rust import cargo_build
from lamina.sam.errors import BuildError
from lamina.sam.model import CodeSource, FunctionSpec, LayerSpec
from lamina.sam.runtimes import family


def excludes_for(spec: FunctionSpec) -> tuple[str, ...]:
    """Directories a build makes or fetches itself, so they are neither packed nor watched."""
    kind = family(spec.runtime)
    path = spec.code.path
    if kind == "node" and path is not None and (path / "package.json").is_file():
        return ("node_modules",)
    if is_rust(spec):
        return ("target",)
    return ()


def is_rust(spec: FunctionSpec) -> bool:
    path = spec.code.path
    return (
        spec.code.kind == "dir"
        and path is not None
        and path.is_dir()
        and (
            (path / "Cargo.toml").is_file()
            or (spec.code.build_method or "").startswith("rust-cargolambda")
        )
    )


def _inline_name(spec: FunctionSpec) -> str:
    module = spec.handler.rpartition(".")[0] or "index"
    suffix = ".py" if family(spec.runtime) == "python" else ".js"
    return module.replace(".", "/") + suffix


def build_layer(layer: LayerSpec, tools: Toolchain) -> Package:
    """The zip a template's layer publishes (raises BuildError, naming the layer)."""
    what = f"layer-{layer.logical_id}"
    if layer.code.kind == "requirements":
        return _requirements_layer(layer, tools, what)
    path = layer.code.path
    assert path is not None
    if layer.code.kind == "zip":
        return Package(path.read_bytes())
    method = (layer.code.build_method or "").lower()
    if method.startswith("python"):
        parts = [collect(path, prefix="python/")]
        requirements = path / "requirements.txt"
        if requirements.is_file():
            deps = python_deps(requirements, method, tools, what)
            parts.insert(0, collect(deps, prefix="python/"))
        return zip_cached(tools.cache, parts)
    if method.startswith("nodejs"):
        parts = [collect(path, prefix="nodejs/", exclude=("node_modules",))]
        built = node_deps(path, tools, what) if (path / "package.json").is_file() else None
        if built is not None:
            parts.insert(0, collect(built / "node_modules", prefix="nodejs/node_modules/"))
        return zip_cached(tools.cache, parts)
    if method == "makefile":
        return zip_cached(tools.cache, [_makefile(layer.logical_id, path, tools)])
    if method:
        raise BuildError(f"{what}: Metadata.BuildMethod {method} is not run by Lamina")
    entries = collect(path)
    if not entries:
        raise BuildError(f"{what}: {path} has no files to package")
    return zip_cached(tools.cache, [entries])


def _requirements_layer(layer: LayerSpec, tools: Toolchain, what: str) -> Package:
    """A Python layer that is only packages (a public layer rebuilt: lamina.sam.public_layers)."""
    assert layer.code.inline is not None and layer.code.build_method is not None
    folder = tools.cache / "public-layers" / layer.name
    folder.mkdir(parents=True, exist_ok=True)
    requirements = folder / "requirements.txt"
    requirements.write_text(layer.code.inline)
    deps = python_deps(requirements, layer.code.build_method, tools, what)
    return zip_cached(tools.cache, [collect(deps, prefix="python/")])


def _makefile(logical_id: str, source: Path, tools: Toolchain) -> Entries:
    """``make build-<LogicalId>`` with ``ARTIFACTS_DIR``, as ``sam build`` runs it."""
    artifacts = tools.cache / "make" / logical_id
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    run_logged(
        ["make", f"build-{logical_id}"],
        cwd=source if source.is_dir() else source.parent,
        log=tools.logs / f"{logical_id}.log",
        what=f"{logical_id}: make",
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
    )
    return collect(artifacts)


def build_function(spec: FunctionSpec, tools: Toolchain) -> Package:
    """Build ``spec``'s package (raises BuildError, naming the function)."""
    kind = family(spec.runtime)
    # A function's layers are packages of their own (build_layer), seen at /opt.
    code: CodeSource = spec.code
    what = spec.logical_id
    if code.kind == "inline":
        assert code.inline is not None
        return zip_entries([], {_inline_name(spec): code.inline.encode()})
    path = code.path
    assert path is not None
    if code.kind == "zip":
        return zip_entries([], zip_file_entries(path))
    if (code.build_method or "").lower() == "makefile":
        return zip_cached(tools.cache, [_makefile(spec.logical_id, path, tools)])
    if is_rust(spec):
        built = cargo_build(path, code.binary, tools, what)
        return zip_entries([], {"bootstrap": built.read_bytes()})
    source = collect(path, exclude=excludes_for(spec))
    parts: list[Entries] = []
    if path.is_dir() and kind == "python" and (path / "requirements.txt").is_file():
        parts.append(collect(python_deps(path / "requirements.txt", spec.runtime, tools, what)))
    if path.is_dir() and kind == "node" and (path / "package.json").is_file():
        deps = node_deps(path, tools, what)
        if deps is not None:
            parts.append(collect(deps / "node_modules", prefix="node_modules/"))
    if not source:
        raise BuildError(f"{what}: {path} has no files to package")
    parts.append(source)
    return zip_cached(tools.cache, parts)
