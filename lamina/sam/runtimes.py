"""Which Lamina runtime runs a template's ``Runtime``: itself, a close stand-in, or none."""

from __future__ import annotations

import re

from lamina.models.function import NODE_RUNTIMES, PROVIDED_RUNTIMES, PYTHON_RUNTIMES

_PYTHON = re.compile(r"^python3\.(\d+)$")
_NODE = re.compile(r"^nodejs(\d+)\.(?:x|\d+)$")


def _minor(runtime: str) -> int:
    return int(runtime.removeprefix("python3."))


def _major(runtime: str) -> int:
    return int(runtime.removeprefix("nodejs").removesuffix(".x"))


def choose_runtime(wanted: str) -> tuple[str | None, str | None]:
    """``(runtime Lamina will use, note)``; ``(None, reason)`` when Lamina cannot run it.

    An older or newer Python or Node.js than Lamina has runs on the nearest one Lamina has,
    with a note saying so: the point of ``lamina up`` is to run the project, and code
    written for python3.9 or nodejs24.x almost always runs on python3.11 / nodejs22.x.
    Which interpreter then runs that name is the server's business: see
    :func:`interpreter_note`.
    """
    if wanted in PYTHON_RUNTIMES or wanted in NODE_RUNTIMES or wanted in PROVIDED_RUNTIMES:
        return wanted, None
    for pattern, known, number in (
        (_PYTHON, PYTHON_RUNTIMES, _minor),
        (_NODE, NODE_RUNTIMES, _major),
    ):
        if m := pattern.match(wanted):
            versions = sorted(known, key=number)
            chosen = versions[0] if int(m.group(1)) < number(versions[0]) else versions[-1]
            return (
                chosen,
                f"runtime {wanted} is deployed as {chosen} (Lamina has {', '.join(versions)})",
            )
    if wanted == "provided":
        return "provided.al2", "runtime provided (Amazon Linux 1) runs as provided.al2"
    if wanted.startswith(("java", "dotnet", "ruby", "go1")):
        return None, (
            f"runtime {wanted} is not one Lamina runs (Python, Node.js and custom runtimes "
            "with a bootstrap: build Go with provided.al2023)"
        )
    return None, f"unknown runtime {wanted!r}"


def family(runtime: str) -> str:
    """``python``, ``node`` or ``provided``: decides how a function is built."""
    if runtime.startswith("python"):
        return "python"
    if runtime.startswith("nodejs"):
        return "node"
    return "provided"


def interpreter_note(runtime: str, interpreters: dict[str, tuple[str, str]]) -> str | None:
    """A note when the server runs ``runtime`` on another version than its name says.

    ``interpreters`` is the server's runtime table (runtime → (version, path)), as
    ``lamina runtimes`` shows it; an empty table (server unknown) gives no note.
    """
    version, path = interpreters.get(runtime, ("", ""))
    if not version:
        return None
    number = version.removeprefix("v")
    if m := _NODE.match(runtime):
        if number.split(".")[0] == m.group(1):
            return None
        return f"{runtime} runs on Node {version} on this server ({path})"
    if runtime.startswith("python3."):
        if ".".join(number.split(".")[:2]) == runtime.removeprefix("python"):
            return None
        return f"{runtime} runs on Python {number} on this server ({path})"
    return None
