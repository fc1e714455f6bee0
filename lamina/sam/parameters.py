"""Template parameters: defaults, ``--parameter-overrides`` and CloudFormation's constraints."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from typing import Any

from lamina.sam.errors import TemplateError

_KEY = re.compile(r"^[A-Za-z0-9]+$")


def parse_overrides(items: Iterable[str]) -> dict[str, str]:
    """``K=V`` pairs (several per item, space-separated, shell quoting allowed) and the
    ``ParameterKey=K,ParameterValue=V`` form ``sam deploy`` also accepts."""
    out: dict[str, str] = {}
    for item in items:
        for token in shlex.split(item):
            if token.startswith("ParameterKey="):
                fields = dict(p.split("=", 1) for p in token.split(",") if "=" in p)
                key, value = fields.get("ParameterKey", ""), fields.get("ParameterValue")
                if not key or value is None:
                    raise TemplateError(
                        f"parameter override {token!r} must look like "
                        "ParameterKey=K,ParameterValue=V"
                    )
            else:
                key, eq, value = token.partition("=")
                if not eq or not key:
                    raise TemplateError(f"parameter override {token!r} must look like Key=Value")
            out[key] = value
    return out


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise TemplateError(f"parameter {name}: {text!r} is not a number") from None


def _check(name: str, spec: Mapping[str, Any], value: str) -> None:
    kind = str(spec.get("Type", "String"))
    items = (
        value.split(",") if kind.startswith("List<") or kind == "CommaDelimitedList" else [value]
    )
    allowed = spec.get("AllowedValues")
    for item in items:
        item = item.strip() if kind != "String" else item
        if kind in ("Number", "List<Number>"):
            n = _number(item, name)
            if "MinValue" in spec and n < float(spec["MinValue"]):
                raise TemplateError(
                    f"parameter {name}: {item} is below MinValue {spec['MinValue']}"
                )
            if "MaxValue" in spec and n > float(spec["MaxValue"]):
                raise TemplateError(
                    f"parameter {name}: {item} is above MaxValue {spec['MaxValue']}"
                )
        if isinstance(allowed, list) and item not in [str(a) for a in allowed]:
            raise TemplateError(
                f"parameter {name}: {item!r} is not one of AllowedValues "
                f"{', '.join(str(a) for a in allowed)}"
            )
    if kind == "String":
        pattern = spec.get("AllowedPattern")
        if pattern is not None and not re.fullmatch(str(pattern), value):
            message = spec.get("ConstraintDescription") or f"must match {pattern}"
            raise TemplateError(f"parameter {name}: {value!r} {message}")
        if "MinLength" in spec and len(value) < int(spec["MinLength"]):
            raise TemplateError(f"parameter {name}: shorter than MinLength {spec['MinLength']}")
        if "MaxLength" in spec and len(value) > int(spec["MaxLength"]):
            raise TemplateError(f"parameter {name}: longer than MaxLength {spec['MaxLength']}")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def resolve_parameters(
    declared: Mapping[str, Any], overrides: Mapping[str, str]
) -> dict[str, str | list[str]]:
    """Each declared parameter's value: the override, else its Default; checked and typed.

    List types (``CommaDelimitedList``, ``List<...>``) become lists of strings; every other
    value stays the string CloudFormation would hand to ``Ref``.
    """
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise TemplateError(
            f"parameter override(s) {', '.join(unknown)} not declared in the template's Parameters"
        )
    out: dict[str, str | list[str]] = {}
    missing: list[str] = []
    for name, spec in declared.items():
        if not _KEY.match(str(name)):
            raise TemplateError(f"parameter name {name!r} must be letters and digits")
        spec = spec if isinstance(spec, dict) else {}
        if name in overrides:
            value = overrides[name]
        elif "Default" in spec:
            value = _text(spec["Default"])
        else:
            missing.append(str(name))
            continue
        kind = str(spec.get("Type", "String"))
        if kind.startswith("AWS::SSM::Parameter") and name not in overrides:
            # The default names an SSM parameter, whose value only AWS knows.
            raise TemplateError(
                f"parameter {name}: Lamina has no SSM Parameter Store to read {value!r} from; "
                f"pass the value itself with --parameter-overrides {name}=..."
            )
        _check(str(name), spec, value)
        if kind.startswith("List<") or kind == "CommaDelimitedList":
            out[str(name)] = [v.strip() for v in value.split(",")] if value else []
        else:
            out[str(name)] = value
    if missing:
        raise TemplateError(
            f"parameter(s) {', '.join(missing)} have no Default: "
            f"pass --parameter-overrides {' '.join(m + '=...' for m in missing)}"
        )
    return out
