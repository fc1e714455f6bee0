"""Cursors: where an execution, or one of its branches, resumes after a restart.

A cursor is the state about to be entered, its input and the variables in scope; or, for
a Wait in progress, when it ends, the events it ends with and what comes next (so a
resumed Wait keeps its original end instead of starting over).
"""

from __future__ import annotations

from typing import Any

from lamina.workflows.steps import Event, Frame, JsonDoc, Move, Sleep, Succeed


def cursor(frame: Frame, encoded: JsonDoc | None = None) -> dict[str, Any]:
    """Where to resume: the state, its input (``encoded``: as the history has it already),
    the variables in scope."""
    value: Any = encoded if encoded is not None else frame.input
    return {"state": frame.state, "input": value, "variables": frame.variables}


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, JsonDoc) else value


def sleep_cursor(step: Sleep) -> dict[str, Any]:
    """A Wait in progress: when it ends, the events it ends with, and what comes next."""
    then = step.then
    after = [[e.type, {k: v.text() if isinstance(v, JsonDoc) else v for k, v in e.details.items()}]
             for e in step.after]  # fmt: skip
    out: dict[str, Any] = {"sleep_until": step.until, "after": after}
    if isinstance(then, Move):
        out["then"] = cursor(then.frame)
    else:
        out["succeed"] = then.output
    return out


def from_cursor(saved: dict[str, Any]) -> Move | Sleep:
    """The step a cursor resumes with."""
    if "sleep_until" not in saved:
        inp = _plain(saved["input"])
        return Move(Frame(saved["state"], inp, saved.get("variables") or {}))
    after = tuple(Event(t, d) for t, d in saved["after"])
    then: Move | Succeed
    if "then" in saved:
        nxt = saved["then"]
        then = Move(Frame(nxt["state"], _plain(nxt["input"]), nxt.get("variables") or {}))
    else:
        then = Succeed(saved["succeed"])
    return Sleep(saved["sleep_until"], then, (), after)
