"""IAM's policy evaluation (pure): an explicit Deny wins, then an Allow, else an implicit deny.

Identity policies (the role's inline and attached policies) and a resource's policy (a
function's AddPermission statements) are evaluated together for one request, the way IAM does
within one account: any matching Deny denies; otherwise any matching Allow from either side
allows; otherwise the request is denied implicitly.

Matching follows IAM: actions match case-insensitively with ``*`` and ``?`` wildcards, resources
case-sensitively with the same wildcards; condition keys are case-insensitive, operators with an
``IfExists`` suffix pass when the key is absent, ``ForAnyValue:``/``ForAllValues:`` qualify
multi-valued keys, and an unknown operator never matches (so an Allow with it grants nothing).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import lru_cache

from lamina.services.iam.policy import Effect, Policy, PolicyCondition, Principals, Statement


class Decision(Enum):
    ALLOW = "allowed"
    EXPLICIT_DENY = "explicitDeny"
    IMPLICIT_DENY = "implicitDeny"

    def is_allowed(self) -> bool:
        return self is Decision.ALLOW


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One API call to authorise: who, what, on which resource, with which context keys.

    ``principal`` is the caller's ARN (``arn:aws:iam::<acct>:role/<name>``, or
    ``arn:aws:sts::<acct>:assumed-role/<name>/<session>``), or a service principal such as
    ``s3.amazonaws.com``. ``context`` holds the condition keys (``aws:SourceArn``, ...) with
    lower-case names.
    """

    action: str
    resource: str
    principal: str | None = None
    account: str | None = None
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def evaluate(
    request: AccessRequest,
    identity: Iterable[Policy] = (),
    resource: Iterable[Policy] = (),
) -> Decision:
    """The decision for ``request`` under identity and resource policies."""
    allowed = False
    for policy, is_resource in _tagged(identity, resource):
        for statement in policy.statements:
            if not _applies(statement, request, is_resource):
                continue
            if statement.effect is Effect.DENY:
                return Decision.EXPLICIT_DENY
            allowed = True
    return Decision.ALLOW if allowed else Decision.IMPLICIT_DENY


def _tagged(
    identity: Iterable[Policy], resource: Iterable[Policy]
) -> Iterable[tuple[Policy, bool]]:
    for policy in identity:
        yield policy, False
    for policy in resource:
        yield policy, True


def _applies(statement: Statement, request: AccessRequest, is_resource: bool) -> bool:
    if statement.actions is not None:
        if not any(action_matches(p, request.action) for p in statement.actions):
            return False
    elif statement.not_actions is not None and any(
        action_matches(p, request.action) for p in statement.not_actions
    ):
        return False
    if statement.resources is not None:
        if not any(resource_matches(p, request.resource) for p in statement.resources):
            return False
    elif statement.not_resources is not None and any(
        resource_matches(p, request.resource) for p in statement.not_resources
    ):
        return False
    if is_resource:
        if statement.principals is not None and not principal_matches(
            statement.principals, request.principal, request.account
        ):
            return False
        if statement.not_principals is not None and principal_matches(
            statement.not_principals, request.principal, request.account
        ):
            return False
    return all(condition_holds(c, request.context) for c in statement.conditions)


@lru_cache(maxsize=4096)
def _wildcard(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    # fnmatch would also treat [...] as a class; IAM knows only * and ?.
    body = "".join(".*" if ch == "*" else "." if ch == "?" else re.escape(ch) for ch in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_wildcard(pattern, True).match(action))


def resource_matches(pattern: str, resource: str) -> bool:
    if pattern == "*":
        return True
    return bool(_wildcard(pattern, False).match(resource))


def principal_matches(principals: Principals, principal: str | None, account: str | None) -> bool:
    """Whether the caller is among ``principals``: ``*``, an account id or root ARN (every
    principal of that account), a role ARN (also its assumed-role sessions), a service."""
    if principals.anyone:
        return True
    if principal is None:
        return False
    for kind, ids in principals.ids.items():
        for pid in ids:
            if kind == "Service" and pid == principal:
                return True
            if kind != "AWS":
                continue
            if pid == principal or resource_matches(pid, principal):
                return True
            if account and pid in (account, f"arn:aws:iam::{account}:root"):
                return True
            if _session_of(principal) == pid:
                return True
    return False


def _session_of(principal: str) -> str | None:
    """``arn:aws:sts::1:assumed-role/r/s`` → ``arn:aws:iam::1:role/r``."""
    m = re.match(r"^arn:aws:sts::(\d{12}):assumed-role/([^/]+)/", principal)
    return f"arn:aws:iam::{m.group(1)}:role/{m.group(2)}" if m else None


def condition_holds(condition: PolicyCondition, context: Mapping[str, tuple[str, ...]]) -> bool:
    operator = condition.operator
    qualifier = ""
    if ":" in operator:
        qualifier, operator = operator.split(":", 1)
    if_exists = operator.endswith("IfExists")
    if if_exists:
        operator = operator[: -len("IfExists")]
    present = context.get(condition.key.lower())
    if operator == "Null":
        wants_absent = condition.values and condition.values[0].lower() == "true"
        return (present is None) == bool(wants_absent)
    test = _OPERATORS.get(operator)
    if test is None:
        return False
    if present is None:
        # ForAllValues over no values is vacuously true; otherwise only IfExists passes.
        return if_exists or qualifier == "ForAllValues"
    if qualifier == "ForAllValues" or operator in _NEGATED:
        # Every value must pass: for a negated operator, no value may match a listed one.
        return all(test(value, condition.values) for value in present)
    return any(test(value, condition.values) for value in present)


def _string_like(value: str, wanted: tuple[str, ...]) -> bool:
    return any(resource_matches(w, value) for w in wanted)


def _arn_like(value: str, wanted: tuple[str, ...]) -> bool:
    parts = value.split(":", 5)
    for pattern in wanted:
        pattern_parts = pattern.split(":", 5)
        if len(parts) != 6 or len(pattern_parts) != 6:
            continue
        # Each of the six colon-separated parts is matched on its own, as IAM does.
        if all(resource_matches(p, part) for p, part in zip(pattern_parts, parts, strict=True)):
            return True
    return False


def _numeric(compare: Callable[[float, float], bool]) -> Callable[[str, tuple[str, ...]], bool]:
    def test(value: str, wanted: tuple[str, ...]) -> bool:
        try:
            number = float(value)
            return any(compare(number, float(w)) for w in wanted)
        except ValueError:
            return False

    return test


def _date(compare: Callable[[float, float], bool]) -> Callable[[str, tuple[str, ...]], bool]:
    def seconds(text: str) -> float:
        try:
            return float(text)
        except ValueError:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

    def test(value: str, wanted: tuple[str, ...]) -> bool:
        try:
            when = seconds(value)
            return any(compare(when, seconds(w)) for w in wanted)
        except ValueError:
            return False

    return test


def _ip(value: str, wanted: tuple[str, ...]) -> bool:
    try:
        address = ipaddress.ip_address(value)
        return any(address in ipaddress.ip_network(w, strict=False) for w in wanted)
    except ValueError:
        return False


def _not(test: Callable[[str, tuple[str, ...]], bool]) -> Callable[[str, tuple[str, ...]], bool]:
    return lambda value, wanted: not test(value, wanted)


_NEGATED = frozenset(
    {
        "StringNotEquals",
        "StringNotEqualsIgnoreCase",
        "StringNotLike",
        "ArnNotEquals",
        "ArnNotLike",
        "NumericNotEquals",
        "DateNotEquals",
        "NotIpAddress",
    }
)

_OPERATORS: dict[str, Callable[[str, tuple[str, ...]], bool]] = {
    "StringEquals": lambda v, w: v in w,
    "StringNotEquals": lambda v, w: v not in w,
    "StringEqualsIgnoreCase": lambda v, w: v.lower() in {x.lower() for x in w},
    "StringNotEqualsIgnoreCase": lambda v, w: v.lower() not in {x.lower() for x in w},
    "StringLike": _string_like,
    "StringNotLike": _not(_string_like),
    "ArnEquals": _arn_like,
    "ArnLike": _arn_like,
    "ArnNotEquals": _not(_arn_like),
    "ArnNotLike": _not(_arn_like),
    "NumericEquals": _numeric(lambda a, b: a == b),
    "NumericNotEquals": _numeric(lambda a, b: a != b),
    "NumericLessThan": _numeric(lambda a, b: a < b),
    "NumericLessThanEquals": _numeric(lambda a, b: a <= b),
    "NumericGreaterThan": _numeric(lambda a, b: a > b),
    "NumericGreaterThanEquals": _numeric(lambda a, b: a >= b),
    "DateEquals": _date(lambda a, b: a == b),
    "DateNotEquals": _date(lambda a, b: a != b),
    "DateLessThan": _date(lambda a, b: a < b),
    "DateLessThanEquals": _date(lambda a, b: a <= b),
    "DateGreaterThan": _date(lambda a, b: a > b),
    "DateGreaterThanEquals": _date(lambda a, b: a >= b),
    "Bool": lambda v, w: v.lower() in {x.lower() for x in w},
    "BinaryEquals": lambda v, w: v in w,
    "IpAddress": _ip,
    "NotIpAddress": _not(_ip),
}
