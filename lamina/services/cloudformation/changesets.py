"""CloudFormation change sets as Lamina keeps them, and the decisions about them (pure).

A change set is what ``sam deploy`` and ``aws cloudformation deploy`` ask for: CreateChangeSet
(a template, parameter values, capabilities, tags) is computed on the server
(CREATE_PENDING → CREATE_COMPLETE, or FAILED with the reason), DescribeChangeSet lists what
it would do, ExecuteChangeSet deploys it (:mod:`.engine`).

Its ``Changes`` compare the new template's resources with the stack's current template, as
CloudFormation does: a resource only the new one has is ``Add``, one it lost is ``Remove``,
one whose definition differs (a new ``CodeUri``: ``sam package`` names artifacts by their MD5,
so new code is a new key), or any resource when a parameter value changed, is ``Modify``. An
UPDATE change set with no change at all FAILS with CloudFormation's own reason, which the SAM
CLI reads as "No changes to deploy".
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from lamina.errors import AwsServiceError
from lamina.services.cloudformation.model import StackValidationError
from lamina.services.protocol.query import indexed, tree

MAX_BODY_BYTES = 51_200  # CloudFormation's limit for TemplateBody
MAX_URL_TEMPLATE_BYTES = 1024 * 1024  # ... and for a template in S3 (TemplateURL)
MAX_CHANGE_SETS = 100  # kept per stack (CloudFormation's own cap is 1,000)
NO_CHANGES = (
    "The submitted information didn't contain changes. "
    "Submit different information to create a change set."
)
CAPABILITIES = frozenset({"CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"})
_NAME = re.compile(r"^[a-zA-Z][-a-zA-Z0-9]{0,127}$")

# Change set statuses (Status) and execution statuses (ExecutionStatus).
CREATE_PENDING = "CREATE_PENDING"
CREATE_COMPLETE = "CREATE_COMPLETE"
FAILED = "FAILED"
UNAVAILABLE = "UNAVAILABLE"
AVAILABLE = "AVAILABLE"
EXECUTE_IN_PROGRESS = "EXECUTE_IN_PROGRESS"
EXECUTE_COMPLETE = "EXECUTE_COMPLETE"
EXECUTE_FAILED = "EXECUTE_FAILED"


def not_found(name: str) -> AwsServiceError:
    return AwsServiceError(
        "ChangeSetNotFound", f"ChangeSet [{name}] does not exist", 404, "ChangeSetNotFound"
    )


def invalid_status(message: str) -> AwsServiceError:
    return AwsServiceError("InvalidChangeSetStatus", message, 400, "InvalidChangeSetStatus")


@dataclass(frozen=True, slots=True)
class ChangeSet:
    id: str  # arn:aws:cloudformation:<region>:<account>:changeSet/<name>/<uuid>
    name: str
    stack_id: str
    stack_name: str
    type: str  # CREATE or UPDATE
    created: float
    status: str = CREATE_PENDING
    execution_status: str = UNAVAILABLE
    reason: str = ""
    description: str = ""
    template: str = ""  # the body ("" until fetched from template_url)
    template_url: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    previous: tuple[str, ...] = ()  # parameters passed with UsePreviousValue
    capabilities: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    changes: tuple[dict[str, Any], ...] = ()  # ResourceChange members
    no_echo: tuple[str, ...] = ()  # parameters declared NoEcho: described as ****


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """CreateChangeSet's (or CreateStack's / UpdateStack's) parameters, checked."""

    stack_name: str
    name: str
    type: str
    template: str
    template_url: str
    use_previous_template: bool
    parameters: dict[str, str]
    previous: tuple[str, ...]
    capabilities: tuple[str, ...]
    tags: dict[str, str]
    description: str


def change_set_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:cloudformation:{region}:{account}:changeSet/{name}/{uuid.uuid4()}"


def check_name(name: str, what: str) -> str:
    if not _NAME.match(name):
        raise StackValidationError(
            f"1 validation error detected: Value '{name}' at '{what}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z][-a-zA-Z0-9]*"
        )
    return name


def _members(doc: dict[str, Any], key: str) -> list[Any]:
    """A list member's items (``Key.member.N``); an empty list is sent as ``Key=``."""
    node = doc.get(key)
    members = node.get("member") if isinstance(node, dict) else None
    return indexed(members) if isinstance(members, dict) else []


def parse_create(params: dict[str, str], *, change_set: bool = True) -> CreateRequest:
    """The request's members; raises StackValidationError as CloudFormation words it."""
    doc = tree(params)
    stack = params.get("StackName", "")
    if not stack:
        raise StackValidationError("StackName must be given")
    name = check_name(params.get("ChangeSetName", ""), "changeSetName") if change_set else ""
    kind = params.get("ChangeSetType", "UPDATE") if change_set else ""
    if change_set and kind not in ("CREATE", "UPDATE"):
        raise StackValidationError(
            f"ChangeSetType {kind} is not supported by Lamina (CREATE or UPDATE)"
        )
    body = params.get("TemplateBody", "")
    url = params.get("TemplateURL", "")
    previous_template = params.get("UsePreviousTemplate", "").lower() == "true"
    if sum(map(bool, (body, url, previous_template))) != 1:
        raise StackValidationError(
            "Specify exactly one of TemplateBody, TemplateURL or UsePreviousTemplate"
        )
    if len(body.encode()) > MAX_BODY_BYTES:
        raise StackValidationError(
            f"1 validation error detected: Value at 'templateBody' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_BODY_BYTES}"
        )
    values: dict[str, str] = {}
    previous: list[str] = []
    for member in _members(doc, "Parameters"):
        key = member.get("ParameterKey", "") if isinstance(member, dict) else ""
        if not key:
            raise StackValidationError("Each parameter must have a ParameterKey")
        if str(member.get("UsePreviousValue", "")).lower() == "true":
            previous.append(key)
        else:
            values[key] = str(member.get("ParameterValue", ""))
    capabilities = tuple(str(c) for c in _members(doc, "Capabilities"))
    unknown = sorted(set(capabilities) - CAPABILITIES)
    if unknown:
        raise StackValidationError(f"Capabilities {unknown} are not valid")
    tags = {}
    for member in _members(doc, "Tags"):
        if isinstance(member, dict) and member.get("Key"):
            tags[str(member["Key"])] = str(member.get("Value", ""))
    return CreateRequest(
        stack_name=stack,
        name=name,
        type=kind,
        template=body,
        template_url=url,
        use_previous_template=previous_template,
        parameters=values,
        previous=tuple(previous),
        capabilities=capabilities,
        tags=tags,
        description=params.get("Description", ""),
    )


def template_location(url: str, own_hosts: frozenset[str]) -> tuple[str, str]:
    """``TemplateURL`` → (bucket, key) in Lamina's S3; any other host is refused (the server
    fetches nothing from outside). Path-style, as the SAM CLI and the AWS CLI send it:
    ``http://127.0.0.1:9000/<bucket>/<key>``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.netloc.lower() not in own_hosts:
        raise StackValidationError(
            f"TemplateURL must point to an object in Lamina's own S3 "
            f"({' or '.join(sorted(f'http://{h}/<bucket>/<key>' for h in own_hosts))}), "
            f"not {url}"
        )
    bucket, key = url_object(url)
    if not bucket or not key:
        raise StackValidationError(f"TemplateURL {url} must name a bucket and a key")
    return bucket, key


def url_object(url: str) -> tuple[str, str]:
    """(bucket, key) of a path-style URL :func:`template_location` accepted."""
    bucket, _, key = unquote(urlsplit(url).path).lstrip("/").partition("/")
    return bucket, key


_MAKES_A_ROLE = ("AWS::Serverless::Function", "AWS::Serverless::StateMachine")


def required_capability(template: dict[str, Any]) -> str | None:
    """The capability a template needs acknowledged, as CloudFormation decides it: IAM
    resources, or a SAM function or state machine without ``Role`` (the transform makes
    one) need CAPABILITY_IAM; a role or user given a name, CAPABILITY_NAMED_IAM."""
    globals_ = template.get("Globals")
    global_fn = globals_.get("Function") if isinstance(globals_, dict) else None
    global_role = isinstance(global_fn, dict) and "Role" in global_fn
    role_makers = ("AWS::Serverless::StateMachine",) if global_role else _MAKES_A_ROLE
    needed: str | None = None
    for body in _resources(template).values():
        if not isinstance(body, dict):
            continue
        kind = str(body.get("Type"))
        props = body.get("Properties")
        props = props if isinstance(props, dict) else {}
        if kind.startswith("AWS::IAM::"):
            if any(k in props for k in ("RoleName", "UserName", "GroupName")):
                return "CAPABILITY_NAMED_IAM"
            needed = "CAPABILITY_IAM"
        elif kind in role_makers and "Role" not in props:
            needed = "CAPABILITY_IAM"
    return needed


def missing_capability(template: dict[str, Any], given: tuple[str, ...]) -> str:
    """CloudFormation's reason when ``given`` does not acknowledge what the template needs."""
    needed = required_capability(template)
    if needed is None or needed in given:
        return ""
    if needed == "CAPABILITY_IAM" and "CAPABILITY_NAMED_IAM" in given:
        return ""
    return f"Requires capabilities : [{needed}]"


# -- the changes ------------------------------------------------------------------------
def _resources(template: dict[str, Any]) -> dict[str, Any]:
    found = template.get("Resources")
    return found if isinstance(found, dict) else {}


def changes(
    before: dict[str, Any] | None,
    after: dict[str, Any],
    params_changed: bool,
    physical: dict[str, str],
    types: dict[str, str],
) -> list[dict[str, Any]]:
    """The ResourceChange members from the stack's template (``before``; None: a new stack)
    to ``after``; ``physical``: the stack's physical ids, ``types``: type as listed."""
    old = _resources(before or {})
    new = _resources(after)
    out: list[dict[str, Any]] = []

    def change(action: str, lid: str, body: Any) -> None:
        kind = body.get("Type") if isinstance(body, dict) else None
        member: dict[str, Any] = {
            "Action": action,
            "LogicalResourceId": lid,
            "PhysicalResourceId": physical.get(lid) if action != "Add" else None,
            "ResourceType": types.get(str(kind), str(kind)),
            "Scope": [],
            "Details": [],
        }
        if action == "Modify":
            member["Replacement"] = "Conditional"
            member["Scope"] = ["Properties"]
        out.append({"Type": "Resource", "ResourceChange": member})

    for lid in sorted(new):
        if lid not in old:
            change("Add", lid, new[lid])
        elif params_changed or _canonical(old[lid]) != _canonical(new[lid]):
            change("Modify", lid, new[lid])
    for lid in sorted(old):
        if lid not in new:
            change("Remove", lid, old[lid])
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def no_changes(
    before: dict[str, Any] | None, after: dict[str, Any], params_changed: bool, tags_changed: bool
) -> bool:
    """Nothing at all would change (CloudFormation then FAILS the change set)."""
    return (
        before is not None
        and not params_changed
        and not tags_changed
        and _canonical(before) == _canonical(after)
    )


# -- answers and storage --------------------------------------------------------------
def _params(cs: ChangeSet) -> list[dict[str, Any]]:
    return [
        {"ParameterKey": k, "ParameterValue": "****" if k in cs.no_echo else v}
        for k, v in sorted(cs.parameters.items())
    ]


def summary(cs: ChangeSet, created: str) -> dict[str, Any]:
    """A ListChangeSets ``Summaries`` member (``created``: its time, written)."""
    return {
        "StackId": cs.stack_id,
        "StackName": cs.stack_name,
        "ChangeSetId": cs.id,
        "ChangeSetName": cs.name,
        "ExecutionStatus": cs.execution_status,
        "Status": cs.status,
        "StatusReason": cs.reason or None,
        "CreationTime": created,
        "Description": cs.description or None,
        "IncludeNestedStacks": False,
    }


def described(cs: ChangeSet, created: str) -> dict[str, Any]:
    """DescribeChangeSet's result (one page: Lamina's stacks are small)."""
    return {
        "ChangeSetName": cs.name,
        "ChangeSetId": cs.id,
        "StackId": cs.stack_id,
        "StackName": cs.stack_name,
        "Description": cs.description or None,
        "Parameters": _params(cs),
        "CreationTime": created,
        "ExecutionStatus": cs.execution_status,
        "Status": cs.status,
        "StatusReason": cs.reason or None,
        "NotificationARNs": [],
        "RollbackConfiguration": {},
        "Capabilities": list(cs.capabilities),
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(cs.tags.items())],
        "Changes": list(cs.changes),
        "IncludeNestedStacks": False,
    }


def change_set_doc(cs: ChangeSet) -> dict[str, Any]:
    return {
        "Id": cs.id,
        "Name": cs.name,
        "StackId": cs.stack_id,
        "StackName": cs.stack_name,
        "Type": cs.type,
        "Created": cs.created,
        "Status": cs.status,
        "ExecutionStatus": cs.execution_status,
        "Reason": cs.reason,
        "Description": cs.description,
        "Template": cs.template,
        "TemplateURL": cs.template_url,
        "Parameters": cs.parameters,
        "Previous": list(cs.previous),
        "Capabilities": list(cs.capabilities),
        "Tags": cs.tags,
        "Changes": list(cs.changes),
        "NoEcho": list(cs.no_echo),
    }


def parse_change_set_doc(doc: dict[str, Any]) -> ChangeSet:
    return ChangeSet(
        id=str(doc["Id"]),
        name=str(doc["Name"]),
        stack_id=str(doc["StackId"]),
        stack_name=str(doc["StackName"]),
        type=str(doc["Type"]),
        created=float(doc["Created"]),
        status=str(doc["Status"]),
        execution_status=str(doc["ExecutionStatus"]),
        reason=str(doc.get("Reason") or ""),
        description=str(doc.get("Description") or ""),
        template=str(doc.get("Template") or ""),
        template_url=str(doc.get("TemplateURL") or ""),
        parameters=dict(doc.get("Parameters") or {}),
        previous=tuple(doc.get("Previous") or ()),
        capabilities=tuple(doc.get("Capabilities") or ()),
        tags=dict(doc.get("Tags") or {}),
        changes=tuple(doc.get("Changes") or ()),
        no_echo=tuple(doc.get("NoEcho") or ()),
    )


def failed(cs: ChangeSet, reason: str) -> ChangeSet:
    return replace(cs, status=FAILED, execution_status=UNAVAILABLE, reason=reason)
