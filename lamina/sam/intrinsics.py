"""CloudFormation's intrinsic functions and conditions, resolved against what Lamina knows.

Pure: a :class:`Resolver` is built from parameter values, pseudo parameters, mappings,
condition definitions and two look-ups for resources (``Ref`` and ``Fn::GetAtt``), and
turns a template fragment into plain values. ``AWS::NoValue`` removes the key or list
item it stands for, as CloudFormation does.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from lamina.sam.errors import TemplateError


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE: Any = _NoValue()
_SUB_VAR = re.compile(r"\$\{([^}]*)\}")
CONDITION_FUNCTIONS = ("Fn::Equals", "Fn::And", "Fn::Or", "Fn::Not", "Condition")

RefLookup = Callable[[str], Any]  # logical id → value, or raise TemplateError
AttLookup = Callable[[str, str], Any]  # (logical id, attribute) → value


def _one_key(value: Any) -> str | None:
    """The function name when ``value`` is an intrinsic call (a one-key ``Ref``/``Fn::`` map)."""
    if isinstance(value, dict) and len(value) == 1:
        key = next(iter(value))
        if key == "Ref" or key == "Condition" or (isinstance(key, str) and key.startswith("Fn::")):
            return str(key)
    return None


class Resolver:
    """Resolves intrinsic functions in template fragments."""

    def __init__(
        self,
        parameters: Mapping[str, Any],
        pseudo: Mapping[str, Any],
        *,
        mappings: Mapping[str, Any] | None = None,
        conditions: Mapping[str, Any] | None = None,
        ref: RefLookup | None = None,
        getatt: AttLookup | None = None,
    ) -> None:
        self.parameters = dict(parameters)
        self.pseudo = dict(pseudo)
        self.mappings = dict(mappings or {})
        self.condition_defs = dict(conditions or {})
        self._ref = ref
        self._getatt = getatt
        self._condition_values: dict[str, bool] = {}
        self._evaluating: set[str] = set()

    # -- conditions ------------------------------------------------------------------
    def condition(self, name: str) -> bool:
        """The value of the named condition (evaluated once; cycles are errors)."""
        if name in self._condition_values:
            return self._condition_values[name]
        if name not in self.condition_defs:
            raise TemplateError(f"condition {name!r} is not defined in Conditions")
        if name in self._evaluating:
            raise TemplateError(f"condition {name!r} refers to itself")
        self._evaluating.add(name)
        try:
            value = self.evaluate(self.condition_defs[name], f"Conditions.{name}")
        finally:
            self._evaluating.discard(name)
        self._condition_values[name] = value
        return value

    def evaluate(self, expr: Any, where: str) -> bool:
        """A condition expression: Fn::Equals/And/Or/Not, or ``{"Condition": name}``."""
        fn = _one_key(expr)
        if fn is None:
            if isinstance(expr, bool):
                return expr
            if isinstance(expr, str) and expr.lower() in ("true", "false"):
                return expr.lower() == "true"
            raise TemplateError(f"{where}: a condition must be Fn::Equals/And/Or/Not")
        args = expr[fn]
        if fn == "Condition":
            return self.condition(str(args))
        if fn == "Fn::Equals":
            if not isinstance(args, list) or len(args) != 2:
                raise TemplateError(f"{where}: Fn::Equals takes a list of two values")
            a, b = (self.resolve(v, where) for v in args)
            return _as_text(a) == _as_text(b)
        if fn in ("Fn::And", "Fn::Or"):
            if not isinstance(args, list) or not 2 <= len(args) <= 10:
                raise TemplateError(f"{where}: {fn} takes a list of 2 to 10 conditions")
            values = [self.evaluate(a, where) for a in args]
            return all(values) if fn == "Fn::And" else any(values)
        if fn == "Fn::Not":
            if not isinstance(args, list) or len(args) != 1:
                raise TemplateError(f"{where}: Fn::Not takes a list of one condition")
            return not self.evaluate(args[0], where)
        raise TemplateError(f"{where}: {fn} is not a condition function")

    # -- values ----------------------------------------------------------------------
    def resolve(self, value: Any, where: str = "") -> Any:
        """``value`` with every intrinsic function replaced by its result."""
        fn = _one_key(value)
        if fn is not None and fn != "Condition":
            return self._call(fn, value[fn], where)
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                resolved = self.resolve(item, f"{where}.{key}" if where else str(key))
                if resolved is not NO_VALUE:
                    out[key] = resolved
            return out
        if isinstance(value, list):
            items = [self.resolve(item, f"{where}[{i}]") for i, item in enumerate(value)]
            return [item for item in items if item is not NO_VALUE]
        return value

    def _call(self, fn: str, args: Any, where: str) -> Any:
        handler = _FUNCTIONS.get(fn)
        if handler is None:
            raise TemplateError(f"{where}: {fn} is not supported by Lamina")
        return handler(self, args, where)

    def ref(self, name: Any, where: str) -> Any:
        if not isinstance(name, str):
            raise TemplateError(f"{where}: Ref takes a name, not {name!r}")
        if name == "AWS::NoValue":
            return NO_VALUE
        if name in self.parameters:
            return self.parameters[name]
        if name in self.pseudo:
            return self.pseudo[name]
        if name.startswith("AWS::"):
            raise TemplateError(f"{where}: pseudo parameter {name} is not supported")
        if self._ref is None:
            raise TemplateError(f"{where}: Ref {name}: no such parameter")
        return self._ref(name)

    def getatt(self, args: Any, where: str) -> Any:
        if isinstance(args, str):
            args = args.split(".", 1)
        if not isinstance(args, list) or len(args) != 2:
            raise TemplateError(f"{where}: Fn::GetAtt takes [LogicalId, Attribute]")
        resource, attribute = (self.resolve(a, where) for a in args)
        if self._getatt is None:
            raise TemplateError(f"{where}: Fn::GetAtt {resource}.{attribute}: no resources")
        return self._getatt(str(resource), str(attribute))

    def sub(self, args: Any, where: str) -> str:
        variables: dict[str, Any] = {}
        if isinstance(args, list):
            if len(args) != 2 or not isinstance(args[0], str) or not isinstance(args[1], dict):
                raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{vars}}]")
            text = args[0]
            variables = {k: self.resolve(v, f"{where}.{k}") for k, v in args[1].items()}
        elif isinstance(args, str):
            text = args
        else:
            raise TemplateError(f"{where}: Fn::Sub takes a string or [string, {{vars}}]")

        def replace(m: re.Match[str]) -> str:
            name = m.group(1).strip()
            if name.startswith("!"):
                return "${" + name[1:] + "}"  # ${!Literal} is the literal ${Literal}
            if name in variables:
                return _as_text(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, _, attribute = name.partition(".")
                return _as_text(self.getatt([resource, attribute], where))
            return _as_text(self.ref(name, where))

        return _SUB_VAR.sub(replace, text)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_text(v) for v in value)
    if value is NO_VALUE:
        return ""
    return str(value)


def _if(r: Resolver, args: Any, where: str) -> Any:
    if not isinstance(args, list) or len(args) != 3 or not isinstance(args[0], str):
        raise TemplateError(f"{where}: Fn::If takes [ConditionName, value_if_true, value_if_false]")
    return r.resolve(args[1] if r.condition(args[0]) else args[2], where)


def _join(r: Resolver, args: Any, where: str) -> str:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"{where}: Fn::Join takes [delimiter, [values]]")
    delimiter, items = r.resolve(args[0], where), r.resolve(args[1], where)
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Join's second argument must be a list")
    return str(delimiter).join(_as_text(i) for i in items)


def _select(r: Resolver, args: Any, where: str) -> Any:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"{where}: Fn::Select takes [index, [values]]")
    index, items = r.resolve(args[0], where), r.resolve(args[1], where)
    if isinstance(items, str):
        items = items.split(",")
    try:
        return items[int(index)]
    except (ValueError, TypeError, IndexError):
        raise TemplateError(f"{where}: Fn::Select index {index!r} is out of range") from None


def _split(r: Resolver, args: Any, where: str) -> list[str]:
    if not isinstance(args, list) or len(args) != 2:
        raise TemplateError(f"{where}: Fn::Split takes [delimiter, string]")
    delimiter, text = r.resolve(args[0], where), r.resolve(args[1], where)
    return _as_text(text).split(str(delimiter))


def _find_in_map(r: Resolver, args: Any, where: str) -> Any:
    if not isinstance(args, list) or len(args) not in (3, 4):
        raise TemplateError(f"{where}: Fn::FindInMap takes [MapName, TopKey, SecondKey]")
    name, top, second = (_as_text(r.resolve(a, where)) for a in args[:3])
    try:
        return r.mappings[name][top][second]
    except (KeyError, TypeError):
        if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
            return r.resolve(args[3]["DefaultValue"], where)
        raise TemplateError(f"{where}: Fn::FindInMap: {name}.{top}.{second} not found") from None


def _base64(r: Resolver, args: Any, where: str) -> str:
    return base64.b64encode(_as_text(r.resolve(args, where)).encode()).decode()


def _get_azs(r: Resolver, args: Any, where: str) -> list[str]:
    region = _as_text(r.resolve(args, where)) or str(r.pseudo.get("AWS::Region", "us-east-1"))
    return [f"{region}{zone}" for zone in "abc"]


def _to_json(r: Resolver, args: Any, where: str) -> str:
    return json.dumps(r.resolve(args, where), separators=(",", ":"))


def _length(r: Resolver, args: Any, where: str) -> int:
    items = r.resolve(args, where)
    if not isinstance(items, list):
        raise TemplateError(f"{where}: Fn::Length takes a list")
    return len(items)


_FUNCTIONS: dict[str, Callable[[Resolver, Any, str], Any]] = {
    "Ref": lambda r, a, w: r.ref(r.resolve(a, w) if isinstance(a, dict) else a, w),
    "Fn::GetAtt": lambda r, a, w: r.getatt(a, w),
    "Fn::Sub": lambda r, a, w: r.sub(a, w),
    "Fn::If": _if,
    "Fn::Join": _join,
    "Fn::Select": _select,
    "Fn::Split": _split,
    "Fn::FindInMap": _find_in_map,
    "Fn::Base64": _base64,
    "Fn::GetAZs": _get_azs,
    "Fn::ToJsonString": _to_json,
    "Fn::Length": _length,
}
