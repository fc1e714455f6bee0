"""One function's package from its sources: the right build for its runtime, then the zip.

=========================  =====================================================
source                     build
=========================  =====================================================
``InlineCode``             one file, named after the handler's module
a ``.zip``                 used as is (plus layers)
``Metadata.BuildMethod:``  ``make build-<LogicalId>`` with ``ARTIFACTS_DIR``, as
``makefile``               ``sam build`` runs it
Python directory           the files, plus ``requirements.txt``'s packages
Node.js directory          the files, plus ``package.json``'s production dependencies
``provided.*`` with        ``cargo build --release --offline``; the binary ships
``Cargo.toml``             as ``bootstrap``
anything else              the directory's files
=========================  =====================================================

Layers from the template are merged underneath (Lamina has no ``/opt``): a layer's
``python/`` or ``python/lib/python3.x/site-packages/`` and ``nodejs/node_modules/`` land
where the runtime finds them; anything else keeps its path in the package root.
"""

from __future__ import annotations

import os
import re
import shutil

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

_SITE_PACKAGES = re.compile(r"^python/lib/python3\.\d+/site-packages/")


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


def _layer_entries(layer: LayerSpec, runtime: str, tools: Toolchain) -> Entries:
    runtime_family = family(runtime)
    path = layer.code.path
    assert path is not None
    if layer.code.kind == "zip":
        raise BuildError(f"layer {layer.logical_id}: zip layers are not supported, use a directory")
    raw = collect(path)
    out: Entries = {}
    for name, file in raw.items():
        if runtime_family == "python" and _SITE_PACKAGES.match(name):
            out[_SITE_PACKAGES.sub("", name)] = file
        elif runtime_family == "python" and name.startswith("python/"):
            out[name.removeprefix("python/")] = file
        elif runtime_family == "node" and name.startswith("nodejs/node_modules/"):
            out[name.removeprefix("nodejs/")] = file
        else:
            out[name] = file
    requirements = path / "requirements.txt"
    if runtime_family == "python" and requirements.is_file():
        deps = python_deps(requirements, runtime, tools, f"layer-{layer.logical_id}")
        out = {**collect(deps), **out}
    return out


def _makefile(spec: FunctionSpec, tools: Toolchain) -> Entries:
    source = spec.code.path
    assert source is not None
    artifacts = tools.cache / "make" / spec.logical_id
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    run_logged(
        ["make", f"build-{spec.logical_id}"],
        cwd=source if source.is_dir() else source.parent,
        log=tools.logs / f"{spec.logical_id}.log",
        what=f"{spec.logical_id}: make",
        env={**os.environ, "ARTIFACTS_DIR": str(artifacts)},
    )
    return collect(artifacts)


def build_function(spec: FunctionSpec, tools: Toolchain) -> Package:
    """Build ``spec``'s package (raises BuildError, naming the function)."""
    kind = family(spec.runtime)
    layers = [_layer_entries(layer, spec.runtime, tools) for layer in spec.layers]
    code: CodeSource = spec.code
    what = spec.logical_id
    if code.kind == "inline":
        assert code.inline is not None
        return zip_entries(layers, {_inline_name(spec): code.inline.encode()})
    path = code.path
    assert path is not None
    if code.kind == "zip":
        return zip_entries(layers, zip_file_entries(path))
    if (code.build_method or "").lower() == "makefile":
        return zip_cached(tools.cache, [*layers, _makefile(spec, tools)])
    if is_rust(spec):
        built = cargo_build(path, code.binary, tools, what)
        return zip_entries(layers, {"bootstrap": built.read_bytes()})
    source = collect(path, exclude=excludes_for(spec))
    parts: list[Entries] = list(layers)
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
