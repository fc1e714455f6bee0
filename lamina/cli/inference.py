"""What ``lamina deploy`` assumes when ``--runtime`` / ``--handler`` are not given (pure).

The package's root files say what it is, as they do to a reader: ``bootstrap`` is a custom
runtime, ``lambda_function.py`` / ``app.py`` Python, ``index.mjs`` / ``index.js`` /
``index.cjs`` Node.js. The handler is the function the file defines by Lambda's usual
names (``lambda_handler`` or ``handler``). When the files do not say, the error names
exactly what to pass.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lamina.errors import LaminaError

PYTHON_FILES = ("lambda_function.py", "app.py")
NODE_FILES = ("index.mjs", "index.js", "index.cjs")
# Used when the server's runtime table is unknown.
DEFAULT_RUNTIMES = {"python": "python3.12", "node": "nodejs20.x"}
_PY_DEF = re.compile(r"^(?:async\s+)?def\s+(lambda_handler|handler)\s*\(", re.MULTILINE)
_NODE_EXPORT = re.compile(
    r"export\s+(?:const|let|var|async\s+function\*?|function\*?)\s+handler\b"
    r"|exports\.handler\s*="
    r"|export\s*\{[^}]*\bhandler\b[^}]*\}"
    r"|module\.exports\s*=\s*\{[^}]*\bhandler\b"
)
HOW = (
    "pass --runtime and --handler, e.g. --runtime python3.12 --handler app.handler, "
    "--runtime nodejs20.x --handler index.handler, or --runtime provided.al2023 "
    "--handler bootstrap"
)


class CannotInfer(LaminaError):
    """Raised when the package does not say which runtime or handler it needs."""


@dataclass(frozen=True, slots=True)
class Inferred:
    runtime: str
    handler: str
    reason: str  # e.g. "from app.py (def lambda_handler)"


def newest_runtime(family: str, table: Sequence[dict[str, str]]) -> str:
    """The newest runtime of ``family`` that the server runs on its own interpreter.

    ``table`` is the server's runtime table (``lamina runtimes``), oldest first. A runtime
    running on a stand-in interpreter (nodejs22.x on Node 20) is taken only when no other is.
    """
    prefix = "python" if family == "python" else "nodejs"
    rows = [r for r in table if r.get("runtime", "").startswith(prefix) and r.get("interpreter")]
    exact = [r for r in rows if not r.get("note")]
    chosen = (exact or rows)[-1:] if (exact or rows) else []
    return chosen[0]["runtime"] if chosen else DEFAULT_RUNTIMES[family]


def infer(
    names: Sequence[str],
    read: Callable[[str], str],
    table: Sequence[dict[str, str]] = (),
    *,
    source: str = "the package",
) -> Inferred:
    """Runtime and handler for a package whose root holds ``names`` (``read`` gives text)."""
    root = set(names)
    python = [n for n in PYTHON_FILES if n in root]
    node = [n for n in NODE_FILES if n in root]
    if "bootstrap" in root:
        handler, found = "bootstrap", "bootstrap"
        # A runtime interface client in the bootstrap still needs the handler's name.
        if python or node:
            inner = _handler(python[0], read) if python else _handler(node[0], read)
            handler, found = inner, f"bootstrap (handler {inner})"
        return Inferred("provided.al2023", handler, f"from {found}")
    if python and node:
        raise CannotInfer(
            f"cannot tell the runtime of {source}: it has both {python[0]} and {node[0]}; {HOW}"
        )
    if python:
        handler = _handler(python[0], read)
        return Inferred(newest_runtime("python", table), handler, f"from {python[0]}")
    if node:
        handler = _handler(node[0], read)
        return Inferred(newest_runtime("node", table), handler, f"from {node[0]}")
    raise CannotInfer(
        f"cannot tell the runtime of {source}: no {', '.join(PYTHON_FILES + NODE_FILES)} "
        f"or bootstrap at its root; {HOW}"
    )


def _handler(file: str, read: Callable[[str], str]) -> str:
    module = file.rsplit(".", 1)[0]
    text = read(file)
    if file.endswith(".py"):
        found = sorted(set(_PY_DEF.findall(text)))
        if len(found) == 1:
            return f"{module}.{found[0]}"
        what = "both handler and lambda_handler" if found else "no handler or lambda_handler"
        raise CannotInfer(
            f"{file} defines {what}; pass --handler {module}.<function> "
            f"(e.g. --handler {module}.lambda_handler)"
        )
    if _NODE_EXPORT.search(text):
        return f"{module}.handler"
    raise CannotInfer(
        f"{file} exports no `handler`; pass --handler {module}.<export> "
        f"(e.g. --handler {module}.handler)"
    )
