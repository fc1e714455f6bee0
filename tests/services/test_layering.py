"""Services sit below what connects them to functions: they never import events/ or api/."""

from __future__ import annotations

import ast
from pathlib import Path

import lamina.services

FORBIDDEN = ("lamina.events", "lamina.api", "lamina.scheduler", "lamina.server")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_no_service_module_imports_the_layers_above() -> None:
    root = Path(lamina.services.__file__).parent
    modules = sorted(root.rglob("*.py"))
    assert len(modules) > 20  # the walk found the packages
    offenders = {
        f"{path.relative_to(root)} imports {name}"
        for path in modules
        for name in imported_modules(path)
        if name.startswith(FORBIDDEN)
    }
    assert not offenders
