"""The AWS SDK for Python that Lamina's Python runtimes provide, as Lambda's do.

Lambda's Python runtimes ship boto3; functions import it without bundling it. Lamina
builds a clean directory holding only boto3 and what it needs, hard-linked (or copied)
from the server's own installation, once per machine and SDK version, and puts it on the
functions' ``PYTHONPATH`` after the task root, so a copy a function bundles still wins.
Byte code is compiled for each Python runtime in the background, so ``import boto3``
in a function costs what it costs on Lambda rather than a full compile.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger("lamina.runtimes")

# boto3 and its dependency closure (pure Python).
SDK_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
_DISTRIBUTIONS = ("boto3", "botocore")


def default_cache_dir(data_dir: Path) -> Path:
    """``/var/cache/lamina`` when writable (shared by every data directory), else the data dir."""
    shared = Path("/var/cache/lamina")
    try:
        shared.mkdir(parents=True, exist_ok=True)
    except OSError:
        return data_dir / "cache"
    return shared if os.access(shared, os.W_OK) else data_dir / "cache"


def _sources() -> dict[str, Path] | None:
    out: dict[str, Path] = {}
    for name in SDK_MODULES:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            return None
        origin = Path(spec.origin)
        out[name] = origin.parent if origin.name == "__init__.py" else origin
    return out


def _version_key() -> str:
    parts = []
    for dist in _DISTRIBUTIONS:
        parts.append(f"{dist}-{importlib.metadata.version(dist)}")
    return "python-sdk-" + "-".join(parts)


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def build_python_sdk(cache_dir: Path) -> Path | None:
    """The SDK directory (built if missing), or None when boto3 is not installed here."""
    sources = _sources()
    if sources is None:
        log.warning("boto3 is not installed with Lamina: Python functions get no AWS SDK")
        return None
    dest = cache_dir / _version_key()
    if (dest / ".complete").exists():
        return dest
    tmp = cache_dir / f".{dest.name}.{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name, src in sources.items():
        if src.is_dir():
            shutil.copytree(src, tmp / name, ignore=ignore, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(src), str(tmp / src.name))
    (tmp / ".complete").write_text("ok\n")
    try:
        tmp.rename(dest)
    except OSError:  # another server built it meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    os.chmod(dest, 0o755)
    return dest


def compile_in_background(sdk: Path, interpreters: Iterable[str]) -> threading.Thread:
    """Compile byte code for each interpreter once; functions import faster afterwards."""

    def run() -> None:
        for interpreter in interpreters:
            marker = sdk / f".compiled-{Path(interpreter).name}"
            if marker.exists():
                continue
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                done = subprocess.run(
                    [interpreter, "-m", "compileall", "-q", "-j", "1", str(sdk)],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    timeout=600,
                    check=False,
                )
                if done.returncode == 0:
                    marker.write_text("ok\n")

    thread = threading.Thread(target=run, name="lamina-sdk-compile", daemon=True)
    thread.start()
    return thread
