"""Finding interpreters on the host: where to look, and what a binary turns out to be.

The decision of *which* interpreter runs a runtime is in :mod:`lamina.runtimes.registry`;
this module only lists candidates and probes them (``<binary> --version``, once per path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")
PROBE_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Interpreter:
    """A probed interpreter binary."""

    path: Path  # real path on the host (symlinks resolved)
    version: str  # as the binary prints it: "3.12.1", "v20.20.2"
    numbers: tuple[int, int, int]

    @property
    def major(self) -> int:
        return self.numbers[0]

    @property
    def minor(self) -> int:
        return self.numbers[1]

    @property
    def prefix(self) -> Path:
        """The install prefix (``<prefix>/bin/<binary>``) a sandbox must expose to run it."""
        return self.path.parent.parent


def parse_version(output: str, *, node: bool) -> tuple[str, tuple[int, int, int]] | None:
    """Read ``Python 3.12.1`` or ``v20.20.2`` into (printed form, numbers)."""
    match = _VERSION.search(output)
    if match is None:
        return None
    numbers = (int(match[1]), int(match[2]), int(match[3]))
    return (f"v{match[0]}" if node else match[0]), numbers


def is_pyenv_shim(path: Path) -> bool:
    """pyenv shims are bash scripts that need HOME and pyenv itself: never run one directly."""
    if path.parent.name == "shims":
        return True
    try:
        with path.open("rb") as fh:
            head = fh.read(256)
    except OSError:
        return False
    return head.startswith(b"#!") and b"pyenv" in head


def _version_key(name: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", name)) or (0,)


def pyenv_pythons(pyenv_root: Path, minor: str) -> list[Path]:
    """``<root>/versions/3.X.*/bin/python3.X``, newest patch release first (no dev builds)."""
    versions = pyenv_root / "versions"
    try:
        names = [n for n in os.listdir(versions) if re.fullmatch(rf"{re.escape(minor)}\.\d+", n)]
    except OSError:
        return []
    names.sort(key=_version_key, reverse=True)
    return [versions / n / "bin" / f"python{minor}" for n in names]


def python_candidates(
    minor: str, *, search_path: str, pyenv_root: Path, system_bin: Path
) -> Iterator[Path]:
    """Where ``python3.X`` may live, best first.

    Debian's own ``/usr/bin/python3.X`` starts ~4x faster than a pyenv build (cold starts),
    then ``python3.X`` on PATH (a pyenv shim is replaced by the binaries behind it), then
    every pyenv install of that minor version.
    """
    yield system_bin / f"python{minor}"
    found = shutil.which(f"python{minor}", path=search_path)
    if found is not None:
        if is_pyenv_shim(Path(found)):
            yield from pyenv_pythons(pyenv_root, minor)
        else:
            yield Path(found)
    yield from pyenv_pythons(pyenv_root, minor)


def node_candidates(*, search_path: str, home: Path, system_bin: Path) -> Iterator[Path]:
    """Every ``node`` we can see: PATH, the system (and its ``local``), nvm installs."""
    for name in ("node", "nodejs", "node22", "node20"):
        found = shutil.which(name, path=search_path)
        if found is not None:
            yield Path(found)
    yield system_bin / "node"
    yield system_bin.parent / "local" / "bin" / "node"  # /usr/local/bin/node
    nvm = home / ".nvm" / "versions" / "node"
    try:
        names = sorted(os.listdir(nvm), key=_version_key, reverse=True)
    except OSError:
        names = []
    for name in names:
        yield nvm / name / "bin" / "node"


class Prober:
    """Runs ``<binary> --version`` once per real path and remembers the answer."""

    def __init__(self) -> None:
        self._cache: dict[Path, Interpreter | None] = {}
        self._lock = threading.Lock()

    def probe(self, candidate: Path | str, *, node: bool) -> Interpreter | None:
        """The interpreter at ``candidate``, or None if it is missing or does not run."""
        try:
            real = Path(os.path.realpath(candidate))
        except OSError:
            return None
        with self._lock:
            if real in self._cache:
                return self._cache[real]
        found = self._run(real, node=node)
        with self._lock:
            self._cache[real] = found
        return found

    def first(self, candidates: Iterable[Path], *, node: bool) -> Iterator[Interpreter]:
        """Probe candidates in order, skipping duplicates and failures."""
        seen: set[Path] = set()
        for candidate in candidates:
            real = Path(os.path.realpath(candidate))
            if real in seen:
                continue
            seen.add(real)
            found = self.probe(real, node=node)
            if found is not None:
                yield found

    @staticmethod
    def _run(path: Path, *, node: bool) -> Interpreter | None:
        if not path.is_file() or not os.access(path, os.X_OK) or is_pyenv_shim(path):
            return None
        try:
            done = subprocess.run(
                [str(path), "--version"],
                capture_output=True,
                timeout=PROBE_TIMEOUT_S,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode != 0:
            return None
        parsed = parse_version((done.stdout + done.stderr).decode("utf-8", "replace"), node=node)
        if parsed is None:
            return None
        return Interpreter(path, parsed[0], parsed[1])
