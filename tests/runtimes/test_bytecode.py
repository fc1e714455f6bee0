"""The Python runtime's bytecode, compiled ahead per interpreter, and start.py using it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lamina.runtimes.bytecode import RUNTIME_MODULES, cached_path, ensure_bytecode, is_fresh
from lamina.runtimes.registry import PYTHON_ENTRY, runtime_dir
from tests.unavailable import unavailable

PY = Path("/usr/bin/python3.11")


@pytest.fixture
def runtime_copy(tmp_path: Path) -> Path:
    if not PY.is_file():
        unavailable(f"{PY} is not installed")
    here = tmp_path / "python"
    here.mkdir()
    for name in (*RUNTIME_MODULES, PYTHON_ENTRY):
        shutil.copy2(runtime_dir() / "python" / name, here / name)
    return here


def test_compiles_once_and_again_when_the_source_changes(runtime_copy: Path) -> None:
    source = runtime_copy / "bootstrap.py"
    cached = cached_path(source, 3, 11)
    assert not is_fresh(source, cached)
    assert ensure_bytecode(PY, 3, 11, runtime_copy)
    assert is_fresh(source, cached)
    first = cached.stat().st_mtime_ns
    assert ensure_bytecode(PY, 3, 11, runtime_copy)  # fresh: not compiled again
    assert cached.stat().st_mtime_ns == first
    source.write_text(source.read_text() + "\n# edited\n")
    os.utime(source, (1, 1))  # a different mtime for sure
    assert not is_fresh(source, cached)
    assert ensure_bytecode(PY, 3, 11, runtime_copy)
    assert is_fresh(source, cached)


def test_a_read_only_directory_only_costs_speed(runtime_copy: Path) -> None:
    runtime_copy.chmod(0o555)
    try:
        # Root may write anyway; as another user the directory is read-only. Either way no
        # exception, and the answer says whether the cache is fresh.
        fresh = ensure_bytecode(PY, 3, 11, runtime_copy)
        assert fresh == is_fresh(
            runtime_copy / "bootstrap.py", cached_path(runtime_copy / "bootstrap.py", 3, 11)
        )
    finally:
        runtime_copy.chmod(0o755)


def test_start_runs_the_bootstrap_as_main_from_its_bytecode(runtime_copy: Path) -> None:
    assert ensure_bytecode(PY, 3, 11, runtime_copy)
    done = subprocess.run(
        [str(PY), "-v", str(runtime_copy / PYTHON_ENTRY)],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    # bootstrap.main() ran (as __main__) and stopped at the missing Runtime API address.
    assert done.returncode == 1
    assert "AWS_LAMBDA_RUNTIME_API is not set" in done.stderr
    pyc = cached_path(runtime_copy / "bootstrap.py", 3, 11)
    assert f"code object from '{pyc}'" in done.stderr
