"""JSONPath as the States Language uses it: paths, reference paths and payload templates.

Paths are evaluated by ``jsonpath-ng`` (its ``ext`` dialect: filters, slices, wildcards,
``..``); plain dotted paths (``$.a.b``), by far the most common, take a direct walk that
gives the same answer without the parser. A path that selects with a wildcard, filter,
slice or ``..`` is *indefinite* and yields a list, as Step Functions does; a definite path
yields the one value, and a missing value is a ``States.Runtime`` error.

``$$`` addresses the context object, ``$name`` a workflow variable (``Assign``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jsonpath_ng import Child, Fields, Index, Root
from jsonpath_ng.exceptions import JsonPathLexerError, JsonPathParserError
from jsonpath_ng.ext.parser import parse as parse_jsonpath

from lamina.workflows.errors import StatesError

Json = Any  # a JSON value: dict, list, str, int, float, bool or None

_SIMPLE = re.compile(r"^\$(?:\.[A-Za-z_][A-Za-z0-9_-]*)*$")
_VARIABLE = re.compile(r"^\$([A-Za-z_][A-Za-z0-9_]*)")
_REFERENCE_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_-]*)|\['((?:[^'\\]|\\.)*)'\]|\[(\d+)\]")


class Scope:
    """What a path can address besides ``$``: the context object and the variables.

    The context object is built only if a path asks for it (``make``): most states never
    read ``$$``, and building it is a good part of a Pass state's cost.
    """

    __slots__ = ("_context", "_make", "variables")

    def __init__(
        self,
        context: Json,
        variables: Mapping[str, Json],
        make: Callable[[], Json] | None = None,
    ) -> None:
        self._context = context
        self._make = make
        self.variables = variables

    @property
    def context(self) -> Json:
        if self._make is not None:
            self._context = self._make()
            self._make = None
        return self._context


class PathSyntaxError(ValueError):
    """Raised by :func:`compile_path` for a string that is not a JSONPath."""


@dataclass(frozen=True, slots=True)
class Path:
    text: str
    base: str  # "$" (the data), "$$" (context) or a variable's name
    keys: tuple[str, ...] | None  # a plain dotted path's keys, walked directly
    compiled: Any  # jsonpath-ng expression for anything else
    definite: bool

    def read(self, data: Json, scope: Scope | None = None) -> Json:
        root = data
        if self.base == "$$":
            root = scope.context if scope is not None else None
        elif self.base != "$":
            if scope is None or self.base not in scope.variables:
                raise StatesError("States.Runtime", f"The variable '${self.base}' is not defined")
            root = scope.variables[self.base]
        if self.keys is not None:
            value = root
            for key in self.keys:
                if not isinstance(value, dict) or key not in value:
                    raise self._missing(data)
                value = value[key]
            return value
        matches = [m.value for m in self.compiled.find(root)]
        if not self.definite:
            return matches
        if not matches:
            raise self._missing(data)
        return matches[0]

    def _missing(self, data: Json) -> StatesError:
        shown = json.dumps(data, separators=(",", ":"))
        return StatesError(
            "States.Runtime",
            f"The JSONPath '{self.text}' could not be found in the input '{shown[:1000]}'",
        )


def _definite(expr: Any) -> bool:
    if isinstance(expr, Root):
        return True
    if isinstance(expr, Child):
        return _definite(expr.left) and _definite(expr.right)
    if isinstance(expr, Fields):
        return len(expr.fields) == 1 and expr.fields[0] != "*"
    if isinstance(expr, Index):
        return len(expr.indices) == 1
    return False


@lru_cache(maxsize=4096)
def compile_path(text: str) -> Path:
    """Parse a path (``$...``, ``$$...`` or ``$var...``); raises :class:`PathSyntaxError`."""
    if not isinstance(text, str) or not text.startswith("$"):
        raise PathSyntaxError(f"{text!r} is not a JSONPath (it must start with '$')")
    base, rest = "$", text
    if text.startswith("$$"):
        base, rest = "$$", text[1:]
    else:
        m = _VARIABLE.match(text)
        if m:
            base, rest = m.group(1), "$" + text[m.end() :]
    if _SIMPLE.match(rest):
        keys = tuple(rest[2:].split(".")) if len(rest) > 1 else ()
        return Path(text, base, keys, None, True)
    try:
        compiled = parse_jsonpath(rest)
    except (JsonPathLexerError, JsonPathParserError, Exception) as exc:
        # jsonpath-ng raises bare Exceptions for some syntax errors: any failure here
        # means "not a path", which the caller reports with the field's name.
        raise PathSyntaxError(f"{text!r} is not a valid JSONPath: {exc}") from None
    return Path(text, base, None, compiled, _definite(compiled))


def is_path(text: str) -> bool:
    try:
        compile_path(text)
    except PathSyntaxError:
        return False
    return True


@lru_cache(maxsize=4096)
def reference_steps(text: str) -> tuple[str | int, ...]:
    """A reference path (``$.a['b'][0]``: no wildcards, filters or slices) as its steps;
    raises :class:`PathSyntaxError` otherwise."""
    if not text.startswith("$") or text.startswith("$$"):
        raise PathSyntaxError(f"{text!r} is not a reference path")
    steps: list[str | int] = []
    pos = 1
    while pos < len(text):
        m = _REFERENCE_STEP.match(text, pos)
        if not m:
            raise PathSyntaxError(f"{text!r} is not a reference path")
        if m.group(1) is not None:
            steps.append(m.group(1))
        elif m.group(2) is not None:
            steps.append(re.sub(r"\\(.)", r"\1", m.group(2)))
        else:
            steps.append(int(m.group(3)))
        pos = m.end()
    return tuple(steps)


def is_reference_path(text: str) -> bool:
    try:
        reference_steps(text)
    except PathSyntaxError:
        return False
    return True


def write_result(data: Json, result_path: str | None, result: Json) -> Json:
    """``ResultPath``: ``$`` replaces the input, ``None`` (JSON null) discards the result,
    any other reference path places the result into a copy of the input, creating the
    objects on the way."""
    if result_path is None:
        return data
    steps = reference_steps(result_path)
    if not steps:
        return result
    if not isinstance(data, dict):
        raise StatesError(
            "States.Runtime",
            f"Unable to apply ResultPath '{result_path}' to a non-object input",
        )
    out: dict[str, Json] = dict(data)
    node: Any = out
    for i, step in enumerate(steps):
        last = i == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                raise StatesError(
                    "States.Runtime", f"Unable to apply ResultPath '{result_path}' to the input"
                )
            if last:
                node[step] = result
            else:
                node[step] = _copy_container(node[step])
                node = node[step]
            continue
        if not isinstance(node, dict):
            raise StatesError(
                "States.Runtime", f"Unable to apply ResultPath '{result_path}' to the input"
            )
        if last:
            node[step] = result
        else:
            child = node.get(step)
            node[step] = _copy_container(child) if isinstance(child, (dict, list)) else {}
            node = node[step]
    return out


def _copy_container(value: Json) -> Json:
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, list):
        return list(value)
    return {}


Intrinsic = Callable[[str, Json, Scope], Json]


def apply_template(template: Json, data: Json, scope: Scope, intrinsic: Intrinsic) -> Json:
    """A payload template (``Parameters``, ``ResultSelector``, ``ItemSelector``, ``Assign``):
    keys ending in ``.$`` take their value from a path or an intrinsic function call."""
    if isinstance(template, dict):
        out: dict[str, Json] = {}
        for key, value in template.items():
            if key.endswith(".$") and isinstance(value, str):
                if value.startswith("States."):
                    out[key[:-2]] = intrinsic(value, data, scope)
                else:
                    out[key[:-2]] = compile_path(value).read(data, scope)
            else:
                out[key] = apply_template(value, data, scope, intrinsic)
        return out
    if isinstance(template, list):
        return [apply_template(v, data, scope, intrinsic) for v in template]
    return template
