"""IAM policy documents parsed into typed statements (pure).

A policy is parsed once, when it is stored (CreateRole's trust policy, PutRolePolicy,
AddPermission, a managed policy's data), so evaluation on every request works on typed
values and never re-reads JSON. Parsing follows IAM's grammar: ``Statement`` is one object or a
list; ``Action``/``NotAction``, ``Resource``/``NotResource`` and ``Principal``/``NotPrincipal``
are strings or lists; ``Condition`` maps an operator to ``{key: value | [values]}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from lamina.errors import ApiError

VERSIONS = ("2012-10-17", "2008-10-17")
MAX_DOCUMENT_BYTES = 131_072


class MalformedPolicyDocument(ApiError):
    """Raised when a policy document does not follow IAM's policy grammar."""

    error_type = "MalformedPolicyDocument"
    status = 400


class Effect(Enum):
    ALLOW = "Allow"
    DENY = "Deny"


@dataclass(frozen=True, slots=True)
class PolicyCondition:
    """One ``operator: {key: values}`` entry, split per key (all must hold)."""

    operator: str
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Principals:
    """``Principal``: ``"*"`` or ``{"AWS"|"Service"|"Federated": ids}``."""

    anyone: bool
    ids: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Statement:
    sid: str | None
    effect: Effect
    actions: tuple[str, ...] | None
    not_actions: tuple[str, ...] | None
    resources: tuple[str, ...] | None
    not_resources: tuple[str, ...] | None
    principals: Principals | None
    not_principals: Principals | None
    conditions: tuple[PolicyCondition, ...]


@dataclass(frozen=True, slots=True)
class Policy:
    version: str
    statements: tuple[Statement, ...]
    document: str

    def sids(self) -> list[str]:
        return [s.sid for s in self.statements if s.sid is not None]


def parse_policy(document: str | Mapping[str, Any], *, resource_policy: bool = False) -> Policy:
    """Parse a policy document; identity policies must not name a principal, resource
    policies must."""
    if isinstance(document, str):
        if len(document.encode()) > MAX_DOCUMENT_BYTES:
            raise MalformedPolicyDocument("Cannot exceed quota for PolicySize: 131072")
        try:
            raw = json.loads(document)
        except json.JSONDecodeError as exc:
            raise MalformedPolicyDocument(f"Syntax errors in policy. ({exc.msg})") from None
        text = document
    else:
        raw = dict(document)
        text = json.dumps(raw, separators=(",", ":"))
    if not isinstance(raw, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    version = raw.get("Version", "2008-10-17")
    if version not in VERSIONS:
        raise MalformedPolicyDocument("The policy must contain a valid version string")
    unknown = set(raw) - {"Version", "Id", "Statement"}
    if unknown:
        raise MalformedPolicyDocument(
            f"Policy document contains unknown element {sorted(unknown)[0]}"
        )
    body = raw.get("Statement")
    if body is None:
        raise MalformedPolicyDocument("Policy document must contain a Statement")
    items = [body] if isinstance(body, dict) else body
    if not isinstance(items, list) or not items:
        raise MalformedPolicyDocument("Syntax errors in policy.")
    statements = tuple(_statement(item, resource_policy) for item in items)
    return Policy(version=version, statements=statements, document=text)


_STATEMENT_KEYS = {
    "Sid",
    "Effect",
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Principal",
    "NotPrincipal",
    "Condition",
}


def _statement(item: Any, resource_policy: bool) -> Statement:
    if not isinstance(item, dict):
        raise MalformedPolicyDocument("Syntax errors in policy.")
    unknown = set(item) - _STATEMENT_KEYS
    if unknown:
        raise MalformedPolicyDocument(f"Statement contains unknown element {sorted(unknown)[0]}")
    effect_raw = item.get("Effect")
    try:
        effect = Effect(effect_raw)
    except ValueError:
        raise MalformedPolicyDocument(f"Invalid effect: {effect_raw}") from None
    actions = _strings(item, "Action")
    not_actions = _strings(item, "NotAction")
    if (actions is None) == (not_actions is None):
        raise MalformedPolicyDocument("Policy statement must contain actions.")
    resources = _strings(item, "Resource")
    not_resources = _strings(item, "NotResource")
    if resources is not None and not_resources is not None:
        raise MalformedPolicyDocument("Statement has both Resource and NotResource")
    if not resource_policy and resources is None and not_resources is None:
        raise MalformedPolicyDocument("Policy statement must contain resources.")
    principals = _principals(item.get("Principal"))
    not_principals = _principals(item.get("NotPrincipal"))
    if not resource_policy and (principals or not_principals):
        raise MalformedPolicyDocument("Policy document should not specify a principal.")
    if resource_policy and principals is None and not_principals is None:
        raise MalformedPolicyDocument("Missing required field Principal")
    sid = item.get("Sid")
    if sid is not None and not isinstance(sid, str):
        raise MalformedPolicyDocument("Statement IDs (SID) must be strings")
    for action in (actions or ()) + (not_actions or ()):
        if action != "*" and ":" not in action:
            raise MalformedPolicyDocument(
                f"Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc. ({action})"
            )
    return Statement(
        sid=sid,
        effect=effect,
        actions=actions,
        not_actions=not_actions,
        resources=resources,
        not_resources=not_resources,
        principals=principals,
        not_principals=not_principals,
        conditions=_conditions(item.get("Condition")),
    )


def _strings(item: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = item.get(key)
    if value is None:
        return None
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise MalformedPolicyDocument(
            f"Syntax errors in policy. ({key} must be a string or a list)"
        )
    return tuple(values)


def _principals(value: Any) -> Principals | None:
    if value is None:
        return None
    if value == "*":
        return Principals(anyone=True, ids={})
    if not isinstance(value, dict):
        raise MalformedPolicyDocument("Invalid principal in policy")
    ids: dict[str, tuple[str, ...]] = {}
    for kind, raw in value.items():
        if kind not in ("AWS", "Service", "Federated", "CanonicalUser"):
            raise MalformedPolicyDocument(f"Invalid principal in policy: {kind}")
        listed = [raw] if isinstance(raw, str) else raw
        if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
            raise MalformedPolicyDocument("Invalid principal in policy")
        ids[kind] = tuple(listed)
    return Principals(anyone=ids.get("AWS") == ("*",), ids=ids)


def _conditions(value: Any) -> tuple[PolicyCondition, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise MalformedPolicyDocument("Syntax errors in policy. (Condition must be an object)")
    out: list[PolicyCondition] = []
    for operator, block in value.items():
        if not isinstance(block, dict):
            raise MalformedPolicyDocument(f"Syntax errors in policy. (Condition {operator})")
        for key, raw in block.items():
            listed = [raw] if not isinstance(raw, list) else raw
            values = tuple(_condition_value(v) for v in listed)
            out.append(PolicyCondition(operator=operator, key=key, values=values))
    return tuple(out)


def _condition_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise MalformedPolicyDocument("Syntax errors in policy. (condition values are scalars)")
