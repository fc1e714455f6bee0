"""What ``Ref`` and ``Fn::GetAtt`` return for each resource, as Lamina names and runs it.

Functions, queues, buckets, layers and APIs answer with their Lamina names, ARNs and URLs;
SAM's generated resources (``<Fn>Role``, ``<Fn>Url``, ``<Fn>Alias<alias>``,
``ServerlessRestApi``, ``ServerlessHttpApi``) are known too. A resource Lamina does not
run still answers, with the value it would have on AWS (its name, or an ARN of its own
service, never a made-up one) and a warning, so the functions that mention it
(a table name in an environment variable, say) can be deployed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lamina import arns
from lamina.sam import names
from lamina.sam.errors import TemplateError

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")
LAYER_TYPES = ("AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion")
API_TYPES = ("AWS::Serverless::Api", "AWS::Serverless::HttpApi")
_NAME_PROPERTY = {
    "AWS::Serverless::Function": "FunctionName",
    "AWS::Lambda::Function": "FunctionName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SNS::Topic": "TopicName",
    "AWS::S3::Bucket": "BucketName",
    "AWS::Serverless::LayerVersion": "LayerName",
    "AWS::Lambda::LayerVersion": "LayerName",
    "AWS::Events::Rule": "Name",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Scheduler::Schedule": "Name",
    "AWS::Serverless::StateMachine": "Name",
    "AWS::StepFunctions::StateMachine": "StateMachineName",
}
STATE_MACHINE_TYPES = ("AWS::Serverless::StateMachine", "AWS::StepFunctions::StateMachine")
IMPLICIT_APIS = {"ServerlessRestApi": "rest", "ServerlessHttpApi": "http"}
# Types whose Ref is their ARN on AWS (most others' Ref is their name).
_REF_IS_ARN = {
    "AWS::SNS::Topic",
    "AWS::StepFunctions::StateMachine",
    "AWS::Serverless::StateMachine",
    "AWS::IAM::ManagedPolicy",
}

Resolve = Callable[[Any, str], Any]


class Catalog:
    """Names and attribute values of a stack's resources (lazy: names may use intrinsics)."""

    def __init__(
        self,
        resources: dict[str, dict[str, Any]],
        *,
        stack: str,
        region: str,
        account: str,
        endpoint_host: str,
        excluded: set[str] | None = None,
    ) -> None:
        self.resources = resources
        self.stack = stack
        self.region = region
        self.account = account
        self.endpoint_host = endpoint_host
        self.excluded = excluded or set()
        self.resolve: Resolve = lambda value, where: value  # set by the translator
        self.urls: dict[str, str] = {}  # function logical id → its URL, once known
        self.layer_arns: dict[str, str] = {}  # layer logical id → published version ARN
        self.warnings: list[str] = []
        self._names: dict[str, str] = {}
        self._naming: set[str] = set()
        self._warned: set[str] = set()

    # -- names ------------------------------------------------------------------------
    def type_of(self, logical_id: str) -> str:
        resource = self.resources.get(logical_id)
        return str(resource.get("Type", "")) if isinstance(resource, dict) else ""

    def name(self, logical_id: str) -> str:
        """The physical name: the template's own (e.g. FunctionName) or a stable default."""
        if logical_id in self._names:
            return self._names[logical_id]
        if logical_id in self._naming:
            raise TemplateError(f"{logical_id}: its name refers to itself")
        self._naming.add(logical_id)
        try:
            kind = self.type_of(logical_id)
            props = self.resources[logical_id].get("Properties") or {}
            prop = _NAME_PROPERTY.get(kind)
            given = props.get(prop) if prop and isinstance(props, dict) else None
            if given is not None:
                name = str(self.resolve(given, f"{logical_id}.Properties.{prop}"))
            elif kind in FUNCTION_TYPES:
                name = names.function_name(self.stack, logical_id)
            elif kind == "AWS::SQS::Queue":
                fifo = str(props.get("FifoQueue", "")).lower() == "true"
                name = names.queue_name(self.stack, logical_id, fifo)
            elif kind == "AWS::S3::Bucket":
                name = names.bucket_name(self.stack, logical_id)
            elif kind == "AWS::Events::Rule":
                name = names.rule_name(self.stack, logical_id, "rule")
            elif kind == "AWS::Scheduler::Schedule":
                name = names.schedule_name(self.stack, logical_id)
            elif kind in STATE_MACHINE_TYPES:
                name = names.state_machine_name(self.stack, logical_id)
            else:
                name = f"{self.stack}-{logical_id}"
        finally:
            self._naming.discard(logical_id)
        self._names[logical_id] = name
        return name

    def _check(self, logical_id: str) -> None:
        if logical_id in self.excluded:
            raise TemplateError(
                f"{logical_id} is not created (its Condition is false) but something refers to it"
            )

    def _stand_in(self, logical_id: str, what: str, value: str) -> str:
        key = f"{logical_id}/{what}"
        if key not in self._warned:
            self._warned.add(key)
            kind = self.type_of(logical_id) or "generated resource"
            self.warnings.append(
                f"{what} of {logical_id} ({kind}) resolves to {value!r}, the value it would "
                "have on AWS: Lamina does not create this resource"
            )
        return value

    def layer_version_arn(self, logical_id: str) -> str:
        """The published version's ARN once known; before, the stand-in of version 1."""
        published = self.layer_arns.get(logical_id)
        return published or arns.layer_version_arn(
            self.region, self.account, self.name(logical_id), 1
        )

    # -- Ref ----------------------------------------------------------------------------
    def ref(self, logical_id: str) -> Any:
        self._check(logical_id)
        base, dot, suffix = logical_id.partition(".")
        if dot and self.type_of(base) == "AWS::Serverless::Function":
            return self._function_ref_suffix(base, suffix)
        kind = self.type_of(logical_id)
        if kind in FUNCTION_TYPES or kind in (
            "AWS::S3::Bucket",
            "AWS::Events::Rule",
            "AWS::Logs::LogGroup",
            "AWS::Scheduler::Schedule",
        ):
            return self.name(logical_id)
        if kind == "AWS::SQS::Queue":
            return self.queue_url(self.name(logical_id))
        if kind in LAYER_TYPES:
            return self.layer_version_arn(logical_id)
        if kind == "AWS::SNS::Topic":
            return arns.topic_arn(self.region, self.account, self.name(logical_id))
        if kind in STATE_MACHINE_TYPES:
            return arns.state_machine_arn(self.region, self.account, self.name(logical_id))
        if kind in API_TYPES or logical_id in IMPLICIT_APIS:
            return names.api_id(self.stack, logical_id)
        if logical_id in self.resources:
            value = f"{self.stack}-{logical_id}"
            if kind in _REF_IS_ARN:
                value = arns.resource_arn(kind, self.region, self.account, value)
            return self._stand_in(logical_id, "Ref", value)
        generated = self._generated(logical_id, None)
        if generated is not None:
            return generated
        raise TemplateError(f"Ref {logical_id}: no such parameter or resource")

    def _function_ref_suffix(self, fn: str, suffix: str) -> str:
        name = self.name(fn)
        alias = (self.resources[fn].get("Properties") or {}).get("AutoPublishAlias")
        if suffix == "Alias" and alias:
            return arns.function_arn(self.region, self.account, name, str(alias))
        if suffix == "Version":
            return arns.function_arn(self.region, self.account, name, "$LATEST")
        raise TemplateError(f"Ref {fn}.{suffix}: only .Alias (with AutoPublishAlias) and .Version")

    # -- Fn::GetAtt ---------------------------------------------------------------------
    def getatt(self, logical_id: str, attribute: str) -> Any:
        self._check(logical_id)
        kind = self.type_of(logical_id)
        where = f"{logical_id}.{attribute}"
        if kind in FUNCTION_TYPES:
            if attribute == "Arn":
                return arns.function_arn(self.region, self.account, self.name(logical_id))
            if attribute == "SnapStartResponse.ApplyOn":
                return "None"
        elif kind == "AWS::SQS::Queue":
            name = self.name(logical_id)
            value = {
                "Arn": arns.queue_arn(self.region, self.account, name),
                "QueueName": name,
                "QueueUrl": self.queue_url(name),
            }.get(attribute)
            if value is not None:
                return value
        elif kind == "AWS::S3::Bucket":
            name = self.name(logical_id)
            value = {
                "Arn": arns.bucket_arn(name),
                "DomainName": f"{self.endpoint_host}/{name}",
                "RegionalDomainName": f"{self.endpoint_host}/{name}",
                "WebsiteURL": f"http://{self.endpoint_host}/{name}",
            }.get(attribute)
            if value is not None:
                return value
        elif kind == "AWS::SNS::Topic" and attribute in ("TopicArn", "TopicName"):
            name = self.name(logical_id)
            return (
                name
                if attribute == "TopicName"
                else arns.topic_arn(self.region, self.account, name)
            )
        elif kind in LAYER_TYPES and attribute in ("Arn", "LayerVersionArn"):
            return self.layer_version_arn(logical_id)
        elif kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return arns.log_group_arn(self.region, self.account, self.name(logical_id), star=True)
        elif kind in STATE_MACHINE_TYPES and attribute in ("Arn", "Name"):
            name = self.name(logical_id)
            if attribute == "Name":
                return name
            return arns.state_machine_arn(self.region, self.account, name)
        elif kind == "AWS::Events::Rule" and attribute == "Arn":
            return arns.rule_arn(self.region, self.account, self.name(logical_id))
        elif kind == "AWS::Scheduler::Schedule" and attribute == "Arn":
            return arns.schedule_arn(self.region, self.account, self._schedule_key(logical_id))
        elif logical_id in self.resources:
            name = f"{self.stack}-{logical_id}"
            return self._stand_in(
                logical_id,
                attribute,
                arns.resource_arn(kind, self.region, self.account, name)
                if attribute.endswith("Arn")
                else name,
            )
        else:
            generated = self._generated(logical_id, attribute)
            if generated is not None:
                return generated
            raise TemplateError(f"Fn::GetAtt {where}: no such resource")
        raise TemplateError(f"Fn::GetAtt {where}: {kind} has no attribute {attribute} in Lamina")

    # -- SAM's generated resources ------------------------------------------------------
    def _generated(self, logical_id: str, attribute: str | None) -> str | None:
        """``<Fn>Role``, ``<Fn>Url``, ``<Fn>Alias<alias>``, implicit API stages."""
        for fn, resource in self.resources.items():
            if resource.get("Type") != "AWS::Serverless::Function" or not logical_id.startswith(fn):
                continue
            rest = logical_id[len(fn) :]
            props = resource.get("Properties") or {}
            if rest == "Role":
                return names.execution_role_arn(self.account, self.stack, fn)
            if rest == "Url":
                if attribute in (None, "FunctionArn"):
                    return arns.function_arn(self.region, self.account, self.name(fn))
                if attribute == "FunctionUrl":
                    url = self.urls.get(fn)
                    if url is None:
                        return self._stand_in(logical_id, "FunctionUrl", "")
                    return url
            alias = props.get("AutoPublishAlias")
            if alias and rest == f"Alias{alias}":
                return arns.function_arn(self.region, self.account, self.name(fn), str(alias))
        machine = logical_id.removesuffix("Role")
        if (
            machine != logical_id
            and self.type_of(machine) == "AWS::Serverless::StateMachine"
            and attribute in (None, "Arn")
        ):
            if attribute is None:
                return names.role_name(self.stack, machine)
            return names.execution_role_arn(self.account, self.stack, machine)
        for api in IMPLICIT_APIS:
            if logical_id.startswith(api) and logical_id != api:
                return f"{names.api_id(self.stack, api)}-{logical_id[len(api) :]}"
        return None

    def _schedule_key(self, logical_id: str) -> str:
        """``<group>/<name>`` of a schedule, as its ARN has it."""
        props = self.resources[logical_id].get("Properties") or {}
        group = props.get("GroupName") if isinstance(props, dict) else None
        where = f"{logical_id}.Properties.GroupName"
        return f"{self.resolve(group, where) if group else 'default'}/{self.name(logical_id)}"

    def queue_url(self, name: str) -> str:
        return f"http://{self.endpoint_host}/{self.account}/{name}"
