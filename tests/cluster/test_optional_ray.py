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


# What single-machine Lamina is made of, and the cluster modules that must not need Ray.
CORE = (
    "lamina.cli.main",
    "lamina.server",
    "lamina.api.app",
    "lamina.metrics.endpoint",
    "lamina.cluster",
    "lamina.cluster.codecache",
    "lamina.cluster.codesource",
    "lamina.cluster.demand",
    "lamina.cluster.drain",
)


def test_single_machine_lamina_imports_without_ray() -> None:
    out = run_without_ray(
        f"""
        import importlib, json
        for name in {CORE!r}:
            importlib.import_module(name)
        print(json.dumps("ray" in sys.modules))
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "false"


def test_only_cluster_modules_need_ray() -> None:
    out = run_without_ray(
        """
        import importlib, json, pkgutil, lamina
        failed = []
        for info in pkgutil.walk_packages(lamina.__path__, "lamina."):
            if info.name.startswith("lamina.runtimes.python"):
                continue  # the function-side bootstrap, not importable in the server
            try:
                importlib.import_module(info.name)
            except ModuleNotFoundError as exc:
                if exc.name and exc.name.split(".")[0] == "ray":
                    failed.append(info.name)
        print(json.dumps(failed))
        """
    )
    assert out.returncode == 0, out.stderr
    failed = json.loads(out.stdout.strip().splitlines()[-1])
    assert [name for name in failed if not name.startswith("lamina.cluster.")] == []


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


def ray_imports(path: Path) -> list[int]:
    """The lines of a module that import ``ray`` or a part of it (anywhere in it)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names = [node.module or ""]
        if any(n == "ray" or n.startswith("ray.") for n in names):
            assert isinstance(node, ast.Import | ast.ImportFrom)
            lines.append(node.lineno)
    return lines


def test_only_lamina_cluster_imports_ray() -> None:
    offenders = [
        f"{path.relative_to(ROOT)}:{line}"
        for path in sorted(PACKAGE.rglob("*.py"))
        for line in ray_imports(path)
        if path.relative_to(ROOT).parts[:2] != ("lamina", "cluster")
    ]
    assert offenders == []
