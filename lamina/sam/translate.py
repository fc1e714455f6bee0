"""A template (+ parameter values) → the :class:`StackSpec` of what Lamina should run. Pure.

Order: parameters, conditions, Globals, names (lazy, through the :class:`Catalog`), then each
resource resolved and translated on its own. A resource that cannot be translated is listed
with the reason and the rest of the stack still deploys; a malformed template or parameter
stops everything.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from lamina import arns
from lamina.sam import names
from lamina.sam.apis import api_properties_left_out
from lamina.sam.errors import TemplateError
from lamina.sam.events import EventContext, translate_events
from lamina.sam.functions import translate_function, translate_layer
from lamina.sam.globals import apply_globals
from lamina.sam.intrinsics import Resolver
from lamina.sam.model import BucketSpec, FunctionSpec, NotificationSpec, Skipped, StackSpec
from lamina.sam.parameters import resolve_parameters
from lamina.sam.patterns import rule_spec
from lamina.sam.references import API_TYPES, FUNCTION_TYPES, LAYER_TYPES, Catalog
from lamina.sam.resources import (
    IGNORED_TYPES,
    bucket_notifications,
    log_group_spec,
    mapping_spec,
    queue_spec,
    schedule_spec,
    subscription_spec,
    topic_spec,
    url_spec,
)
from lamina.sam.state_machines import STATE_MACHINE_TYPES, translate_state_machine
from lamina.sam.template import SAM_TRANSFORM, Template


def pseudo_parameters(stack: str, region: str, account: str) -> dict[str, Any]:
    return {
        "AWS::Region": region,
        "AWS::AccountId": account,
        "AWS::StackName": stack,
        "AWS::StackId": arns.lamina_stack_arn(region, account, stack),
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
        "AWS::NotificationARNs": [],
    }


class Translation:
    """Holds the resolver and catalog of one template, so Outputs can be resolved later."""

    def __init__(
        self,
        template: Template,
        *,
        stack: str,
        region: str,
        account: str,
        endpoint_host: str,
        overrides: dict[str, str],
    ) -> None:
        self.template = template
        self.stack = stack
        self.region = region
        self.account = account
        extra = [t for t in template.transforms if t != SAM_TRANSFORM]
        if extra:
            raise TemplateError(
                f"transform(s) {', '.join(extra)} cannot be run by Lamina (only {SAM_TRANSFORM})"
            )
        parameters = resolve_parameters(template.parameters, overrides)
        resources = apply_globals(template.globals, template.resources)
        self.resources: dict[str, dict[str, Any]] = {}
        self.skipped: list[Skipped] = []
        for lid, resource in resources.items():
            if not isinstance(resource, dict) or not isinstance(resource.get("Type"), str):
                self.skipped.append(Skipped(str(lid), "a resource needs a Type"))
                continue
            self.resources[str(lid)] = resource
        self.catalog = Catalog(
            self.resources, stack=stack, region=region, account=account, endpoint_host=endpoint_host
        )
        self.resolver = Resolver(
            parameters,
            pseudo_parameters(stack, region, account),
            mappings=template.mappings,
            conditions=template.conditions,
            ref=self.catalog.ref,
            getatt=self.catalog.getatt,
        )
        self.catalog.resolve = self.resolver.resolve
        for lid, resource in self.resources.items():
            condition = resource.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                self.catalog.excluded.add(lid)
                self.skipped.append(
                    Skipped(f"{lid} ({resource['Type']})", f"condition {condition} is false", True)
                )

    def outputs(self) -> dict[str, str]:
        """The template's Outputs, resolved (call after apply, when URLs are known)."""
        out: dict[str, str] = {}
        for key, body in self.template.outputs.items():
            if not isinstance(body, dict) or "Value" not in body:
                continue
            condition = body.get("Condition")
            if condition is not None and not self.resolver.condition(str(condition)):
                continue
            try:
                value = self.resolver.resolve(body["Value"], f"Outputs.{key}")
            except TemplateError as exc:
                value = f"(unresolved: {exc})"
            out[str(key)] = value if isinstance(value, str) else str(value)
        return out

    # -- the stack -----------------------------------------------------------------------
    def _metadata(self, lid: str) -> dict[str, Any]:
        metadata = self.resources[lid].get("Metadata") or {}
        return metadata if isinstance(metadata, dict) else {}

    def _props(self, lid: str) -> dict[str, Any]:
        props = self.resources[lid].get("Properties") or {}
        if not isinstance(props, dict):
            raise TemplateError(f"{lid}: Properties must be a mapping")
        resolved = self.resolver.resolve(props, f"{lid}.Properties")
        assert isinstance(resolved, dict)
        return resolved

    def stack_spec(self) -> StackSpec:
        spec = StackSpec(self.stack, self.region, self.account)
        spec.skipped.extend(self.skipped)
        live = {lid: r for lid, r in self.resources.items() if lid not in self.catalog.excluded}
        by_type: dict[str, list[str]] = {}
        for lid, resource in live.items():
            by_type.setdefault(str(resource["Type"]), []).append(lid)

        def attempt(lid: str, fn: Any) -> Any:
            try:
                return fn()
            except TemplateError as exc:
                spec.skipped.append(
                    Skipped(f"{lid} ({live[lid]['Type']})", str(exc).removeprefix(f"{lid}: "))
                )
                return None

        base = self.template.base_dir
        layers_by_arn = {}
        for kind in LAYER_TYPES:
            for lid in by_type.get(kind, []):
                layer = attempt(
                    lid,
                    lambda lid=lid: translate_layer(
                        lid,
                        self.catalog.name(lid),
                        str(self.catalog.ref(lid)),
                        self._props(lid),
                        self._metadata(lid),
                        base,
                    ),
                )
                if layer is not None:
                    spec.layers[lid] = layer
                    layers_by_arn[layer.arn] = layer
        events: dict[str, dict[str, Any]] = {}
        for kind in FUNCTION_TYPES:
            for lid in by_type.get(kind, []):

                def one(lid: str = lid, kind: str = kind) -> FunctionSpec | None:
                    props = self._props(lid)
                    metadata = self.resources[lid].get("Metadata") or {}
                    result = translate_function(
                        lid,
                        kind,
                        self.catalog.name(lid),
                        props,
                        metadata if isinstance(metadata, dict) else {},
                        stack=self.stack,
                        base=base,
                        layers=layers_by_arn,
                        region=self.region,
                        account=self.account,
                    )
                    spec.skipped.extend(result.skipped)
                    spec.warnings.extend(result.notes)
                    if kind == "AWS::Serverless::Function" and props.get("Events"):
                        events[lid] = props["Events"]
                    return result.spec

                fn_spec = attempt(lid, one)
                if fn_spec is not None:
                    spec.functions[lid] = fn_spec
        # Public layers the functions named (Powertools) are built and published like the
        # template's own (lamina.sam.public_layers).
        for layer in layers_by_arn.values():
            spec.layers.setdefault(layer.logical_id, layer)
        for lid in by_type.get("AWS::Logs::LogGroup", []):
            group = attempt(
                lid, lambda lid=lid: log_group_spec(lid, self.catalog.name(lid), self._props(lid))
            )
            if group is not None:
                spec.log_groups[lid] = group
        for lid in by_type.get("AWS::SQS::Queue", []):
            queue = attempt(
                lid, lambda lid=lid: queue_spec(lid, self.catalog.name(lid), self._props(lid))
            )
            if queue is not None:
                spec.queues[lid] = queue[0]
                spec.skipped.extend(queue[1])
        for lid in by_type.get("AWS::SNS::Topic", []):
            topic = attempt(
                lid,
                lambda lid=lid: topic_spec(
                    lid, self.catalog.name(lid), str(self.catalog.ref(lid)), self._props(lid)
                ),
            )
            if topic is not None:
                spec.topics[lid] = topic[0]
                spec.subscriptions.extend(topic[1])
                spec.skipped.extend(topic[2])
        for lid in by_type.get("AWS::SNS::Subscription", []):
            subscription = attempt(lid, lambda lid=lid: subscription_spec(lid, self._props(lid)))
            if subscription is not None:
                spec.subscriptions.append(subscription[0])
                spec.skipped.extend(subscription[1])
        notifications: dict[str, list[NotificationSpec]] = {}
        bucket_names: dict[str, str] = {}
        for lid in by_type.get("AWS::S3::Bucket", []):
            own = attempt(lid, lambda lid=lid: bucket_notifications(lid, self._props(lid)))
            if own is not None:
                name = self.catalog.name(lid)
                bucket_names[name] = lid
                notifications[name] = own[0]
                spec.skipped.extend(own[1])
        apis = {}
        for implicit, kind_name in (("ServerlessRestApi", "rest"), ("ServerlessHttpApi", "http")):
            apis[names.api_id(self.stack, implicit)] = (implicit, kind_name, "")
        for kind in API_TYPES:
            for lid in by_type.get(kind, []):
                props = attempt(lid, lambda lid=lid: self._props(lid)) or {}
                stage = str(props.get("StageName") or "")
                apis[names.api_id(self.stack, lid)] = (
                    lid,
                    "rest" if kind == "AWS::Serverless::Api" else "http",
                    stage,
                )
                spec.skipped.extend(
                    Skipped(f"{lid}.{key}", reason, ignored=ignored)
                    for key, (reason, ignored) in api_properties_left_out(props).items()
                )
        ctx = EventContext(
            self.stack,
            self.region,
            self.account,
            {
                k: (v[0], v[1], v[2] or ("Prod" if v[1] == "rest" else "$default"))
                for k, v in apis.items()
            },
        )
        for lid, fn_events in events.items():
            fn_spec = spec.functions[lid]
            result = attempt(
                lid,
                lambda fn_spec=fn_spec, fn_events=fn_events: translate_events(
                    fn_spec,
                    fn_events if isinstance(fn_events, dict) else {},
                    set(bucket_names),
                    ctx,
                ),
            )
            if result is None:
                continue
            spec.mappings.extend(result.mappings)
            spec.rules.extend(result.rules)
            spec.schedules.extend(result.schedules)
            spec.routes.extend(result.routes)
            spec.subscriptions.extend(result.subscriptions)
            for queue in result.queues:
                spec.queues[queue.logical_id] = queue
            spec.skipped.extend(result.skipped)
            spec.warnings.extend(result.notes)
            for bucket, items in result.notifications.items():
                notifications.setdefault(bucket, []).extend(items)
        for name, lid in bucket_names.items():
            spec.buckets[lid] = BucketSpec(lid, name, tuple(notifications.get(name, [])))
        self._plain_resources(spec, by_type, attempt)
        self._state_machines(spec, by_type, attempt, ctx)
        for lid, resource in live.items():
            for key in sorted(set(resource) - _ATTRIBUTES):
                spec.skipped.append(
                    Skipped(f"{lid}.{key}", "not a resource attribute (a misplaced property?)")
                )
        for lid, resource in live.items():
            kind = str(resource["Type"])
            if kind in IGNORED_TYPES:
                spec.skipped.append(Skipped(f"{lid} ({kind})", IGNORED_TYPES[kind], ignored=True))
            elif kind not in _HANDLED:
                spec.skipped.append(Skipped(f"{lid} ({kind})", "Lamina does not run this type"))
        spec.warnings.extend(self.catalog.warnings)
        spec.outputs = dict(self.template.outputs)
        return spec

    def _schedule(self, lid: str, notes: list[str]) -> Any:
        props = self._props(lid)
        target = props.get("Target")
        if not isinstance(target, dict) or not target.get("Arn"):
            raise TemplateError(f"{lid}: a schedule needs a Target with an Arn")
        return schedule_spec(lid, self.catalog.name(lid), props, target, notes)

    def _state_machines(
        self,
        spec: StackSpec,
        by_type: dict[str, list[str]],
        attempt: Any,
        apis: EventContext,
    ) -> None:
        for kind in STATE_MACHINE_TYPES:
            for lid in by_type.get(kind, []):
                result = attempt(
                    lid,
                    lambda lid=lid, kind=kind: translate_state_machine(
                        lid,
                        kind,
                        self.catalog.name(lid),
                        self._props(lid),
                        stack=self.stack,
                        base=self.template.base_dir,
                        region=self.region,
                        account=self.account,
                        apis=apis,
                    ),
                )
                if result is None:
                    continue
                spec.state_machines[lid] = result.spec
                spec.rules.extend(result.rules)
                spec.routes.extend(result.routes)
                spec.schedules.extend(result.schedules)
                spec.skipped.extend(result.skipped)
                spec.warnings.extend(result.notes)

    def _plain_resources(
        self, spec: StackSpec, by_type: dict[str, list[str]], attempt: Any
    ) -> None:
        """CloudFormation's own ESM, rule and URL resources."""
        for lid in by_type.get("AWS::Lambda::EventSourceMapping", []):
            m = attempt(
                lid, lambda lid=lid: mapping_spec(lid, self._props(lid), self.region, self.account)
            )
            if m is not None:
                spec.mappings.append(m)
        for lid in by_type.get("AWS::Events::Rule", []):
            rule = attempt(
                lid, lambda lid=lid: rule_spec(lid, self.catalog.name(lid), self._props(lid))
            )
            if rule is not None:
                spec.rules.append(rule)
        for lid in by_type.get("AWS::Scheduler::Schedule", []):
            schedule = attempt(lid, lambda lid=lid: self._schedule(lid, spec.warnings))
            if schedule is not None:
                spec.schedules.append(schedule)
        for lid in by_type.get("AWS::Lambda::Url", []):
            url = attempt(lid, lambda lid=lid: url_spec(self._props(lid)))
            if url is None:
                continue
            fn_name, qualifier, settings = url
            target = spec.function_by_name(fn_name)
            if target is None:
                spec.skipped.append(Skipped(f"{lid} (AWS::Lambda::Url)", "no such function here"))
            elif qualifier not in (None, target.alias):
                spec.skipped.append(
                    Skipped(
                        f"{lid} (AWS::Lambda::Url)", "the qualifier must be the function's alias"
                    )
                )
            else:
                spec.functions[target.logical_id] = replace(target, url=settings)


_ATTRIBUTES = {
    "Type",
    "Properties",
    "Condition",
    "Metadata",
    "DependsOn",
    "DeletionPolicy",
    "UpdateReplacePolicy",
    "UpdatePolicy",
    "CreationPolicy",
    "IgnoreGlobals",
}
_HANDLED = {
    *FUNCTION_TYPES,
    *LAYER_TYPES,
    *API_TYPES,
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::SNS::Subscription",
    "AWS::S3::Bucket",
    "AWS::Lambda::EventSourceMapping",
    "AWS::Events::Rule",
    "AWS::Scheduler::Schedule",
    "AWS::Lambda::Url",
    "AWS::Logs::LogGroup",
    *STATE_MACHINE_TYPES,
}


def translate(
    template: Template,
    *,
    stack: str,
    region: str,
    account: str,
    endpoint_host: str,
    overrides: dict[str, str] | None = None,
) -> tuple[StackSpec, Translation]:
    """The stack a template describes; the :class:`Translation` resolves Outputs later."""
    t = Translation(
        template,
        stack=stack,
        region=region,
        account=account,
        endpoint_host=endpoint_host,
        overrides=overrides or {},
    )
    return t.stack_spec(), t
