"""The runtime version a cold start announces: ``INIT_START Runtime Version: … Runtime
Version ARN: …`` and the Telemetry API's ``platform.initStart``.

Lambda names the AWS build of a runtime (``python:3.12.v38``) and gives it an ARN ending in
64 hex digits. Lamina runs the host's interpreters and its own bootstraps, so its version
names what actually runs: the ARN's hex is the SHA-256 of the runtime's name, the
interpreter's path and version, and the digest of Lamina's bootstrap files for that
runtime (for ``provided.*``, whose bootstrap is the function's own: the host's
``/etc/os-release``, the OS-only runtime being the host's OS). The ``v<N>`` of the
version's name is the first 32 bits of that digest, in decimal (Lambda's are digits too,
and not sequential either). Both change exactly when the interpreter or Lamina's bootstrap
changes, and are the same on every server with the same host and Lamina.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from lamina.models.function import NODE_RUNTIMES, PROVIDED_RUNTIMES, PYTHON_RUNTIMES

# Lamina's files that start each family's runtime, under lamina/runtimes/.
_BOOTSTRAP_GLOBS = {"python": ("python/*.py",), "nodejs": ("node/*.mjs",)}
# Starts external extensions (and an exec wrapper) before any runtime.
_LAUNCHER = "launch_extensions.sh"
OS_RELEASE = Path("/etc/os-release")


@dataclass(frozen=True, slots=True)
class RuntimeVersion:
    """``name``: ``python:3.12.v1234567890``; ``arn``: ``arn:aws:lambda:<region>::runtime:<hex>``."""

    name: str
    arn: str


def family_name(runtime: str) -> str:
    """Lambda's spelling of a runtime in a version name: ``python3.12`` → ``python:3.12``,
    ``nodejs20.x`` → ``nodejs:20``, ``provided.al2023`` → ``provided:al2023``."""
    if runtime in PYTHON_RUNTIMES:
        return f"python:{runtime.removeprefix('python')}"
    if runtime in NODE_RUNTIMES:
        return f"nodejs:{runtime.removeprefix('nodejs').removesuffix('.x')}"
    if runtime in PROVIDED_RUNTIMES:
        return f"provided:{runtime.removeprefix('provided.')}"
    return runtime


def runtime_version(
    runtime: str, interpreter: str, interpreter_version: str, bootstrap_digest: str, region: str
) -> RuntimeVersion:
    """The version of ``runtime`` run by ``interpreter`` (pure)."""
    identity = "\0".join((runtime, interpreter, interpreter_version, bootstrap_digest))
    digest = hashlib.sha256(identity.encode()).hexdigest()
    return RuntimeVersion(
        f"{family_name(runtime)}.v{int(digest[:8], 16)}",
        f"arn:aws:lambda:{region}::runtime:{digest}",
    )


def digest_files(paths: Iterable[Path]) -> str:
    """SHA-256 over the names and contents of ``paths`` (in name order; a missing file
    counts as empty)."""
    h = hashlib.sha256()
    for path in sorted(paths):
        h.update(path.name.encode() + b"\0")
        with contextlib.suppress(OSError):
            h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def bootstrap_digest(runtime: str, runtime_dir: Path, os_release: Path = OS_RELEASE) -> str:
    """The digest of what Lamina runs to start ``runtime`` (reads files: call it once per
    runtime per server)."""
    family = family_name(runtime).partition(":")[0]
    paths = [runtime_dir / _LAUNCHER]
    for pattern in _BOOTSTRAP_GLOBS.get(family, ()):
        paths.extend(runtime_dir.glob(pattern))
    if runtime in PROVIDED_RUNTIMES:
        paths.append(os_release)
    return digest_files(paths)
