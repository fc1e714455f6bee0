"""CloudFormation's read operations over the :class:`StackStore`: query parameters in, the
result's members out (rendered to XML by :mod:`.xml`).

Lamina deploys stacks with ``lamina up`` on the client, so the write operations are not
served; DeleteStack is refused with a ValidationError that points to ``lamina down`` (see
docs/sam.md, "CloudFormation's API").
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from lamina.services.cloudformation.model import (
    STACK_STATUSES,
    Event,
    Resource,
    Stack,
    StackValidationError,
)
from lamina.services.cloudformation.store import StackStore
from lamina.services.protocol.query import indexed, tree

Operation = Callable[[dict[str, str]], Mapping[str, Any]]


def timestamp(seconds: float) -> str:
    """ISO 8601 in UTC with milliseconds, as CloudFormation writes its times."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _missing(name: str) -> StackValidationError:
    return StackValidationError(f"Stack with id {name} does not exist")


class CloudFormationOperations:
    def __init__(self, store: StackStore, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def operations(self) -> dict[str, Operation]:
        return {
            "DescribeStacks": self.describe_stacks,
            "ListStacks": self.list_stacks,
            "DescribeStackResources": self.describe_stack_resources,
            "DescribeStackResource": self.describe_stack_resource,
            "ListStackResources": self.list_stack_resources,
            "DescribeStackEvents": self.describe_stack_events,
            "GetTemplate": self.get_template,
            "GetTemplateSummary": self.get_template_summary,
            "ListExports": self.list_exports,
            "DeleteStack": self.delete_stack,
        }

    def _stack(self, params: Mapping[str, str]) -> Stack:
        name = params.get("StackName", "")
        if not name:
            raise StackValidationError("StackName must be given")
        stack = self.store.find(name)
        if stack is None:
            raise _missing(name)
        return stack

    # -- stacks ---------------------------------------------------------------------------
    def describe_stacks(self, params: dict[str, str]) -> Mapping[str, Any]:
        if params.get("StackName"):
            stacks = [self._stack(params)]
        else:
            stacks = self.store.stacks(deleted=False)
        return {"Stacks": [describe(s) for s in stacks]}

    def list_stacks(self, params: dict[str, str]) -> Mapping[str, Any]:
        wanted = set(indexed(tree(params).get("StackStatusFilter", {}).get("member", {})))
        unknown = sorted(wanted - STACK_STATUSES)
        if unknown:
            raise StackValidationError(
                f"1 validation error detected: Value '{unknown}' at 'stackStatusFilter' failed "
                "to satisfy constraint: Member must satisfy constraint: [Member must satisfy "
                f"enum value set: [{', '.join(sorted(STACK_STATUSES))}]]"
            )
        summaries = []
        for s in self.store.stacks(deleted=True):
            if wanted and s.status not in wanted:
                continue
            summaries.append(
                {
                    "StackId": s.record.stack_id,
                    "StackName": s.record.name,
                    "TemplateDescription": s.record.description or None,
                    "CreationTime": timestamp(s.created),
                    "LastUpdatedTime": _maybe_time(s.updated),
                    "DeletionTime": _maybe_time(s.deleted),
                    "StackStatus": s.status,
                    "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
                }
            )
        return {"StackSummaries": summaries}

    def delete_stack(self, params: dict[str, str]) -> Mapping[str, Any]:
        stack = self._stack(params)
        raise StackValidationError(
            f"Lamina does not delete stack {stack.record.name} through CloudFormation: "
            "`lamina up` creates and removes a stack's resources from the project on the "
            "client. Run `lamina down` in the project to remove the stack."
        )

    # -- resources ------------------------------------------------------------------------
    def describe_stack_resources(self, params: dict[str, str]) -> Mapping[str, Any]:
        physical = params.get("PhysicalResourceId", "")
        if params.get("StackName"):
            stack = self._stack(params)
        elif physical:
            found = self.store.by_physical_id(physical)
            if found is None:
                raise StackValidationError(f"Stack for {physical} does not exist")
            stack = found
        else:
            raise StackValidationError("Either StackName or PhysicalResourceId must be specified")
        logical = params.get("LogicalResourceId", "")
        rows = [
            r
            for r in self.store.resources(stack)
            if (not logical or r.logical_id == logical)
            and (not physical or params.get("StackName") or r.physical_id == physical)
        ]
        return {"StackResources": [_resource(r) for r in rows]}

    def describe_stack_resource(self, params: dict[str, str]) -> Mapping[str, Any]:
        stack = self._stack(params)
        logical = params.get("LogicalResourceId", "")
        for r in self.store.resources(stack):
            if r.logical_id == logical:
                detail = _resource(r, summary=True)
                detail = {"StackName": r.stack_name, "StackId": r.stack_id, **detail}
                return {"StackResourceDetail": detail}
        raise StackValidationError(
            f"Resource {logical} does not exist for stack {stack.record.name}"
        )

    def list_stack_resources(self, params: dict[str, str]) -> Mapping[str, Any]:
        stack = self._stack(params)
        rows = self.store.resources(stack)
        return {"StackResourceSummaries": [_resource(r, summary=True) for r in rows]}

    def describe_stack_events(self, params: dict[str, str]) -> Mapping[str, Any]:
        stack = self._stack(params)
        return {"StackEvents": [_event(e) for e in self.store.events(stack)]}

    # -- templates and exports ------------------------------------------------------------
    def get_template(self, params: dict[str, str]) -> Mapping[str, Any]:
        stack = self._stack(params)
        return {"TemplateBody": stack.record.template, "StagesAvailable": ["Original"]}

    def get_template_summary(self, params: dict[str, str]) -> Mapping[str, Any]:
        if params.get("TemplateBody") or params.get("TemplateURL"):
            raise StackValidationError(
                "Lamina summarises the templates of deployed stacks only: pass StackName"
            )
        stack = self._stack(params)
        rec = stack.record
        return {
            "Parameters": [
                {
                    "ParameterKey": p.key,
                    "DefaultValue": p.default,
                    "ParameterType": p.type,
                    "NoEcho": p.no_echo,
                    "Description": p.description or None,
                    "ParameterConstraints": {},
                }
                for p in rec.declared
            ],
            "Description": rec.description or None,
            "ResourceTypes": sorted({r.type for r in rec.resources}),
            "Version": "2010-09-09",
            "DeclaredTransforms": (
                ["AWS::Serverless-2016-10-31"]
                if "AWS::Serverless-2016-10-31" in rec.template
                else []
            ),
        }

    def list_exports(self, params: dict[str, str]) -> Mapping[str, Any]:
        exports = [
            {"ExportingStackId": s.record.stack_id, "Name": o.export_name, "Value": o.value}
            for s in self.store.stacks(deleted=False)
            for o in s.record.outputs
            if o.export_name
        ]
        return {"Exports": sorted(exports, key=lambda e: e["Name"])}


def describe(stack: Stack) -> dict[str, Any]:
    """One member of DescribeStacks' ``Stacks``."""
    rec = stack.record
    return {
        "StackId": rec.stack_id,
        "StackName": rec.name,
        "Description": rec.description or None,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(rec.parameters.items())
        ],
        "CreationTime": timestamp(stack.created),
        "DeletionTime": _maybe_time(stack.deleted),
        "LastUpdatedTime": _maybe_time(stack.updated),
        "StackStatus": stack.status,
        "DisableRollback": False,
        "NotificationARNs": [],
        "Capabilities": (
            ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
            if rec.capabilities is None
            else list(rec.capabilities)
        ),
        "Outputs": [
            {
                "OutputKey": o.key,
                "OutputValue": o.value,
                "Description": o.description or None,
                "ExportName": o.export_name or None,
            }
            for o in rec.outputs
        ],
        "Tags": [{"Key": k, "Value": v} for k, v in sorted(rec.tags.items())],
        "EnableTerminationProtection": False,
        "DriftInformation": {"StackDriftStatus": "NOT_CHECKED"},
    }


def _maybe_time(seconds: float | None) -> str | None:
    return None if seconds is None else timestamp(seconds)


def _resource(r: Resource, *, summary: bool = False) -> dict[str, Any]:
    when = "LastUpdatedTimestamp" if summary else "Timestamp"
    out: dict[str, Any] = {}
    if not summary:
        out.update(StackName=r.stack_name, StackId=r.stack_id)
    out.update(
        {
            "LogicalResourceId": r.logical_id,
            "PhysicalResourceId": r.physical_id or None,
            "ResourceType": r.type,
            when: timestamp(r.updated),
            "ResourceStatus": r.status,
            "ResourceStatusReason": r.reason or None,
            "DriftInformation": {"StackResourceDriftStatus": "NOT_CHECKED"},
        }
    )
    return out


def _event(e: Event) -> dict[str, Any]:
    return {
        "StackId": e.stack_id,
        "EventId": e.event_id,
        "StackName": e.stack_name,
        "LogicalResourceId": e.logical_id,
        "PhysicalResourceId": e.physical_id or None,
        "ResourceType": e.type,
        "Timestamp": timestamp(e.timestamp),
        "ResourceStatus": e.status,
        "ResourceStatusReason": e.reason or None,
    }
