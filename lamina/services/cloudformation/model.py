"""A stack as Lamina keeps it, and the record ``lamina up`` sends after applying (pure).

``lamina up`` does the deploying on the client; afterwards it tells the server what the stack
now holds (``PUT /lamina/v1/stacks/<name>``, a JSON :class:`StackRecord`), so CloudFormation's
read API (DescribeStacks, DescribeStackResources, ...) answers as it would on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from lamina.errors import ApiError

CREATE_COMPLETE = "CREATE_COMPLETE"
UPDATE_COMPLETE = "UPDATE_COMPLETE"
DELETE_COMPLETE = "DELETE_COMPLETE"
REVIEW_IN_PROGRESS = "REVIEW_IN_PROGRESS"
STACK_STATUSES = frozenset(
    {
        "CREATE_IN_PROGRESS",
        "CREATE_FAILED",
        CREATE_COMPLETE,
        "ROLLBACK_IN_PROGRESS",
        "ROLLBACK_FAILED",
        "ROLLBACK_COMPLETE",
        "DELETE_IN_PROGRESS",
        "DELETE_FAILED",
        DELETE_COMPLETE,
        "UPDATE_IN_PROGRESS",
        "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
        UPDATE_COMPLETE,
        "UPDATE_FAILED",
        "UPDATE_ROLLBACK_IN_PROGRESS",
        "UPDATE_ROLLBACK_FAILED",
        "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS",
        "UPDATE_ROLLBACK_COMPLETE",
        "REVIEW_IN_PROGRESS",
        "IMPORT_IN_PROGRESS",
        "IMPORT_COMPLETE",
        "IMPORT_ROLLBACK_IN_PROGRESS",
        "IMPORT_ROLLBACK_FAILED",
        "IMPORT_ROLLBACK_COMPLETE",
    }
)
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
MAX_TEMPLATE_BYTES = 1024 * 1024  # CloudFormation's limit for a template kept in S3

# SAM resource types → the type CloudFormation lists after SAM's transform (its primary one).
PROCESSED_TYPES = {
    "AWS::Serverless::Function": "AWS::Lambda::Function",
    "AWS::Serverless::LayerVersion": "AWS::Lambda::LayerVersion",
    "AWS::Serverless::SimpleTable": "AWS::DynamoDB::Table",
    "AWS::Serverless::StateMachine": "AWS::StepFunctions::StateMachine",
    "AWS::Serverless::Api": "AWS::ApiGateway::RestApi",
    "AWS::Serverless::HttpApi": "AWS::ApiGatewayV2::Api",
    "AWS::Serverless::Application": "AWS::CloudFormation::Stack",
    "AWS::Serverless::Connector": "AWS::IAM::Policy",
    "AWS::Serverless::GraphQLApi": "AWS::AppSync::GraphQLApi",
}


class StackValidationError(ApiError):
    """Raised for a bad request or an unknown stack (CloudFormation's ValidationError)."""

    error_type = "ValidationError"
    status = 400


@dataclass(frozen=True, slots=True)
class Output:
    key: str
    value: str
    description: str = ""
    export_name: str = ""


@dataclass(frozen=True, slots=True)
class DeclaredParameter:
    """A template parameter as GetTemplateSummary describes it."""

    key: str
    type: str = "String"
    default: str | None = None
    description: str = ""
    no_echo: bool = False


@dataclass(frozen=True, slots=True)
class ResourceRecord:
    logical_id: str
    physical_id: str
    type: str
    failed_reason: str = ""  # not empty: the resource failed to deploy, and why
    changed: bool = True  # False: this `up` left it as it was (its status stays). Not stored.


@dataclass(frozen=True, slots=True)
class StackRecord:
    """What one ``lamina up`` left the stack holding."""

    name: str
    stack_id: str
    template: str
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    declared: tuple[DeclaredParameter, ...] = ()
    outputs: tuple[Output, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    resources: tuple[ResourceRecord, ...] = ()
    # Acknowledged by the change set that deployed it; None: recorded by ``lamina up``.
    capabilities: tuple[str, ...] | None = None
    # False: this ``up`` changed nothing; an unchanged record then leaves the stack as it
    # was (CloudFormation: "No updates are to be performed"). Not stored.
    changed: bool = True


@dataclass(frozen=True, slots=True)
class Stack:
    """One stack as the store holds it (times: seconds since the epoch)."""

    record: StackRecord
    status: str
    created: float
    updated: float | None
    deleted: float | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    stack_id: str
    stack_name: str
    logical_id: str
    physical_id: str
    type: str
    status: str
    updated: float
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    event_id: str
    stack_id: str
    stack_name: str
    logical_id: str
    physical_id: str
    type: str
    status: str
    timestamp: float
    reason: str = ""


def check_stack_name(name: str) -> str:
    if not _STACK_NAME.match(name):
        raise StackValidationError(
            f"1 validation error detected: Value '{name}' at 'stackName' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: "
            "[a-zA-Z][-a-zA-Z0-9]*"
        )
    return name


def _text(doc: dict[str, Any], key: str, *, required: bool = False) -> str:
    value = doc.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise StackValidationError(f"{key} must be a non-empty string")
    return value


def _strings(doc: dict[str, Any], key: str) -> dict[str, str]:
    value = doc.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise StackValidationError(f"{key} must map strings to strings")
    return dict(value)


def _objects(doc: dict[str, Any], key: str) -> list[dict[str, Any]]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise StackValidationError(f"{key} must be a list of objects")
    return value


def parse_record(name: str, doc: object) -> StackRecord:
    """The JSON body of ``PUT /lamina/v1/stacks/<name>``, checked."""
    if not isinstance(doc, dict):
        raise StackValidationError("the stack record must be a JSON object")
    template = _text(doc, "TemplateBody")
    if len(template.encode()) > MAX_TEMPLATE_BYTES:
        raise StackValidationError(f"TemplateBody must be at most {MAX_TEMPLATE_BYTES} bytes long")
    return StackRecord(
        name=check_stack_name(name),
        stack_id=_text(doc, "StackId", required=True),
        template=template,
        description=_text(doc, "Description"),
        parameters=_strings(doc, "Parameters"),
        declared=tuple(
            DeclaredParameter(
                key=_text(p, "ParameterKey", required=True),
                type=_text(p, "ParameterType") or "String",
                default=p["DefaultValue"] if isinstance(p.get("DefaultValue"), str) else None,
                description=_text(p, "Description"),
                no_echo=p.get("NoEcho") is True,
            )
            for p in _objects(doc, "DeclaredParameters")
        ),
        outputs=tuple(
            Output(
                key=_text(o, "OutputKey", required=True),
                value=_text(o, "OutputValue"),
                description=_text(o, "Description"),
                export_name=_text(o, "ExportName"),
            )
            for o in _objects(doc, "Outputs")
        ),
        tags=_strings(doc, "Tags"),
        resources=tuple(
            ResourceRecord(
                logical_id=_text(r, "LogicalResourceId", required=True),
                physical_id=_text(r, "PhysicalResourceId"),
                type=_text(r, "ResourceType", required=True),
                failed_reason=_text(r, "ResourceStatusReason"),
                changed=r.get("Changed", True) is not False,
            )
            for r in _objects(doc, "Resources")
        ),
        changed=doc.get("Changed", True) is not False,
        capabilities=_capabilities(doc),
    )


def _capabilities(doc: dict[str, Any]) -> tuple[str, ...] | None:
    value = doc.get("Capabilities")
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(c, str) for c in value):
        raise StackValidationError("Capabilities must be a list of strings")
    return tuple(value)


def record_doc(record: StackRecord) -> dict[str, Any]:
    """``record`` as :func:`parse_record` reads it (how it is stored; it travels with
    ``Changed`` as well)."""
    extra = {} if record.capabilities is None else {"Capabilities": list(record.capabilities)}
    return {
        **extra,
        "StackId": record.stack_id,
        "TemplateBody": record.template,
        "Description": record.description,
        "Parameters": record.parameters,
        "DeclaredParameters": [
            {
                "ParameterKey": p.key,
                "ParameterType": p.type,
                "DefaultValue": p.default,
                "Description": p.description,
                "NoEcho": p.no_echo,
            }
            for p in record.declared
        ],
        "Outputs": [
            {
                "OutputKey": o.key,
                "OutputValue": o.value,
                "Description": o.description,
                "ExportName": o.export_name,
            }
            for o in record.outputs
        ],
        "Tags": record.tags,
        "Resources": [
            {
                "LogicalResourceId": r.logical_id,
                "PhysicalResourceId": r.physical_id,
                "ResourceType": r.type,
                "ResourceStatusReason": r.failed_reason,
            }
            for r in record.resources
        ],
    }
