"""A function's resource-based policy: AddPermission's request turned into IAM statements (pure).

Lambda keeps one policy per function, version or alias. Each AddPermission adds one
statement in a fixed shape: ``Principal`` is ``{"Service": ...}`` for an AWS service,
``{"AWS": "arn:aws:iam::<account>:root"}`` for an account id, ``{"AWS": <arn>}`` for an IAM
ARN, or ``"*"``; ``SourceArn`` becomes ``ArnLike AWS:SourceArn``, ``SourceAccount``
``StringEquals AWS:SourceAccount`` (and likewise for the organisation, the event source
token and a function URL's auth type). Clients such as Terraform read these keys back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from lamina.errors import ApiError, InvalidParameterValue, ResourceNotFound
from lamina.services.iam.policy import Policy, parse_policy

MAX_POLICY_BYTES = 20_480  # Lambda's limit on a function's whole policy
_SID = re.compile(r"^[a-zA-Z0-9\-_.]{1,100}$")
_ACTION = re.compile(r"^(lambda:[*]|lambda:[a-zA-Z]+|[*])$")
_ACCOUNT = re.compile(r"^\d{12}$")
_URL_AUTH = ("NONE", "AWS_IAM")


class PolicyLengthExceeded(ApiError):
    """Raised when a statement would make the function's policy larger than 20 KB."""

    error_type = "PolicyLengthExceededException"
    status = 400


def _validation(value: object, field: str, constraint: str) -> InvalidParameterValue:
    return InvalidParameterValue(
        f"1 validation error detected: Value '{value}' at '{field}' failed to satisfy "
        f"constraint: {constraint}"
    )


def _principal(principal: str) -> str | dict[str, str]:
    if principal == "*":
        return "*"
    if _ACCOUNT.match(principal):
        return {"AWS": f"arn:aws:iam::{principal}:root"}
    if principal.startswith("arn:"):
        return {"AWS": principal}
    return {"Service": principal}


def permission_statement(body: Mapping[str, Any], resource_arn: str) -> dict[str, Any]:
    """The statement AddPermission's ``body`` adds to the policy of ``resource_arn``."""
    sid = body.get("StatementId")
    if not isinstance(sid, str) or not _SID.match(sid):
        raise _validation(
            sid, "statementId", "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_.]+)"
        )
    action = body.get("Action")
    if not isinstance(action, str) or not _ACTION.match(action):
        raise _validation(
            action,
            "action",
            "Member must satisfy regular expression pattern: (lambda:[*]|lambda:[a-zA-Z]+|[*])",
        )
    principal = body.get("Principal")
    if not isinstance(principal, str) or not principal or any(c.isspace() for c in principal):
        raise _validation(
            principal, "principal", "Member must satisfy regular expression pattern: [^\\s]+"
        )
    conditions: dict[str, dict[str, str]] = {}

    def condition(operator: str, key: str, field: str) -> None:
        value = body.get(field)
        if value is None:
            return
        if not isinstance(value, str) or not value:
            raise InvalidParameterValue(f"{field} must be a non-empty string")
        conditions.setdefault(operator, {})[key] = value

    condition("StringEquals", "AWS:SourceAccount", "SourceAccount")
    condition("StringEquals", "lambda:EventSourceToken", "EventSourceToken")
    condition("StringEquals", "aws:PrincipalOrgID", "PrincipalOrgID")
    url_auth = body.get("FunctionUrlAuthType")
    if url_auth is not None and url_auth not in _URL_AUTH:
        raise _validation(
            url_auth, "functionUrlAuthType", "Member must satisfy enum value set: [AWS_IAM, NONE]"
        )
    condition("StringEquals", "lambda:FunctionUrlAuthType", "FunctionUrlAuthType")
    condition("ArnLike", "AWS:SourceArn", "SourceArn")
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": _principal(principal),
        "Action": action,
        "Resource": resource_arn,
    }
    if conditions:
        statement["Condition"] = conditions
    return statement


def policy_document(statements: Sequence[Mapping[str, Any]]) -> str:
    """The policy GetPolicy shows, as Lambda renders it (compact JSON)."""
    doc = {"Version": "2012-10-17", "Id": "default", "Statement": list(statements)}
    return json.dumps(doc, separators=(",", ":"))


def checked_policy(statements: Sequence[Mapping[str, Any]]) -> Policy:
    """Parse the policy ``statements`` make (IAM's grammar), refusing one over 20 KB."""
    document = policy_document(statements)
    size = len(document.encode())
    if size > MAX_POLICY_BYTES:
        raise PolicyLengthExceeded(
            f"The final policy size ({size}) is bigger than the limit ({MAX_POLICY_BYTES})."
        )
    return parse_policy(document, resource_policy=True)


def no_policy() -> ResourceNotFound:
    return ResourceNotFound("The resource you requested does not exist.")
