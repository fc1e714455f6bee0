"""Choice rules of JSONPath states, evaluated (pure).

A comparison whose operand has the wrong type is simply false (``StringEquals`` on a
number), as on Step Functions; a ``Variable`` that does not exist is a ``States.Runtime``
error except for ``IsPresent``.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache

from lamina.workflows.definition import AllOf, AnyOf, ChoiceComparison, NoneOf, Rule
from lamina.workflows.errors import StatesError
from lamina.workflows.jsonpath import Json, Scope, compile_path

_TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def parse_timestamp(value: Json) -> datetime | None:
    """An RFC 3339 timestamp with an upper-case ``T`` and a zone, or None."""
    if not isinstance(value, str) or not _TS.match(value):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _is_number(v: Json) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


@lru_cache(maxsize=1024)
def _glob(pattern: str) -> re.Pattern[str]:
    # StringMatches: only '*' is special; '\*' and '\\' escape.
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
            continue
        out.append(".*" if ch == "*" else re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _compare(kind: str, op: str, a: Json, b: Json) -> bool:
    if kind == "String":
        if not isinstance(a, str) or not isinstance(b, str):
            return False
        x, y = a, b
    elif kind == "Numeric":
        if not _is_number(a) or not _is_number(b):
            return False
        x, y = a, b
    else:
        ta, tb = parse_timestamp(a), parse_timestamp(b)
        if ta is None or tb is None:
            return False
        return _order(op, ta.timestamp(), tb.timestamp())
    return _order(op, x, y)


def _order(op: str, x: object, y: object) -> bool:
    if op == "Equals":
        return x == y
    lt = x < y  # type: ignore[operator]
    if op == "LessThan":
        return bool(lt)
    if op == "GreaterThan":
        return bool(y < x)  # type: ignore[operator]
    if op == "LessThanEquals":
        return bool(lt or x == y)
    return bool(y < x or x == y)  # type: ignore[operator]


def evaluate_rule(rule: Rule, data: Json, scope: Scope) -> bool:
    if isinstance(rule, AllOf):
        return all(evaluate_rule(r, data, scope) for r in rule.rules)
    if isinstance(rule, AnyOf):
        return any(evaluate_rule(r, data, scope) for r in rule.rules)
    if isinstance(rule, NoneOf):
        return not evaluate_rule(rule.rule, data, scope)
    if not isinstance(rule, ChoiceComparison):
        raise StatesError("States.Runtime", "A JSONata Condition in a JSONPath state")
    path = compile_path(rule.variable)
    op = rule.operator
    if op == "IsPresent":
        try:
            path.read(data, scope)
        except StatesError:
            return rule.value is False
        return rule.value is True
    value = path.read(data, scope)
    expected = rule.value
    if op.endswith("Path"):
        expected = compile_path(expected).read(data, scope)
        op = op[:-4]
    if op == "IsNull":
        return (value is None) is bool(expected)
    if op == "IsNumeric":
        return _is_number(value) is bool(expected)
    if op == "IsString":
        return isinstance(value, str) is bool(expected)
    if op == "IsBoolean":
        return isinstance(value, bool) is bool(expected)
    if op == "IsTimestamp":
        return (parse_timestamp(value) is not None) is bool(expected)
    if op == "BooleanEquals":
        return isinstance(value, bool) and value == expected
    if op == "StringMatches":
        return isinstance(value, str) and bool(_glob(expected).match(value))
    for kind in ("String", "Numeric", "Timestamp"):
        if op.startswith(kind):
            return _compare(kind, op[len(kind) :], value, expected)
    raise StatesError("States.Runtime", f"Unknown comparison operator {op}")
