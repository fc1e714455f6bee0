"""Subscription filter policies: checked when set, matched per message (pure).

SNS's filter syntax is EventBridge's event-pattern syntax less ``wildcard`` (exact values,
``prefix``, ``suffix``, ``anything-but`` with values, prefix or suffix,
``equals-ignore-case``, ``numeric``, ``exists``, ``cidr``, ``$or``), so the checking and matching
are :mod:`lamina.services.eventbridge.pattern`'s; what is SNS's own is here:

* the scope: ``MessageAttributes`` (the default) matches the message's attributes and
  allows no nesting; ``MessageBody`` matches the message as a JSON object, nested;
* what an attribute is to the matcher: a ``String`` its text, a ``Number`` a number, a
  ``String.Array`` its JSON array (any element may match); ``Binary`` attributes are
  never compared (as AWS);
* SNS's limits: 256 KB of policy, five keys, 150 combinations of values, numbers within
  ±10⁹.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.pattern import Pattern, matches, parse_pattern
from lamina.services.sns.errors import invalid_parameter

ATTRIBUTES = "MessageAttributes"
BODY = "MessageBody"
SCOPES = (ATTRIBUTES, BODY)
MAX_POLICY_BYTES = 256 * 1024
MAX_KEYS = 5
MAX_COMBINATIONS = 150
MAX_NUMBER = 1e9


@dataclass(frozen=True, slots=True)
class FilterPolicy:
    pattern: Pattern
    scope: str


@dataclass(frozen=True, slots=True)
class Attribute:
    """A message attribute as published: its data type and its string or base64 value."""

    data_type: str
    value: str


def _refuse(reason: str) -> AwsServiceError:
    return invalid_parameter(f"Invalid parameter: FilterPolicy: {reason}")


def parse_filter_policy(text: str, scope: str) -> FilterPolicy | None:
    """The policy ``text`` in ``scope``; None for no filter (empty text or ``{}``).
    Raises InvalidParameter as SNS does for a policy it would refuse."""
    if scope not in SCOPES:
        raise invalid_parameter("Invalid parameter: FilterPolicyScope: Invalid value")
    if not text.strip():
        return None
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise _refuse("Filter policy is too large")
    try:
        if json.loads(text) == {}:
            return None
        pattern = parse_pattern(text)
    except AwsServiceError as exc:
        reason = exc.message.removeprefix("Event pattern is not valid. Reason: ")
        raise _refuse(reason) from None
    except ValueError:
        raise _refuse("the policy is not JSON") from None
    if scope == ATTRIBUTES:
        _flat(pattern)
    _check_operators(pattern)
    keys = _keys(pattern, "")
    if len(keys) > MAX_KEYS:
        raise _refuse(f"Filter policy can not have more than {MAX_KEYS} keys")
    if _combinations(pattern) > MAX_COMBINATIONS:
        raise _refuse(f"Filter policy is too complex (more than {MAX_COMBINATIONS} combinations)")
    return FilterPolicy(pattern, scope)


def _flat(pattern: Pattern) -> None:
    for key, value in pattern.items():
        if key == "$or":
            for sub in value:
                _flat(sub)
        elif isinstance(value, dict):
            raise _refuse(
                "Filter policy scope MessageAttributes does not support nested filter policy"
            )


def _check_operators(node: object) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "wildcard":
                raise _refuse("Unrecognized match type wildcard")
            if key == "numeric" and isinstance(value, list):
                for bound in value[1::2]:
                    if abs(float(bound)) > MAX_NUMBER:
                        raise _refuse("Numeric value must be between -1.0E9 and 1.0E9")
            _check_operators(value)
    elif isinstance(node, list):
        for item in node:
            number = isinstance(item, int | float) and not isinstance(item, bool)
            if number and abs(item) > MAX_NUMBER:
                raise _refuse("Numeric value must be between -1.0E9 and 1.0E9")
            _check_operators(item)


def _keys(pattern: Pattern, where: str) -> set[str]:
    out: set[str] = set()
    for key, value in pattern.items():
        if key == "$or":
            for sub in value:
                out |= _keys(sub, where)
        elif isinstance(value, dict):
            out |= _keys(value, f"{where}{key}.")
        else:
            out.add(where + key)
    return out


def _combinations(pattern: Pattern) -> int:
    total = 1
    for key, value in pattern.items():
        if key == "$or":
            total *= sum(_combinations(sub) for sub in value)
        elif isinstance(value, dict):
            total *= _combinations(value)
        else:
            total *= len(value)
    return total


def _attribute_value(attr: Attribute) -> object:
    if attr.data_type.startswith("Number"):
        try:
            number = float(attr.value)
        except ValueError:
            return None
        return number if math.isfinite(number) else None
    if attr.data_type.startswith("String.Array"):
        try:
            return json.loads(attr.value)
        except ValueError:
            return None
    return attr.value


def accepts(policy: FilterPolicy | None, message: str, attributes: Mapping[str, Attribute]) -> bool:
    """Whether a subscription with ``policy`` gets a message of this body and attributes."""
    if policy is None:
        return True
    if policy.scope == BODY:
        try:
            body: Any = json.loads(message)
        except ValueError:
            return False
        return isinstance(body, dict) and matches(policy.pattern, body)
    event = {
        name: _attribute_value(attr)
        for name, attr in attributes.items()
        if not attr.data_type.startswith("Binary")
    }
    return matches(policy.pattern, event)
