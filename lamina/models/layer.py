"""Layers: published layer versions, the layers a function uses, and their permissions.

A layer version is immutable once published: its archive lives in the code store under
its SHA-256 like any package, and a function keeps the digest of each layer it was
configured with, so deleting a layer version later never breaks a function (as on Lambda,
where a function keeps its copy).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from lamina.errors import InvalidParameterValue

MAX_LAYERS = 5  # per function
MAX_COMPATIBLE_RUNTIMES = 15
LICENSE_MAX = 512
_RUNTIME = re.compile(r"^[a-z0-9.]{1,40}$")
_STATEMENT_ID = re.compile(r"^([a-zA-Z0-9-_]+)$")
_PRINCIPAL = re.compile(r"^(\d{12}|\*|arn:(aws[a-zA-Z-]*):iam::\d{12}:root)$")
_ORG_ID = re.compile(r"^o-[a-z0-9]{10,32}$")


@dataclass(frozen=True, slots=True)
class FunctionLayer:
    """One entry of a function's ``Layers``: the version ARN and the archive it named."""

    arn: str
    code_sha256: str  # hex digest of the layer's zip in the code store
    code_size: int
    unzipped_size: int = 0


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """One published version of a layer."""

    name: str
    version: int
    code_sha256: str  # hex
    code_size: int
    unzipped_size: int
    created_date: str
    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LayerVersion:
        data = json.loads(text)
        data["compatible_runtimes"] = tuple(data.get("compatible_runtimes", ()))
        data["compatible_architectures"] = tuple(data.get("compatible_architectures", ()))
        return cls(**data)

    def as_function_layer(self, arn: str) -> FunctionLayer:
        return FunctionLayer(arn, self.code_sha256, self.code_size, self.unzipped_size)

    def matches(self, runtime: str | None, architecture: str | None) -> bool:
        """ListLayers' filters: a runtime and an architecture the version declares."""
        if runtime and runtime not in self.compatible_runtimes:
            return False
        return not (architecture and architecture not in self.compatible_architectures)


@dataclass(frozen=True, slots=True)
class LayerPermission:
    """One statement of a layer version's policy (AddLayerVersionPermission)."""

    statement_id: str
    principal: str
    action: str = "lambda:GetLayerVersion"
    organization_id: str = ""

    def statement(self, resource_arn: str) -> dict[str, object]:
        """The IAM statement Lambda shows in GetLayerVersionPolicy."""
        principal: object = {"AWS": "*"} if self.principal == "*" else {"AWS": self.principal}
        out: dict[str, object] = {
            "Sid": self.statement_id,
            "Effect": "Allow",
            "Principal": principal,
            "Action": self.action,
            "Resource": resource_arn,
        }
        if self.organization_id:
            out["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": self.organization_id}}
        return out

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> LayerPermission:
        return cls(**json.loads(text))


@dataclass(frozen=True, slots=True)
class PublishRequest:
    """PublishLayerVersion's body, checked (the archive comes separately)."""

    description: str = ""
    compatible_runtimes: tuple[str, ...] = ()
    compatible_architectures: tuple[str, ...] = ()
    license_info: str = ""


# -- validation ----------------------------------------------------------------------------
def validate_compatible_runtimes(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidParameterValue("CompatibleRuntimes must be a list of runtime names")
    if len(value) > MAX_COMPATIBLE_RUNTIMES:
        raise InvalidParameterValue.constraint(
            "compatibleRuntimes",
            f"Member must have length less than or equal to {MAX_COMPATIBLE_RUNTIMES}",
            value,
        )
    for runtime in value:
        if not _RUNTIME.match(runtime):
            raise InvalidParameterValue.constraint(
                "compatibleRuntimes", "Member must satisfy enum value set of runtimes", runtime
            )
    return tuple(value)


def validate_compatible_architectures(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > 2:
        raise InvalidParameterValue.constraint(
            "compatibleArchitectures", "Member must have length less than or equal to 2", value
        )
    for arch in value:
        if arch not in ("x86_64", "arm64"):
            raise InvalidParameterValue.constraint(
                "compatibleArchitectures",
                "Member must satisfy enum value set: [x86_64, arm64]",
                f"[{arch}]",
            )
    return tuple(value)


def validate_license(value: object) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > LICENSE_MAX:
        raise InvalidParameterValue.constraint(
            "licenseInfo", f"Member must have length less than or equal to {LICENSE_MAX}", value
        )
    return value


def validate_permission(
    statement_id: object, action: object, principal: object, organization_id: object
) -> LayerPermission:
    """AddLayerVersionPermission's fields, with Lambda's validation messages."""
    if not isinstance(statement_id, str) or not 1 <= len(statement_id) <= 100:
        raise InvalidParameterValue.constraint(
            "statementId", "Member must have length between 1 and 100", statement_id
        )
    if not _STATEMENT_ID.match(statement_id):
        raise InvalidParameterValue.constraint(
            "statementId",
            "Member must satisfy regular expression pattern: ([a-zA-Z0-9-_]+)",
            statement_id,
        )
    if action != "lambda:GetLayerVersion":
        raise InvalidParameterValue.constraint(
            "action",
            "Member must satisfy regular expression pattern: lambda:GetLayerVersion",
            action,
        )
    if not isinstance(principal, str) or not _PRINCIPAL.match(principal):
        raise InvalidParameterValue.constraint(
            "principal",
            "Member must satisfy regular expression pattern: "
            "\\d{12}|\\*|arn:(aws[a-zA-Z-]*):iam::\\d{12}:root",
            principal,
        )
    org = "" if organization_id is None else organization_id
    if not isinstance(org, str) or (org and not _ORG_ID.match(org)):
        raise InvalidParameterValue.constraint(
            "organizationId",
            "Member must satisfy regular expression pattern: o-[a-z0-9]{10,32}",
            organization_id,
        )
    if org and principal != "*":
        raise InvalidParameterValue("OrganizationId can only be specified when Principal is '*'.")
    return LayerPermission(statement_id, principal, action, org)
