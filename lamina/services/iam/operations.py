"""The IAM operations Lamina serves, over :class:`IamStore`.

Each operation takes the request's form parameters (``RoleName=...&PolicyDocument=...``),
validates them with IAM's constraints and returns the result's fields, which
:mod:`lamina.services.protocol.query_service` renders. Policy documents are parsed when stored, so a bad one
is refused with ``MalformedPolicyDocument`` and evaluation never meets one.
"""

from __future__ import annotations

import re
import secrets
import string
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from lamina.services.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    IamValidationError,
    LimitExceeded,
    NoSuchEntity,
)
from lamina.services.iam.managed import AWS_POLICY_PREFIX, managed_policies, managed_policy
from lamina.services.iam.policy import Policy, parse_policy
from lamina.services.iam.store import CustomerPolicy, IamStore, Role

Params = Mapping[str, str]
Result = dict[str, Any]

_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$")
_PATH = re.compile(r"^(/|/[\x21-\x7e]*/)$")
MAX_ATTACHED = 10
_ID_ALPHABET = string.ascii_uppercase + string.digits


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ID_ALPHABET) for _ in range(17))


def _required(params: Params, key: str) -> str:
    value = params.get(key)
    if not value:
        raise IamValidationError(
            f"1 validation error detected: Value null at '{key[0].lower() + key[1:]}' failed to satisfy constraint: Member must not be null"
        )
    return value


def _name(params: Params, key: str, pattern: re.Pattern[str] = _NAME) -> str:
    value = _required(params, key)
    if not pattern.match(value):
        raise IamValidationError(
            f"1 validation error detected: Value '{value}' at '{key[0].lower() + key[1:]}' "
            f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
            r"[\w+=,.@-]+"
        )
    return value


def _path(params: Params) -> str:
    path = params.get("Path", "/")
    if not _PATH.match(path) or len(path) > 512:
        raise IamValidationError(
            "The specified value for path is invalid. It must begin and end with / and contain "
            "only alphanumeric characters and/or / characters."
        )
    return path


def _tags(params: Params) -> dict[str, str]:
    """``Tags.member.N.Key`` / ``Tags.member.N.Value``."""
    out: dict[str, str] = {}
    n = 1
    while f"Tags.member.{n}.Key" in params:
        out[params[f"Tags.member.{n}.Key"]] = params.get(f"Tags.member.{n}.Value", "")
        n += 1
    return out


def _members(params: Params, key: str) -> list[str]:
    out: list[str] = []
    n = 1
    while f"{key}.member.{n}" in params:
        out.append(params[f"{key}.member.{n}"])
        n += 1
    return out


def _page(items: list[Any], params: Params) -> tuple[list[Any], Result]:
    """IAM's Marker/MaxItems paging (default 100)."""
    try:
        max_items = int(params.get("MaxItems", "100"))
    except ValueError:
        raise IamValidationError("MaxItems must be a number") from None
    if not 1 <= max_items <= 1000:
        raise IamValidationError("MaxItems must be between 1 and 1000")
    start = int(params["Marker"]) if params.get("Marker", "").isdigit() else 0
    chunk = items[start : start + max_items]
    more = start + max_items < len(items)
    extra: Result = {"IsTruncated": more}
    if more:
        extra["Marker"] = str(start + max_items)
    return chunk, extra


class IamOperations:
    """IAM's role and policy API; ``account`` is Lamina's account id."""

    def __init__(self, store: IamStore, account: str) -> None:
        self.store = store
        self.account = account

    def operations(self) -> dict[str, Callable[[Params], Result]]:
        return {
            name: getattr(self, _snake(name))
            for name in (
                "CreateRole",
                "GetRole",
                "DeleteRole",
                "ListRoles",
                "UpdateRole",
                "UpdateAssumeRolePolicy",
                "TagRole",
                "UntagRole",
                "ListRoleTags",
                "PutRolePolicy",
                "GetRolePolicy",
                "DeleteRolePolicy",
                "ListRolePolicies",
                "AttachRolePolicy",
                "DetachRolePolicy",
                "ListAttachedRolePolicies",
                "ListInstanceProfilesForRole",
                "CreatePolicy",
                "GetPolicy",
                "GetPolicyVersion",
                "ListPolicyVersions",
                "DeletePolicy",
                "ListPolicies",
            )
        }

    # -- roles ------------------------------------------------------------------------------
    def role_arn(self, role: Role) -> str:
        return f"arn:aws:iam::{self.account}:role{role.path}{role.name}"

    def _role(self, name: str) -> Role:
        role = self.store.roles.get(name)
        if role is None:
            raise NoSuchEntity(f"The role with name {name} cannot be found.")
        return role

    def _role_fields(self, role: Role) -> Result:
        return {
            "Path": role.path,
            "RoleName": role.name,
            "RoleId": role.role_id,
            "Arn": self.role_arn(role),
            "CreateDate": _iso(role.created),
            # IAM answers with the trust policy URL-encoded; every SDK decodes it.
            "AssumeRolePolicyDocument": quote(role.trust_policy, safe=""),
            "Description": role.description or None,
            "MaxSessionDuration": role.max_session_s,
            "Tags": [{"Key": k, "Value": v} for k, v in role.tags.items()] or None,
        }

    def create_role(self, params: Params) -> Result:
        name = _name(params, "RoleName")
        trust = _required(params, "AssumeRolePolicyDocument")
        parse_policy(trust, resource_policy=True)
        if any(existing.lower() == name.lower() for existing in self.store.roles):
            raise EntityAlreadyExists(f"Role with name {name} already exists.")
        max_s = int(params.get("MaxSessionDuration", "3600"))
        if not 3600 <= max_s <= 43200:
            raise IamValidationError("MaxSessionDuration must be between 3600 and 43200 seconds")
        role = Role(
            name=name,
            role_id=_new_id("AROA"),
            path=_path(params),
            trust_policy=trust,
            description=params.get("Description", ""),
            max_session_s=max_s,
            created=time.time(),
            tags=_tags(params),
        )
        self.store.put_role(role)
        return {"Role": self._role_fields(role)}

    def get_role(self, params: Params) -> Result:
        return {"Role": self._role_fields(self._role(_name(params, "RoleName")))}

    def delete_role(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        if role.inline or role.attached:
            raise DeleteConflict("Cannot delete entity, must delete policies first.")
        self.store.delete_role(role.name)
        return {}

    def list_roles(self, params: Params) -> Result:
        prefix = params.get("PathPrefix", "/")
        roles = sorted(
            (r for r in self.store.roles.values() if r.path.startswith(prefix)),
            key=lambda r: r.name,
        )
        chunk, extra = _page(roles, params)
        return {"Roles": [self._role_fields(r) for r in chunk], **extra}

    def update_role(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        changed = role
        if "Description" in params:
            changed = replace(changed, description=params["Description"])
        if "MaxSessionDuration" in params:
            changed = replace(changed, max_session_s=int(params["MaxSessionDuration"]))
        self.store.put_role(changed)
        return {}

    def update_assume_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        document = _required(params, "PolicyDocument")
        parse_policy(document, resource_policy=True)
        self.store.put_role(replace(role, trust_policy=document))
        return {}

    def tag_role(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        self.store.put_role(replace(role, tags={**role.tags, **_tags(params)}))
        return {}

    def untag_role(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        gone = set(_members(params, "TagKeys"))
        self.store.put_role(
            replace(role, tags={k: v for k, v in role.tags.items() if k not in gone})
        )
        return {}

    def list_role_tags(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        return {
            "Tags": [{"Key": k, "Value": v} for k, v in role.tags.items()],
            "IsTruncated": False,
        }

    # -- inline policies --------------------------------------------------------------------
    def put_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        name = _name(params, "PolicyName", _POLICY_NAME)
        policy = parse_policy(_required(params, "PolicyDocument"))
        self.store.put_inline(role.name, name, policy)
        return {}

    def get_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        name = _name(params, "PolicyName", _POLICY_NAME)
        policy = role.inline.get(name)
        if policy is None:
            raise NoSuchEntity(f"The role policy with name {name} cannot be found.")
        return {
            "RoleName": role.name,
            "PolicyName": name,
            "PolicyDocument": quote(policy.document, safe=""),
        }

    def delete_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        name = _name(params, "PolicyName", _POLICY_NAME)
        if name not in role.inline:
            raise NoSuchEntity(f"The role policy with name {name} cannot be found.")
        self.store.delete_inline(role.name, name)
        return {}

    def list_role_policies(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        chunk, extra = _page(sorted(role.inline), params)
        return {"PolicyNames": chunk, **extra}

    # -- attached (managed) policies --------------------------------------------------------
    def _managed(self, arn: str) -> tuple[str, Policy]:
        """(name, policy) of an AWS managed or customer managed policy ARN."""
        aws = managed_policy(arn)
        if aws is not None:
            return aws.name, aws.policy
        mine = self.store.policies.get(arn)
        if mine is not None:
            return mine.name, mine.policy
        raise NoSuchEntity(f"Policy {arn} does not exist or is not attachable.")

    def attach_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        arn = _required(params, "PolicyArn")
        self._managed(arn)
        if arn not in role.attached and len(role.attached) >= MAX_ATTACHED:
            raise LimitExceeded(f"Cannot exceed quota for PoliciesPerRole: {MAX_ATTACHED}")
        self.store.attach(role.name, arn)
        return {}

    def detach_role_policy(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        arn = _required(params, "PolicyArn")
        if arn not in role.attached:
            raise NoSuchEntity(f"Policy {arn} was not found.")
        self.store.detach(role.name, arn)
        return {}

    def list_attached_role_policies(self, params: Params) -> Result:
        role = self._role(_name(params, "RoleName"))
        attached = [{"PolicyName": self._managed(a)[0], "PolicyArn": a} for a in role.attached]
        chunk, extra = _page(attached, params)
        return {"AttachedPolicies": chunk, **extra}

    def list_instance_profiles_for_role(self, params: Params) -> Result:
        # Lamina has no EC2 instance profiles; Terraform asks before deleting a role.
        self._role(_name(params, "RoleName"))
        return {"InstanceProfiles": [], "IsTruncated": False}

    # -- customer managed policies ----------------------------------------------------------
    def _policy_fields(self, policy: CustomerPolicy) -> Result:
        attached = sum(policy.arn in r.attached for r in self.store.roles.values())
        return {
            "PolicyName": policy.name,
            "PolicyId": policy.policy_id,
            "Arn": policy.arn,
            "Path": policy.path,
            "DefaultVersionId": "v1",
            "AttachmentCount": attached,
            "IsAttachable": True,
            "Description": policy.description or None,
            "CreateDate": _iso(policy.created),
            "UpdateDate": _iso(policy.created),
        }

    def _customer(self, arn: str) -> CustomerPolicy:
        policy = self.store.policies.get(arn)
        if policy is None:
            raise NoSuchEntity(f"Policy {arn} was not found.")
        return policy

    def create_policy(self, params: Params) -> Result:
        name = _name(params, "PolicyName", _POLICY_NAME)
        path = _path(params)
        arn = f"arn:aws:iam::{self.account}:policy{path}{name}"
        if arn in self.store.policies:
            raise EntityAlreadyExists(
                f"A policy called {name} already exists. Duplicate names are not allowed."
            )
        policy = CustomerPolicy(
            arn=arn,
            name=name,
            policy_id=_new_id("ANPA"),
            path=path,
            policy=parse_policy(_required(params, "PolicyDocument")),
            description=params.get("Description", ""),
            created=time.time(),
        )
        self.store.put_policy(policy)
        return {"Policy": self._policy_fields(policy)}

    def get_policy(self, params: Params) -> Result:
        arn = _required(params, "PolicyArn")
        aws = managed_policy(arn)
        if aws is not None:
            return {
                "Policy": {
                    "PolicyName": aws.name,
                    "Arn": arn,
                    "Path": aws.path,
                    "DefaultVersionId": "v1",
                    "IsAttachable": True,
                }
            }
        return {"Policy": self._policy_fields(self._customer(arn))}

    def get_policy_version(self, params: Params) -> Result:
        arn = _required(params, "PolicyArn")
        if params.get("VersionId", "v1") != "v1":
            raise NoSuchEntity(f"Policy {arn} version {params.get('VersionId')} does not exist.")
        _, policy = self._managed(arn)
        return {
            "PolicyVersion": {
                "Document": quote(policy.document, safe=""),
                "VersionId": "v1",
                "IsDefaultVersion": True,
            }
        }

    def list_policy_versions(self, params: Params) -> Result:
        self._managed(_required(params, "PolicyArn"))
        return {"Versions": [{"VersionId": "v1", "IsDefaultVersion": True}], "IsTruncated": False}

    def delete_policy(self, params: Params) -> Result:
        policy = self._customer(_required(params, "PolicyArn"))
        if any(policy.arn in r.attached for r in self.store.roles.values()):
            raise DeleteConflict("Cannot delete a policy attached to entities.")
        self.store.delete_policy(policy.arn)
        return {}

    def list_policies(self, params: Params) -> Result:
        scope = params.get("Scope", "All")
        mine = [self._policy_fields(p) for p in self.store.policies.values()]
        aws = [
            {"PolicyName": m.name, "Arn": m.arn, "Path": m.path, "DefaultVersionId": "v1"}
            for m in managed_policies().values()
        ]
        items = mine if scope == "Local" else aws if scope == "AWS" else mine + aws
        chunk, extra = _page(sorted(items, key=lambda p: p["PolicyName"]), params)
        return {"Policies": chunk, **extra}

    # -- what the authoriser reads ----------------------------------------------------------
    def role_by_arn(self, arn: str) -> Role | None:
        """The role an ARN names (``arn:aws:iam::<acct>:role[/path/]<name>``), if it exists."""
        m = re.match(r"^arn:aws:iam::(\d{12}):role/(?:.*/)?([\w+=,.@-]+)$", arn)
        if not m or m.group(1) != self.account:
            return None
        return self.store.roles.get(m.group(2))

    def policies_of(self, role: Role) -> list[Policy]:
        """Every identity policy of a role: inline ones, then attached managed ones."""
        out = list(role.inline.values())
        for arn in role.attached:
            try:
                out.append(self._managed(arn)[1])
            except NoSuchEntity:
                continue  # a customer policy deleted while attached grants nothing
        return out


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


__all__ = ["AWS_POLICY_PREFIX", "IamOperations"]
