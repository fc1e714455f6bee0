"""EventBridge event patterns: checked when a rule is put, matched against events (pure).

A pattern is a JSON object shaped like the events it matches. Each leaf is a list of
conditions, any of which may match (OR); the fields of an object must all match (AND).
A condition is a plain value (string, number, ``null``, boolean: equal to the event's) or
one of these objects::

    {"prefix": "ab"}            {"prefix": {"equals-ignore-case": "ab"}}
    {"suffix": ".png"}          {"suffix": {"equals-ignore-case": ".png"}}
    {"equals-ignore-case": "x"} {"wildcard": "dir/*.png"}
    {"exists": true|false}      {"numeric": [">", 0, "<=", 5]}
    {"cidr": "10.0.0.0/24"}     (an IPv4 or IPv6 address in the block)
    {"anything-but": v | [v, ...] | {"prefix"|"suffix"|"equals-ignore-case": ...}}

``"$or": [pattern, ...]`` beside other fields matches when any of the sub-patterns does.
Where the event's value is a list, the condition matches when any element does; a field
missing from the event matches only ``{"exists": false}``.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from typing import Any

from lamina.errors import AwsServiceError

Pattern = Mapping[str, Any]  # checked by parse_pattern: safe to hand to matches()

_NUMERIC_OPS = ("<", "<=", "=", ">", ">=")
_MISSING = object()


def invalid(reason: str) -> AwsServiceError:
    return AwsServiceError(
        "InvalidEventPatternException", f"Event pattern is not valid. Reason: {reason}"
    )


def parse_pattern(text: str) -> Pattern:
    """Parse and check ``EventPattern`` text; raise InvalidEventPatternException on error."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise invalid(f"the pattern is not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise invalid("the pattern must be a JSON object")
    if not value:
        raise invalid("the pattern must not be empty")
    _check_object(value, "")
    return value


def _check_object(obj: Mapping[str, Any], where: str) -> None:
    for key, value in obj.items():
        at = f"{where}.{key}" if where else key
        if key == "$or":
            if not isinstance(value, list) or len(value) < 2:
                raise invalid(f"{at} must be a list of at least two patterns")
            for sub in value:
                if not isinstance(sub, dict) or not sub:
                    raise invalid(f"each pattern in {at} must be a non-empty object")
                _check_object(sub, where)
        elif isinstance(value, dict):
            if not value:
                raise invalid(f"{at} must not be an empty object")
            _check_object(value, at)
        elif isinstance(value, list):
            if not value:
                raise invalid(f"{at} must not be an empty list")
            for condition in value:
                _check_condition(condition, at)
        else:
            raise invalid(f"{at} must be an object or an array")


def _is_number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _check_string_or_nocase(value: object, op: str, at: str) -> None:
    if isinstance(value, dict) and list(value) == ["equals-ignore-case"]:
        value = value["equals-ignore-case"]
    if not isinstance(value, str):
        raise invalid(f"{op} match pattern in {at} must be a string")


def _check_condition(cond: object, at: str) -> None:
    if cond is None or isinstance(cond, str | bool) or _is_number(cond):
        return
    if not isinstance(cond, dict) or len(cond) != 1:
        raise invalid(f"{at}: a condition is a value or an object with one operator")
    ((op, arg),) = cond.items()
    if op in ("prefix", "suffix"):
        _check_string_or_nocase(arg, op, at)
    elif op in ("equals-ignore-case", "wildcard"):
        if not isinstance(arg, str):
            raise invalid(f"{op} match pattern in {at} must be a string")
    elif op == "exists":
        if not isinstance(arg, bool):
            raise invalid(f"exists match pattern in {at} must be true or false")
    elif op == "cidr":
        if not isinstance(arg, str) or _network(arg) is None:
            raise invalid(f"cidr match pattern in {at} must be an IP address block (10.0.0.0/24)")
    elif op == "numeric":
        _check_numeric(arg, at)
    elif op == "anything-but":
        if isinstance(arg, dict):
            if len(arg) != 1 or next(iter(arg)) not in ("prefix", "suffix", "equals-ignore-case"):
                raise invalid(f"anything-but in {at} takes prefix, suffix or equals-ignore-case")
            ((inner, text),) = arg.items()
            values = text if inner == "equals-ignore-case" and isinstance(text, list) else [text]
            if not values or not all(isinstance(t, str) for t in values):
                raise invalid(f"anything-but {inner} in {at} must be a string")
        else:
            values = arg if isinstance(arg, list) else [arg]
            if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
                raise invalid(f"anything-but in {at} takes strings or numbers")
    else:
        raise invalid(f"unrecognized match type {op} in {at}")


def _check_numeric(arg: object, at: str) -> None:
    if not isinstance(arg, list) or len(arg) not in (2, 4):
        raise invalid(f"numeric in {at} takes one or two [operator, number] pairs")
    for i in range(0, len(arg), 2):
        op, num = arg[i], arg[i + 1]
        if op not in _NUMERIC_OPS or not _is_number(num):
            raise invalid(f"numeric in {at}: {op!r} {num!r} is not an operator and a number")
    if len(arg) == 4 and (arg[0] not in (">", ">=") or arg[2] not in ("<", "<=")):
        raise invalid(f"numeric in {at}: a range is a lower bound (> or >=) then an upper one")


# -- matching -------------------------------------------------------------------------


def matches(pattern: Pattern, event: Mapping[str, Any]) -> bool:
    """Whether ``event`` matches ``pattern`` (one :func:`parse_pattern` accepted)."""
    for key, value in pattern.items():
        if key == "$or":
            if not any(matches(sub, event) for sub in value):
                return False
            continue
        actual = event.get(key, _MISSING)
        if isinstance(value, dict):
            if not _match_object(value, actual):
                return False
        elif not _match_leaf(value, actual):
            return False
    return True


def _match_object(pattern: Pattern, actual: object) -> bool:
    if isinstance(actual, dict):
        return matches(pattern, actual)
    if isinstance(actual, list):  # a list of objects: any of them
        return any(isinstance(a, dict) and matches(pattern, a) for a in actual)
    # Missing: only a pattern of nothing but exists:false conditions still matches.
    return matches(pattern, {})


def _match_leaf(conditions: list[Any], actual: object) -> bool:
    if actual is _MISSING:
        return any(_is_exists(c, False) for c in conditions)
    values = actual if isinstance(actual, list) else [actual]
    for cond in conditions:
        if isinstance(cond, dict) and "exists" in cond:
            if cond["exists"]:
                return True
            continue
        if isinstance(cond, dict) and "anything-but" in cond:
            # anything-but looks at every element: none may be excluded.
            if values and all(_condition(cond, v) for v in values):
                return True
            continue
        if any(_condition(cond, v) for v in values):
            return True
    return False


def _is_exists(cond: object, flag: bool) -> bool:
    return isinstance(cond, dict) and cond.get("exists", not flag) is flag


def _equal(expected: object, value: object) -> bool:
    if _is_number(expected):
        return _is_number(value) and float(value) == float(expected)  # type: ignore[arg-type]
    if isinstance(expected, bool) or expected is None:
        return value is expected
    return isinstance(value, str) and value == expected


def _string_op(arg: object, value: str, test: str) -> bool:
    nocase = isinstance(arg, dict)
    text: str = arg["equals-ignore-case"] if isinstance(arg, dict) else str(arg)
    if nocase:
        text, value = text.lower(), value.lower()
    return value.startswith(text) if test == "prefix" else value.endswith(text)


def _condition(cond: object, value: object) -> bool:
    if not isinstance(cond, dict):
        return _equal(cond, value)
    ((op, arg),) = cond.items()
    if op in ("prefix", "suffix"):
        return isinstance(value, str) and _string_op(arg, value, op)
    if op == "equals-ignore-case":
        return isinstance(value, str) and value.lower() == str(arg).lower()
    if op == "wildcard":
        return isinstance(value, str) and _wildcard(str(arg)).fullmatch(value) is not None
    if op == "numeric":
        return _is_number(value) and _numeric(arg, float(value))  # type: ignore[arg-type]
    if op == "cidr":
        return isinstance(value, str) and _in_network(value, str(arg))
    if op == "anything-but":
        return _anything_but(arg, value)
    return False


def _anything_but(arg: object, value: object) -> bool:
    if isinstance(arg, dict):
        ((inner, text),) = arg.items()
        if not isinstance(value, str):
            return True
        if inner == "equals-ignore-case":
            texts = text if isinstance(text, list) else [text]
            return value.lower() not in {str(t).lower() for t in texts}
        return not _string_op(text, value, inner)
    excluded = arg if isinstance(arg, list) else [arg]
    return not any(_equal(e, value) for e in excluded)


def _numeric(arg: list[Any], value: float) -> bool:
    for i in range(0, len(arg), 2):
        op, bound = arg[i], float(arg[i + 1])
        ok = {
            "<": value < bound,
            "<=": value <= bound,
            "=": value == bound,
            ">": value > bound,
            ">=": value >= bound,
        }[op]
        if not ok:
            return False
    return True


def _network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _in_network(value: str, block: str) -> bool:
    network = _network(block)
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    return network is not None and address.version == network.version and address in network


def _wildcard(text: str) -> re.Pattern[str]:
    """``*`` is any run of characters; ``\\*`` a literal star."""
    parts = re.split(r"(\\\*|\*)", text)
    return re.compile(
        "".join(".*" if p == "*" else re.escape("*" if p == "\\*" else p) for p in parts),
        re.DOTALL,
    )
