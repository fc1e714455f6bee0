"""Ray is an optional extra: single-machine Lamina imports and serves without it.

The shared test environment has Ray installed (``make test`` installs the ``cluster``
extra), so "without Ray" is made real in a child interpreter whose import system refuses
``ray``: exactly what a ``pip install lamina`` without ``[cluster]`` sees.
"""

from __future__ import annotations

import ast
import json
import re
import signal
import subprocess
import sys
import textwrap
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "lamina"

pytestmark = pytest.mark.slow

# Installed first in the child: any `import ray` (or ray.anything) fails as if absent.
NO_RAY = textwrap.dedent(
    """
    import sys
    from importlib.abc import MetaPathFinder

    class NoRay(MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "ray" or name.startswith("ray."):
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoRay())
    """
)


def run_without_ray(code: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_RAY + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def test_every_module_but_the_cluster_runtime_imports_without_ray() -> None:
    out = run_without_ray(
        """
        import importlib, json, pkgutil, lamina
        failed = {}
        for info in pkgutil.walk_packages(lamina.__path__, "lamina."):
            if info.name.endswith("bootstrap") or info.name.startswith("lamina.runtimes.python"):
                continue
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.split(".")[0] == "ray":
                    failed[info.name] = str(exc)
        print(json.dumps({"failed": failed, "ray_loaded": "ray" in sys.modules}))
        """
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["failed"] == {}, "these modules import Ray at module level"
    assert result["ray_loaded"] is False


def test_lamina_serve_answers_without_ray(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            NO_RAY
            + "from lamina.cli.main import main\n"
            + f"sys.exit(main(['serve', '--port', '0', '--data-dir', {str(tmp_path)!r}]))\n",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        endpoint = ""
        seen: list[str] = []
        for line in proc.stdout:
            seen.append(line)
            m = re.search(r"Lamina serving on (http://\S+)", line)
            if m:
                endpoint = m.group(1)
                break
        assert endpoint, "".join(seen)
        with urllib.request.urlopen(endpoint + "/lamina/v1/health", timeout=30) as resp:
            assert json.loads(resp.read())["status"] == "ok"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def ray_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, at module level) of each ``import ray...`` in a module."""
    tree = ast.parse(path.read_text(), str(path))
    found: list[tuple[int, bool]] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            names: list[str] = []
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom) and not child.level:
                names = [child.module or ""]
            if any(n == "ray" or n.startswith("ray.") for n in names):
                assert isinstance(child, ast.Import | ast.ImportFrom)
                found.append((child.lineno, top))
            # A function's body runs when called; a class body runs at import.
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            visit(child, inner)

    visit(tree, True)
    return found


def test_only_lamina_cluster_imports_ray_and_only_lazily() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for line, top in ray_imports(path):
            where = path.relative_to(ROOT)
            if where.parts[:2] != ("lamina", "cluster"):
                offenders.append(f"{where}:{line} (outside lamina/cluster)")
            elif top:
                offenders.append(f"{where}:{line} (at module level)")
    assert offenders == []
