"""The Python runtime's bytecode, compiled ahead for each interpreter that runs it.

Inside an environment ``/var/runtime`` is read-only and the runtime runs as the sandbox
user, so CPython cannot write the bytecode cache it would use on the next start: every cold
start would compile ``bootstrap.py`` (600 lines, ~2.5-4 ms here) from source. The platform
compiles it once per interpreter, when the interpreter is chosen (at server start), into
``python/__pycache__/`` next to the source, where the read-only bind shows it to every
environment; ``python/start.py`` then loads it (a script is never read from a cache).

Freshness is CPython's own rule (the source's mtime and size in the ``.pyc`` header), so an
edited bootstrap is recompiled on the next server start and never run stale.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

log = logging.getLogger("lamina.runtimes")

# What the Python runtime imports from its own directory (start.py is a script, never cached).
RUNTIME_MODULES = ("bootstrap.py", "snapshot_restore_py.py")
_COMPILE = (
    "import py_compile, sys\n"
    "for path in sys.argv[1:]:\n"
    "    py_compile.compile(path, doraise=True)\n"
)


def cached_path(source: Path, major: int, minor: int) -> Path:
    """Where CPython ``major.minor`` looks for ``source``'s bytecode."""
    return source.parent / "__pycache__" / f"{source.stem}.cpython-{major}{minor}.pyc"


def is_fresh(source: Path, cached: Path) -> bool:
    """Whether ``cached`` is a timestamp ``.pyc`` of ``source`` as it is now (pure on files)."""
    try:
        st = source.stat()
        with open(cached, "rb") as f:
            header = f.read(16)
    except OSError:
        return False
    if len(header) != 16 or int.from_bytes(header[4:8], "little") != 0:  # flags: timestamp
        return False
    mtime = int.from_bytes(header[8:12], "little")
    size = int.from_bytes(header[12:16], "little")
    return mtime == int(st.st_mtime) & 0xFFFFFFFF and size == st.st_size & 0xFFFFFFFF


def ensure_bytecode(python: Path, major: int, minor: int, directory: Path) -> bool:
    """Compile the runtime's modules in ``directory`` with ``python`` unless their cache is
    fresh; True when every module has a fresh cache afterwards.

    A failure (a read-only install, an interpreter that cannot run) only costs speed: the
    runtime then compiles from source at every start, as before; it is logged, not raised.
    """
    sources = [directory / name for name in RUNTIME_MODULES if (directory / name).is_file()]
    stale = [s for s in sources if not is_fresh(s, cached_path(s, major, minor))]
    if not stale:
        return True
    if not os.access(directory, os.W_OK) and not os.access(directory / "__pycache__", os.W_OK):
        log.info("the Python runtime compiles at every start: %s is read-only", directory)
        return False
    try:
        done = subprocess.run(
            [str(python), "-c", _COMPILE, *map(str, stale)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("could not precompile the Python runtime with %s: %s", python, exc)
        return False
    if done.returncode != 0:
        log.warning(
            "could not precompile the Python runtime with %s: %s", python, done.stderr.strip()
        )
        return False
    return all(is_fresh(s, cached_path(s, major, minor)) for s in sources)
