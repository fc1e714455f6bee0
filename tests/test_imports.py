"""Lamina's imports point one way: down the layers of docs/design.md, no module or package
imports itself back, and nothing imports ``lamina.cli`` (the top of the house).

The graph is read from the source with :mod:`ast` (nothing is imported), counting every
import at module level and inside functions — a lazy import is still a dependency — but
not those under ``if TYPE_CHECKING:``, which only name a type and never run. Two
granularities are checked: modules (``lamina.sam.deploy``) and the packages under
``lamina`` (``lamina.sam``, ``lamina.functions``), where a circle means two layers use each
other.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "lamina"

Graph = Mapping[str, set[str]]


def module_names(package: Path = PACKAGE) -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in package.rglob("*.py"):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _owner(name: str, modules: Mapping[str, Path]) -> str | None:
    """The module that defines ``name`` (a module, or a name inside one)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _runtime_nodes(tree: ast.AST) -> Iterator[ast.AST]:
    """Every node of ``tree`` except what sits under ``if TYPE_CHECKING:``."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                todo.extend(child.orelse)
                continue
            todo.append(child)


def import_graph(modules: Mapping[str, Path], *, type_only: bool = False) -> dict[str, set[str]]:
    """Module → the lamina modules it imports (with ``type_only``, those imported under
    ``if TYPE_CHECKING:`` too)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree) if type_only else _runtime_nodes(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                if not target.startswith("lamina"):
                    continue
                owner = _owner(target, modules)
                if owner is not None and owner != name:
                    graph[name].add(owner)
    return graph


def layer_of(module: str) -> str:
    """The package directly under ``lamina`` a module belongs to (or the module itself)."""
    return ".".join(module.split(".")[:2])


def layer_graph(graph: Graph) -> dict[str, set[str]]:
    layers: dict[str, set[str]] = defaultdict(set)
    for source, targets in graph.items():
        for target in targets:
            if layer_of(source) != layer_of(target):
                layers[layer_of(source)].add(layer_of(target))
    return layers


def cycles(nodes: Iterable[str], graph: Graph) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in sorted(nodes):
        if root in index:
            continue
        work: list[tuple[str, Iterable[str]]] = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(iter(children), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _edges_within(component: list[str], graph: Graph) -> list[str]:
    members = set(component)
    return [f"{a} -> {b}" for a in component for b in sorted(graph.get(a, ())) if b in members]


def test_no_module_imports_itself_back() -> None:
    modules = module_names()
    graph = import_graph(modules)
    found = cycles(modules, graph)
    assert found == [], "\n".join(
        "import cycle:\n  " + "\n  ".join(_edges_within(c, graph)) for c in found
    )


def test_not_even_a_type_only_import_closes_a_circle() -> None:
    """Two modules that name each other's types are one module in two files: a reader
    must know both to change either. A shared type moves down, or a Protocol says what is
    needed (as ``services/sqs/messaging.Queues`` does)."""
    modules = module_names()
    graph = import_graph(modules, type_only=True)
    found = cycles(modules, graph)
    assert found == [], "\n".join(
        "import cycle (type-only imports counted):\n  " + "\n  ".join(_edges_within(c, graph))
        for c in found
    )


def test_no_two_packages_import_each_other() -> None:
    graph = import_graph(module_names())
    layers = layer_graph(graph)
    nodes = set(layers) | {t for targets in layers.values() for t in targets}
    found = cycles(nodes, layers)
    detail = []
    for component in found:
        members = set(component)
        edges = sorted(
            f"{source} -> {target}"
            for source, targets in graph.items()
            for target in targets
            if layer_of(source) in members
            and layer_of(target) in members
            and layer_of(source) != layer_of(target)
        )
        detail.append(f"{' <-> '.join(component)}:\n  " + "\n  ".join(edges))
    assert found == [], "packages in a circle:\n" + "\n".join(detail)


def test_nothing_imports_the_cli() -> None:
    graph = import_graph(module_names())
    offenders = sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if layer_of(target) == "lamina.cli" and layer_of(source) != "lamina.cli"
    )
    assert offenders == [], "the CLI is the top of the house; these import it:\n" + "\n".join(
        offenders
    )


# The packages under lamina, top first (docs/design.md): a package may import its own layer
# and the layers below it, never one above. A new package gets a place here.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "demo"),
    ("tools", "sam"),
    ("client", "terminal"),
    ("server",),
    ("api", "events", "cluster", "console", "metrics"),
    ("services",),  # docs/services.md: a service imports neither api/ nor events/
    ("workflows",),  # the pure States Language engine, driven by services/stepfunctions
    ("functions", "layers", "scheduler"),
    ("sandbox", "runtime_api", "runtimes", "billing", "logs", "xray"),
    ("store", "models"),
    ("arns", "config", "errors", "wire", "waiting", "tracing", "triggers"),
)


def test_imports_point_down_the_layers() -> None:
    depth = {f"lamina.{name}": i for i, layer in enumerate(LAYERS) for name in layer}
    graph = import_graph(module_names())
    layers = {layer_of(m) for m in graph} | {layer_of(t) for ts in graph.values() for t in ts}
    unplaced = sorted(layers - set(depth) - {"lamina"})
    assert unplaced == [], f"give these a layer in LAYERS (tests/test_imports.py): {unplaced}"
    upward = sorted(
        f"{source} -> {target}"
        for source, targets in graph.items()
        for target in targets
        if layer_of(source) != "lamina"
        and layer_of(target) != "lamina"
        and depth[layer_of(target)] < depth[layer_of(source)]
    )
    assert upward == [], "imports that point up the layers:\n" + "\n".join(upward)


# -- the checker checks: it must see what it is meant to see --------------------------------
def test_the_checker_finds_a_circle_and_reads_relative_imports(tmp_path: Path) -> None:
    package = tmp_path / "lamina"
    (package / "a").mkdir(parents=True)
    (package / "b").mkdir()
    (package / "__init__.py").write_text("")
    (package / "a" / "__init__.py").write_text("")
    (package / "b" / "__init__.py").write_text("")
    (package / "a" / "one.py").write_text("from lamina.b.two import thing\n")
    (package / "a" / "three.py").write_text("from . import one\n")
    # A lazy import inside a function still counts.
    (package / "b" / "two.py").write_text("def thing() -> None:\n    import lamina.a.three\n")
    # A type-only import never runs: it makes no cycle.
    (package / "b" / "four.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from lamina.a import one\n"
    )
    modules = module_names(package)
    graph = import_graph(modules)
    assert graph["lamina.a.three"] == {"lamina.a.one"}
    assert "lamina.b.four" not in graph
    assert import_graph(modules, type_only=True)["lamina.b.four"] == {"lamina.a.one"}
    assert cycles(modules, graph) == [["lamina.a.one", "lamina.a.three", "lamina.b.two"]]
    assert cycles({"lamina.a", "lamina.b"}, layer_graph(graph)) == [["lamina.a", "lamina.b"]]
