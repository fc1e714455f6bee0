"""Who may do what: callers, and the decision for one call (pure over the IAM store).

Every signed request names a caller. The operator (a key from ``LAMINA_ACCESS_KEYS``, or
anyone in dev mode) may do everything, as an account's root may. A function's role session may
do what its role's policies allow — and, for a resource with a resource policy (a function's
AddPermission statements), what that policy grants it. In dev mode a role that does not exist
is treated as allowing everything, and that is said once in the log, so templates that name a
role Lamina never saw keep working while a role that does exist is enforced as written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from lamina.errors import AccessDenied
from lamina.services.iam.credentials import Session
from lamina.services.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.policy import Policy

log = logging.getLogger("lamina.iam")


@dataclass(frozen=True, slots=True)
class Operator:
    """The account's owner: a configured access key, or any caller in dev mode."""

    access_key_id: str


@dataclass(frozen=True, slots=True)
class RoleCaller:
    """A function signing with its execution role's temporary credentials."""

    session: Session


@dataclass(frozen=True, slots=True)
class ServiceCaller:
    """An AWS service principal acting for a source (S3 notifications, SQS mappings, ...)."""

    service: str  # "s3.amazonaws.com"
    source_arn: str | None = None
    source_account: str | None = None


Caller = Operator | RoleCaller | ServiceCaller


@dataclass
class Authorizer:
    iam: IamOperations
    account: str
    dev_mode: bool
    _warned_roles: set[str] = field(default_factory=set)

    def decide(
        self,
        caller: Caller,
        action: str,
        resource: str,
        *,
        resource_policies: Iterable[Policy] = (),
        context: Mapping[str, tuple[str, ...]] | None = None,
    ) -> Decision:
        if isinstance(caller, Operator):
            return Decision.ALLOW
        keys = dict(context or {})
        if isinstance(caller, ServiceCaller):
            if caller.source_arn:
                keys.setdefault("aws:sourcearn", (caller.source_arn,))
            if caller.source_account:
                keys.setdefault("aws:sourceaccount", (caller.source_account,))
            request = AccessRequest(action, resource, principal=caller.service, context=keys)
            return evaluate(request, resource=resource_policies)
        session = caller.session
        keys.setdefault("aws:principalarn", (session.role_arn,))
        keys.setdefault("lambda:sourcefunctionarn", (session.function_arn,))
        request = AccessRequest(
            action, resource, principal=session.principal, account=self.account, context=keys
        )
        role = self.iam.role_by_arn(session.role_arn)
        if role is None:
            if self.dev_mode:
                self.unknown_role(session.role_arn)
                # Allow-all stands in for the role's policies; a resource's Deny still wins.
                denied = evaluate(request, resource=resource_policies)
                return denied if denied is Decision.EXPLICIT_DENY else Decision.ALLOW
            return evaluate(request, resource=resource_policies)
        return evaluate(request, self.iam.policies_of(role), resource_policies)

    def unknown_role(self, role_arn: str) -> None:
        """Say once per role (dev mode) that a role which does not exist allows anything."""
        if role_arn in self._warned_roles:
            return
        self._warned_roles.add(role_arn)
        log.warning(
            "role %s does not exist: in dev mode its functions may call anything "
            "(create the role to have its policies enforced)",
            role_arn,
        )

    def require(
        self,
        caller: Caller,
        action: str,
        resource: str,
        *,
        resource_policies: Iterable[Policy] = (),
        context: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        """Raise :class:`AccessDenied` with AWS's message unless ``caller`` may do it."""
        policies = tuple(resource_policies)
        decision = self.decide(
            caller, action, resource, resource_policies=policies, context=context
        )
        if decision.is_allowed():
            return
        in_resource = decision is Decision.EXPLICIT_DENY and bool(policies)
        if in_resource:
            # Which policy denied, for AWS's wording: the resource's, if it denies alone.
            alone = self.decide(caller, action, resource, resource_policies=(), context=context)
            in_resource = alone is not Decision.EXPLICIT_DENY
        raise AccessDenied(
            denied_message(caller, action, resource, decision, resource_policy=in_resource)
        )


def principal_of(caller: Caller) -> str:
    if isinstance(caller, RoleCaller):
        return caller.session.principal
    if isinstance(caller, ServiceCaller):
        return caller.service
    return "root"


def denied_message(
    caller: Caller,
    action: str,
    resource: str,
    decision: Decision,
    *,
    resource_policy: bool = False,
) -> str:
    """AWS's wording for a denied call (``resource_policy``: the Deny was the resource's)."""
    if decision is not Decision.EXPLICIT_DENY:
        reason = f"because no identity-based policy allows the {action} action"
    elif resource_policy:
        reason = "with an explicit deny in a resource-based policy"
    else:
        reason = "with an explicit deny in an identity-based policy"
    return (
        f"User: {principal_of(caller)} is not authorized to perform: {action} "
        f"on resource: {resource} {reason}"
    )
