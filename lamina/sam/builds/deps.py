"""Third-party dependencies, installed once per distinct manifest and reused.

Python: ``pip install --target`` from ``requirements.txt``; wheels for the interpreter that
will run the function (its version may differ from the one running ``lamina``), then
compiled to ``.pyc`` by that interpreter when it is on this machine (the task root is
read-only, so bytecode must ship in the package). Node.js: ``npm ci`` (with a lockfile) or
``npm install``, production dependencies only. Each result lives in a directory named by
the hash of its inputs; a half-built one is never used (built aside, then renamed).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from lamina.sam.builds.runner import run_logged
from lamina.sam.errors import BuildError


@dataclass(frozen=True)
class Toolchain:
    """Where builds keep their caches and logs, and which tools and interpreters to use."""

    cache: Path  # e.g. <project>/.lamina/cache
    logs: Path
    pip: tuple[str, ...] = (sys.executable, "-m", "pip")
    npm: str = "npm"
    cargo: str = "cargo"
    # runtime name → (version "3.11.2", interpreter path) as the server reports them
    interpreters: dict[str, tuple[str, str]] | None = None
    # --watch: Rust builds skip LTO and build incrementally (seconds, not tens of seconds),
    # as `cargo lambda watch` uses debug builds; a plain `lamina up` builds the real release.
    quick_rust: bool = False

    def python_version(self, runtime: str) -> str:
        """``3.11``: the minor version the function's interpreter has."""
        known = (self.interpreters or {}).get(runtime)
        if known and known[0]:
            return ".".join(known[0].split(".")[:2])
        return runtime.removeprefix("python")

    def python_interpreter(self, runtime: str) -> str | None:
        known = (self.interpreters or {}).get(runtime)
        return known[1] if known and known[1] and Path(known[1]).exists() else None


def _digest(*parts: bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:24]


def _fresh(tmp: Path) -> Path:
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    return tmp


def python_deps(requirements: Path, runtime: str, tools: Toolchain, what: str) -> Path:
    """A directory holding ``requirements``' packages for ``runtime`` (cached by hash)."""
    version = tools.python_version(runtime)
    interpreter = tools.python_interpreter(runtime)
    key = _digest(requirements.read_bytes(), version.encode(), (interpreter or "").encode())
    final = tools.cache / f"pip-{key}"
    if final.is_dir():
        return final
    tmp = _fresh(tools.cache / f"pip-{key}.tmp-{os.getpid()}")
    log = tools.logs / f"{what}.log"
    argv = [
        *tools.pip,
        "install",
        "--disable-pip-version-check",
        "--no-compile",
        "--no-input",
        "--target",
        str(tmp),
        "-r",
        str(requirements),
    ]
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if version != running:
        # Wheels for the function's interpreter, not the one running pip.
        argv += ["--python-version", version, "--implementation", "cp", "--only-binary=:all:"]
    run_logged(argv, cwd=requirements.parent, log=log, what=f"{what}: pip")
    shutil.rmtree(tmp / "bin", ignore_errors=True)  # console scripts point at this venv
    if interpreter:
        run_logged(
            [interpreter, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", "."],
            cwd=tmp,
            log=log,
            what=f"{what}: compileall",
        )
    tmp.rename(final)
    return final


def has_node_dependencies(package_json: Path) -> bool:
    try:
        doc = json.loads(package_json.read_text())
    except (OSError, ValueError) as exc:
        raise BuildError(f"{package_json}: not valid JSON ({exc})") from None
    return bool(isinstance(doc, dict) and doc.get("dependencies"))


def node_deps(source: Path, tools: Toolchain, what: str) -> Path | None:
    """A directory whose ``node_modules`` holds the production dependencies (cached)."""
    manifest = source / "package.json"
    if not has_node_dependencies(manifest):
        return None
    lock = source / "package-lock.json"
    inputs = [manifest.read_bytes(), lock.read_bytes() if lock.is_file() else b""]
    key = _digest(*inputs)
    final = tools.cache / f"npm-{key}"
    if (final / "node_modules").is_dir():
        return final
    tmp = _fresh(tools.cache / f"npm-{key}.tmp-{os.getpid()}")
    shutil.copy2(manifest, tmp / "package.json")
    command = ["ci"] if lock.is_file() else ["install", "--no-package-lock"]
    if lock.is_file():
        shutil.copy2(lock, tmp / "package-lock.json")
    run_logged(
        [tools.npm, *command, "--omit=dev", "--no-audit", "--no-fund", "--no-progress"],
        cwd=tmp,
        log=tools.logs / f"{what}.log",
        what=f"{what}: npm",
    )
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final
