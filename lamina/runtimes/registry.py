"""Which command starts a runtime: ``python3.12`` → ``/usr/bin/python3.12 .../start.py``.

The registry turns a Lambda runtime name into a :class:`RuntimeCommand` the sandbox can exec.
Interpreters come from the operator's overrides (``settings.interpreters``, from
``LAMINA_INTERPRETERS``) first, then from discovery on the host; each binary is probed once
and every answer is cached, so only the first resolve of a runtime pays for it (call
:meth:`RuntimeRegistry.describe` at start-up to pay it there).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from lamina.errors import ConfigError, InvalidRuntime
from lamina.models.function import NODE_RUNTIMES, PROVIDED_RUNTIMES, PYTHON_RUNTIMES, RUNTIMES
from lamina.runtimes.bytecode import ensure_bytecode
from lamina.runtimes.interpreters import (
    Interpreter,
    Prober,
    node_candidates,
    python_candidates,
)
from lamina.runtimes.node_flags import node_flags

ENTRYPOINT_ERROR_TYPE = "Runtime.InvalidEntrypoint"
# The oldest Node a nodejs runtime may fall back to: the bootstrap needs Node 20 APIs.
NODE_FLOOR = 20
DEFAULT_TASK_ROOT = "/var/task"
# The Python runtime's script: it runs bootstrap.py from the bytecode compiled ahead.
PYTHON_ENTRY = "start.py"


@dataclass(frozen=True, slots=True)
class RuntimeCommand:
    """How to start one runtime.

    ``argv`` uses paths as the runtime process sees them: the bootstrap under
    ``runtime_root`` (``/var/runtime`` in the sandbox) and the interpreter at its host path,
    which the sandbox exposes by binding ``prefix``. An empty ``argv`` (only ever returned by
    :meth:`RuntimeRegistry.describe`) means the runtime cannot run here; ``note`` says why.
    """

    runtime: str
    argv: tuple[str, ...]
    interpreter: str  # absolute host path of the interpreter ("" for provided.*)
    interpreter_version: str  # "3.12.1", "v20.20.2"; "" for provided.*
    prefix: Path | None  # host install prefix of the interpreter, for the sandbox to expose
    execution_env: str | None  # AWS_EXECUTION_ENV; None for provided.*
    note: str = ""  # a sentence when a fallback was used (or why the runtime is unavailable)

    @property
    def available(self) -> bool:
        return bool(self.argv)


def runtime_dir() -> Path:
    """Host path of the built-in runtimes (``python/bootstrap.py``, ``node/bootstrap.mjs``).

    The sandbox binds this directory to ``/var/runtime``.
    """
    return Path(__file__).resolve().parent


def zygote_argv(cmd: RuntimeCommand, runtime_root: str) -> tuple[str, ...]:
    """The command of ``cmd``'s zygote (Python runtimes only): ``python/zygote.py``."""
    if not cmd.argv or not cmd.argv[-1].endswith(f"/python/{PYTHON_ENTRY}"):
        raise InvalidRuntime(f"{cmd.runtime} has no zygote: only Python runtimes do")
    return (*cmd.argv[:-1], f"{runtime_root.rstrip('/')}/python/zygote.py")


def check_entrypoint(runtime: str, code_dir: Path) -> str | None:
    """Lambda's ``Runtime.InvalidEntrypoint`` message when a custom runtime cannot start.

    ``provided.*`` functions must ship an executable ``bootstrap`` at the root of their code;
    other runtimes always have an entry point (their handler is checked at INIT), so None.
    """
    if runtime not in PROVIDED_RUNTIMES:
        return None
    bootstrap = code_dir / "bootstrap"
    if not bootstrap.is_file():
        return f"Couldn't find valid bootstrap(s): [{DEFAULT_TASK_ROOT}/bootstrap /opt/bootstrap]"
    if not os.access(bootstrap, os.X_OK):
        return f"fork/exec {DEFAULT_TASK_ROOT}/bootstrap: permission denied"
    return None


class RuntimeRegistry:
    """Maps runtime names to commands, from overrides first, then what the host has."""

    def __init__(
        self,
        overrides: Mapping[str, str],
        *,
        search_path: str | None = None,
        home: Path | None = None,
        pyenv_root: Path | None = None,
        system_bin: Path = Path("/usr/bin"),
        prober: Prober | None = None,
        compile_bytecode: bool = True,
    ) -> None:
        """``overrides`` is ``settings.interpreters``. The keyword arguments say where to
        look (they default to this process's PATH, HOME and PYENV_ROOT, read once here);
        ``compile_bytecode``: compile the Python runtime for each Python chosen (never with
        a ``prober`` standing in for real interpreters)."""
        unknown = sorted(set(overrides) - set(PYTHON_RUNTIMES + NODE_RUNTIMES))
        if unknown:
            raise ConfigError(
                f"cannot override the interpreter of {', '.join(unknown)}: only "
                f"{', '.join(PYTHON_RUNTIMES + NODE_RUNTIMES)} have one"
            )
        self._overrides = dict(overrides)
        env = os.environ
        self._search_path = search_path if search_path is not None else env.get("PATH", "")
        self._home = home if home is not None else Path(env.get("HOME") or "/root")
        self._pyenv_root = pyenv_root or Path(env.get("PYENV_ROOT") or self._home / ".pyenv")
        self._system_bin = system_bin
        self._prober = prober or Prober()
        self._compile_bytecode = compile_bytecode and prober is None
        self._chosen: dict[str, tuple[Interpreter, str]] = {}
        self._lock = threading.Lock()

    def resolve(
        self,
        runtime: str,
        runtime_root: str,
        task_root: str = DEFAULT_TASK_ROOT,
        memory_mb: int | None = None,
    ) -> RuntimeCommand:
        """The command for ``runtime``; raises :class:`InvalidRuntime` when nothing runs it.

        ``task_root`` matters for ``provided.*`` only: its command is ``<task_root>/bootstrap``.
        ``memory_mb`` for Node only: with it, ``node`` gets AWS's flags for that memory size
        (:func:`lamina.runtimes.node_flags.node_flags`).
        """
        root = runtime_root.rstrip("/") or "/"
        if runtime in PROVIDED_RUNTIMES:
            return RuntimeCommand(
                runtime, (f"{task_root.rstrip('/')}/bootstrap",), "", "", None, None
            )
        if runtime in PYTHON_RUNTIMES:
            interp, note = self._interpreter(runtime)
            argv: tuple[str, ...] = (str(interp.path), f"{root}/python/{PYTHON_ENTRY}")
        elif runtime in NODE_RUNTIMES:
            interp, note = self._interpreter(runtime)
            flags = node_flags(memory_mb) if memory_mb is not None else ()
            argv = (str(interp.path), *flags, f"{root}/node/bootstrap.mjs")
        else:
            raise InvalidRuntime(
                f"The runtime parameter of {runtime} is not supported: "
                f"Lamina runs {', '.join(RUNTIMES)}"
            )
        return RuntimeCommand(
            runtime,
            argv,
            str(interp.path),
            interp.version,
            interp.prefix,
            f"AWS_Lambda_{runtime}",
            note,
        )

    def describe(self, runtime_root: str = "/var/runtime") -> list[RuntimeCommand]:
        """Every runtime's mapping (unavailable ones with an empty argv and the reason)."""
        out: list[RuntimeCommand] = []
        for runtime in RUNTIMES:
            try:
                out.append(self.resolve(runtime, runtime_root))
            except InvalidRuntime as exc:
                out.append(RuntimeCommand(runtime, (), "", "", None, None, exc.message))
        return out

    # ------------------------------------------------------------------ choosing

    def _interpreter(self, runtime: str) -> tuple[Interpreter, str]:
        with self._lock:
            chosen = self._chosen.get(runtime)
        if chosen is None:
            chosen = self._choose(runtime)
            with self._lock:
                self._chosen[runtime] = chosen
        return chosen

    def _choose(self, runtime: str) -> tuple[Interpreter, str]:
        node = runtime in NODE_RUNTIMES
        override = self._overrides.get(runtime)
        if override is not None:
            found = self._prober.probe(override, node=node)
            if found is None:
                raise InvalidRuntime(
                    f"{runtime} is mapped to {override}, which does not run "
                    f"(`{override} --version` failed or the file is missing)"
                )
            if not node:
                self._precompile(found)
            return found, _mismatch_note(runtime, found)
        if node:
            return self._choose_node(runtime)
        return self._choose_python(runtime)

    def _choose_python(self, runtime: str) -> tuple[Interpreter, str]:
        minor = runtime.removeprefix("python")  # "3.12"
        candidates = python_candidates(
            minor,
            search_path=self._search_path,
            pyenv_root=self._pyenv_root,
            system_bin=self._system_bin,
        )
        for found in self._prober.first(candidates, node=False):
            if f"{found.major}.{found.minor}" == minor:
                self._precompile(found)
                return found, ""
        raise InvalidRuntime(
            f"{runtime} has no interpreter on this host: looked for "
            f"{self._system_bin}/python{minor}, python{minor} on PATH and "
            f"{self._pyenv_root}/versions/{minor}.*; install Python {minor} or map it with "
            f'LAMINA_INTERPRETERS="{runtime}=/path/to/python{minor}"'
        )

    def _precompile(self, found: Interpreter) -> None:
        """The runtime's bytecode for ``found`` (once per interpreter; see bytecode.py)."""
        if self._compile_bytecode:
            ensure_bytecode(found.path, found.major, found.minor, runtime_dir() / "python")

    def _choose_node(self, runtime: str) -> tuple[Interpreter, str]:
        wanted = int(runtime.removeprefix("nodejs").removesuffix(".x"))
        candidates = node_candidates(
            search_path=self._search_path, home=self._home, system_bin=self._system_bin
        )
        found = list(self._prober.first(candidates, node=True))
        return choose_node(runtime, wanted, found)


def choose_node(runtime: str, wanted: int, found: list[Interpreter]) -> tuple[Interpreter, str]:
    """Pick the Node for ``nodejsNN.x`` among probed ones (pure).

    The first Node of the wanted major wins; without one, the newest Node ≥ 20 runs it and the
    note says so, because a newer Node runs code written for an older one far more often than
    the reverse.
    """
    for interp in found:
        if interp.major == wanted:
            return interp, ""
    usable = [i for i in found if i.major >= NODE_FLOOR]
    if not usable:
        seen = ", ".join(f"{i.version} ({i.path})" for i in found) or "none"
        raise InvalidRuntime(
            f"{runtime} has no Node.js {wanted} (or any Node ≥ {NODE_FLOOR}) on this host; "
            f"found: {seen}. Install Node.js {wanted} or map it with "
            f'LAMINA_INTERPRETERS="{runtime}=/path/to/node"'
        )
    best = max(usable, key=lambda i: i.numbers)
    return best, f"{runtime} runs on Node {best.version} ({best.path}): no Node {wanted} found"


def _mismatch_note(runtime: str, found: Interpreter) -> str:
    if runtime in NODE_RUNTIMES:
        wanted = runtime.removeprefix("nodejs").removesuffix(".x")
        if str(found.major) != wanted:
            return f"{runtime} runs on Node {found.version} ({found.path}), as configured"
        return ""
    wanted = runtime.removeprefix("python")
    if f"{found.major}.{found.minor}" != wanted:
        return f"{runtime} runs on Python {found.version} ({found.path}), as configured"
    return ""
