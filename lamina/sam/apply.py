"""Carry out a :class:`StackPlan` through boto3, one action at a time, and keep the stack's state.

Thin: every decision was made by :mod:`lamina.sam.plan`. A failed action is reported with
Lamina's message and the rest still run (a bad queue attribute should not stop the
functions); ``up`` exits non-zero when anything failed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lamina import arns
from lamina.client.boto import BotoClients
from lamina.client.http import ClientError as LaminaClientError
from lamina.sam.builds.package import Package
from lamina.sam.model import (
    BucketSpec,
    FunctionSpec,
    MappingSpec,
    OwnRole,
    QueueSpec,
    RuleSpec,
    ScheduleSpec,
    StackSpec,
    StateMachineSpec,
    SubscriptionSpec,
    TopicSpec,
)
from lamina.sam.observe import describe_error, error_code
from lamina.sam.plan import Action, FunctionChange, StackPlan, StateMachineChange
from lamina.sam.state import StackState

LAMBDA_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@dataclass
class ApplyOutcome:
    action: Action
    error: str | None = None


@dataclass
class Applied:
    outcomes: list[ApplyOutcome] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)  # function name → URL
    apis: dict[str, dict[str, Any]] = field(default_factory=dict)  # API id → server's answer
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[ApplyOutcome]:
        return [o for o in self.outcomes if o.error]


class Applier:
    def __init__(
        self,
        clients: BotoClients,
        spec: StackSpec,
        packages: dict[str, Package],
        state: StackState,
        routes_file: Path | None,
        progress: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.clients = clients
        self.spec = spec
        self.packages = packages
        self.state = state
        self.routes_file = routes_file
        self.progress = progress
        self.result = Applied()

    def run(self, plan: StackPlan) -> Applied:
        self._sync_roles()
        for action in plan.actions:
            handler = getattr(self, f"_{action.verb}_{action.kind}")
            self.progress(f"{action.verb} {action.describe()}")
            try:
                handler(action)
            except (ClientError, BotoCoreError, LaminaClientError) as exc:
                self.result.outcomes.append(ApplyOutcome(action, describe_error(exc)))
            else:
                self.result.outcomes.append(ApplyOutcome(action))
        return self.result

    # -- execution roles ------------------------------------------------------------------
    def _sync_roles(self) -> None:
        """Make each function's own role hold exactly its Policies; remove the roles of
        functions that left the template. Roles are synced on every run (cheap), so a
        change of Policies alone takes effect."""
        wanted = {
            fn.own_role.name: fn.own_role for fn in self.spec.functions.values() if fn.own_role
        }
        for role in wanted.values():
            try:
                self._sync_role(role)
            except (ClientError, BotoCoreError) as exc:
                self.result.warnings.append(f"role {role.name}: {describe_error(exc)}")
            else:
                self.state.roles[role.name] = role.path
        for name in [n for n in self.state.roles if n not in wanted]:
            try:
                self._delete_role(name)
            except (ClientError, BotoCoreError) as exc:
                self.result.warnings.append(f"role {name}: {describe_error(exc)}")
            else:
                del self.state.roles[name]

    def _sync_role(self, role: OwnRole) -> None:
        iam = self.clients("iam")
        try:
            iam.get_role(RoleName=role.name)
        except ClientError as exc:
            if error_code(exc) != "NoSuchEntity":
                raise
            self.progress(f"create role {role.name}")
            iam.create_role(
                RoleName=role.name,
                Path=role.path,
                AssumeRolePolicyDocument=json.dumps(LAMBDA_TRUST),
                Tags=[{"Key": "lamina:stack", "Value": self.spec.name}],
            )
        attached = {
            p["PolicyArn"]
            for p in iam.list_attached_role_policies(RoleName=role.name)["AttachedPolicies"]
        }
        for arn in role.managed:
            if arn not in attached:
                iam.attach_role_policy(RoleName=role.name, PolicyArn=arn)
        for arn in attached - set(role.managed):
            iam.detach_role_policy(RoleName=role.name, PolicyArn=arn)
        existing = set(iam.list_role_policies(RoleName=role.name)["PolicyNames"])
        for name, document in role.inline.items():
            iam.put_role_policy(
                RoleName=role.name, PolicyName=name, PolicyDocument=json.dumps(document)
            )
        for name in existing - set(role.inline):
            iam.delete_role_policy(RoleName=role.name, PolicyName=name)

    def _delete_role(self, name: str) -> None:
        iam = self.clients("iam")
        try:
            attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
        except ClientError as exc:
            if error_code(exc) == "NoSuchEntity":
                return
            raise
        self.progress(f"remove role {name}")
        for policy in attached:
            iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for policy_name in iam.list_role_policies(RoleName=name)["PolicyNames"]:
            iam.delete_role_policy(RoleName=name, PolicyName=policy_name)
        iam.delete_role(RoleName=name)

    # -- functions ------------------------------------------------------------------------
    def _arn(self, fn: FunctionSpec) -> str:
        return arns.function_arn(self.spec.region, self.spec.account, fn.name)

    def _create_function(self, action: Action) -> None:
        fn: FunctionSpec = action.target
        lam = self.clients("lambda")
        config = fn.configuration()
        if config["SnapStart"]["ApplyOn"] == "None":
            del config["SnapStart"]
        lam.create_function(
            FunctionName=fn.name,
            Code={"ZipFile": self.packages[fn.logical_id].data},
            Architectures=[fn.architecture],
            Tags=fn.tags,
            **config,
        )
        self.state.functions[fn.logical_id] = fn.name
        if fn.reserved_concurrency is not None:
            lam.put_function_concurrency(
                FunctionName=fn.name, ReservedConcurrentExecutions=fn.reserved_concurrency
            )
        if fn.recursive_loop != "Terminate":
            lam.put_function_recursion_config(FunctionName=fn.name, RecursiveLoop=fn.recursive_loop)
        if fn.alias:
            self._publish(fn, create=True)
            if fn.provisioned is not None:
                self._provision(fn)
        if fn.url is not None:
            self._url(fn, "create", fn.alias)
        if fn.invoke_config is not None:
            self._invoke_config(fn, "put")

    def _invoke_config(self, fn: FunctionSpec, verb: str) -> None:
        lam = self.clients("lambda")
        qualifier = fn.alias or "$LATEST"
        if verb == "delete" or fn.invoke_config is None:
            lam.delete_function_event_invoke_config(FunctionName=fn.name, Qualifier=qualifier)
            return
        c = fn.invoke_config
        args: dict[str, Any] = {
            "DestinationConfig": {
                "OnSuccess": {"Destination": c.on_success} if c.on_success else {},
                "OnFailure": {"Destination": c.on_failure} if c.on_failure else {},
            }
        }
        if c.maximum_retry_attempts is not None:
            args["MaximumRetryAttempts"] = c.maximum_retry_attempts
        if c.maximum_event_age_s is not None:
            args["MaximumEventAgeInSeconds"] = c.maximum_event_age_s
        lam.put_function_event_invoke_config(FunctionName=fn.name, Qualifier=qualifier, **args)

    def _update_function(self, action: Action) -> None:
        c: FunctionChange = action.target
        fn = c.spec
        lam = self.clients("lambda")
        self.state.functions[fn.logical_id] = fn.name
        if c.code or c.architecture:
            lam.update_function_code(
                FunctionName=fn.name,
                ZipFile=self.packages[fn.logical_id].data,
                Architectures=[fn.architecture],
            )
        if c.configuration:
            lam.update_function_configuration(FunctionName=fn.name, **fn.configuration())
        if c.tags_set:
            lam.tag_resource(Resource=self._arn(fn), Tags=c.tags_set)
        if c.tags_removed:
            lam.untag_resource(Resource=self._arn(fn), TagKeys=list(c.tags_removed))
        if c.concurrency == "set":
            lam.put_function_concurrency(
                FunctionName=fn.name, ReservedConcurrentExecutions=fn.reserved_concurrency
            )
        elif c.concurrency == "delete":
            lam.delete_function_concurrency(FunctionName=fn.name)
        if c.recursive_loop:
            lam.put_function_recursion_config(FunctionName=fn.name, RecursiveLoop=fn.recursive_loop)
        if c.publish:
            self._publish(fn, create=c.alias == "create")
        if c.provisioned == "set":
            self._provision(fn)
        elif c.provisioned == "delete" and fn.alias:
            lam.delete_provisioned_concurrency_config(FunctionName=fn.name, Qualifier=fn.alias)
        if c.url is not None:
            self._url(fn, c.url, c.url_qualifier)
        if c.invoke_config is not None:
            self._invoke_config(fn, c.invoke_config)
        if c.alias_removed:
            lam.delete_alias(FunctionName=fn.name, Name=c.alias_removed)
            self.state.aliases.pop(fn.name, None)

    def _publish(self, fn: FunctionSpec, create: bool) -> None:
        lam = self.clients("lambda")
        assert fn.alias
        version = lam.publish_version(FunctionName=fn.name)["Version"]
        if create:
            lam.create_alias(FunctionName=fn.name, Name=fn.alias, FunctionVersion=version)
        else:
            lam.update_alias(FunctionName=fn.name, Name=fn.alias, FunctionVersion=version)
        self.state.aliases[fn.name] = fn.alias

    def _provision(self, fn: FunctionSpec) -> None:
        """Provisioned concurrency on the alias (its environments start on the server)."""
        assert fn.alias and fn.provisioned is not None
        self.clients("lambda").put_provisioned_concurrency_config(
            FunctionName=fn.name,
            Qualifier=fn.alias,
            ProvisionedConcurrentExecutions=fn.provisioned,
        )

    def _url(self, fn: FunctionSpec, verb: str, qualifier: str | None) -> None:
        lam = self.clients("lambda")
        where = {"Qualifier": qualifier} if qualifier else {}
        if verb == "delete":
            lam.delete_function_url_config(FunctionName=fn.name, **where)
            self.state.urls.pop(fn.name, None)
            return
        assert fn.url is not None
        settings: dict[str, Any] = {"AuthType": fn.url.auth_type, "InvokeMode": fn.url.invoke_mode}
        if fn.url.cors:
            settings["Cors"] = fn.url.cors
        call = (
            lam.create_function_url_config if verb == "create" else lam.update_function_url_config
        )
        answer = call(FunctionName=fn.name, **where, **settings)
        self.state.urls[fn.name] = answer["FunctionUrl"]
        self.result.urls[fn.name] = answer["FunctionUrl"]

    def _delete_function(self, action: Action) -> None:
        lam = self.clients("lambda")
        try:
            lam.delete_function(FunctionName=action.target)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        for mapping in (self.state.functions, self.state.aliases, self.state.urls):
            for key in [k for k, v in mapping.items() if v == action.target or k == action.target]:
                mapping.pop(key, None)

    # -- queues and buckets ---------------------------------------------------------------
    def _create_queue(self, action: Action) -> None:
        q: QueueSpec = action.target
        extra = {"tags": q.tags} if q.tags else {}
        self.clients("sqs").create_queue(QueueName=q.name, Attributes=q.attributes, **extra)
        self.state.queues[q.logical_id] = q.name

    def _update_queue(self, action: Action) -> None:
        q: QueueSpec = action.target
        sqs = self.clients("sqs")
        url = sqs.get_queue_url(QueueName=q.name)["QueueUrl"]
        sqs.set_queue_attributes(
            QueueUrl=url, Attributes={k: q.attributes[k] for k in action.changes}
        )
        self.state.queues[q.logical_id] = q.name

    def _delete_queue(self, action: Action) -> None:
        sqs = self.clients("sqs")
        url = sqs.get_queue_url(QueueName=action.target)["QueueUrl"]
        sqs.delete_queue(QueueUrl=url)
        self._forget(self.state.queues, action.target)

    # -- topics and subscriptions ---------------------------------------------------------
    def _topic_arn(self, name: str) -> str:
        return arns.topic_arn(self.spec.region, self.spec.account, name)

    def _create_topic(self, action: Action) -> None:
        t: TopicSpec = action.target
        tags = [{"Key": k, "Value": v} for k, v in t.tags.items()]
        extra: dict[str, Any] = {"Tags": tags} if tags else {}
        self.clients("sns").create_topic(Name=t.name, Attributes=t.attributes, **extra)
        self.state.topics[t.logical_id] = t.name

    def _update_topic(self, action: Action) -> None:
        t: TopicSpec = action.target
        sns = self.clients("sns")
        arn = self._topic_arn(t.name)
        for key in action.changes:
            if key == "tags":
                have = sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
                gone = [x["Key"] for x in have if x["Key"] not in t.tags]
                if gone:
                    sns.untag_resource(ResourceArn=arn, TagKeys=gone)
                if t.tags:
                    tags = [{"Key": k, "Value": v} for k, v in t.tags.items()]
                    sns.tag_resource(ResourceArn=arn, Tags=tags)
            else:
                sns.set_topic_attributes(
                    TopicArn=arn, AttributeName=key, AttributeValue=t.attributes[key]
                )
        self.state.topics[t.logical_id] = t.name

    def _delete_topic(self, action: Action) -> None:
        self.clients("sns").delete_topic(TopicArn=self._topic_arn(action.target))
        self._forget(self.state.topics, action.target)

    def _create_subscription(self, action: Action) -> None:
        sub: SubscriptionSpec = action.target
        got = self.clients("sns").subscribe(
            TopicArn=sub.topic_arn,
            Protocol=sub.protocol,
            Endpoint=sub.endpoint,
            Attributes=sub.attributes,
            ReturnSubscriptionArn=True,
        )
        self.state.subscriptions[sub.key] = str(got["SubscriptionArn"])

    def _update_subscription(self, action: Action) -> None:
        sub, arn, changes = action.target
        sns = self.clients("sns")
        # A nested policy needs the MessageBody scope set before it, and a flat policy set
        # before the scope goes back to MessageAttributes (a flat one holds in both).
        scope_first = changes.get("FilterPolicyScope") == "MessageBody"
        for key in sorted(changes, key=lambda k: (k == "FilterPolicyScope") != scope_first):
            sns.set_subscription_attributes(
                SubscriptionArn=arn, AttributeName=key, AttributeValue=changes[key]
            )
        self.state.subscriptions[sub.key] = arn

    def _delete_subscription(self, action: Action) -> None:
        self.clients("sns").unsubscribe(SubscriptionArn=action.target)
        self._forget(self.state.subscriptions, action.target)

    def _create_bucket(self, action: Action) -> None:
        b: BucketSpec = action.target
        self.clients("s3").create_bucket(Bucket=b.name)
        self.state.buckets[b.logical_id] = b.name

    def _delete_bucket(self, action: Action) -> None:
        try:
            self.clients("s3").delete_bucket(Bucket=action.target)
        except ClientError as exc:
            if error_code(exc) != "BucketNotEmpty":
                raise
            self.result.warnings.append(
                f"bucket {action.target} is no longer in the template but holds objects: "
                "kept (empty it, and the next `lamina up` removes it)"
            )
            return
        self._forget(self.state.buckets, action.target)
        if action.target in self.state.notifications:
            self.state.notifications.remove(action.target)

    def _create_notifications(self, action: Action) -> None:
        self._update_notifications(action)

    def _update_notifications(self, action: Action) -> None:
        b: BucketSpec = action.target
        config: dict[str, list[dict[str, Any]]] = {}
        for n in b.notifications:
            rules = [
                {"Name": name, "Value": value}
                for name, value in (("prefix", n.prefix), ("suffix", n.suffix))
                if value
            ]
            item: dict[str, Any] = {"Id": n.id, "Events": list(n.events)}
            if rules:
                item["Filter"] = {"Key": {"FilterRules": rules}}
            if n.kind == "lambda":
                config.setdefault("LambdaFunctionConfigurations", []).append(
                    {**item, "LambdaFunctionArn": n.target_arn}
                )
            else:
                config.setdefault("QueueConfigurations", []).append(
                    {**item, "QueueArn": n.target_arn}
                )
        self.clients("s3").put_bucket_notification_configuration(
            Bucket=b.name, NotificationConfiguration=config
        )
        if b.name not in self.state.notifications:
            self.state.notifications.append(b.name)

    # -- mappings, rules, routes ----------------------------------------------------------
    def _mapping_args(self, m: MappingSpec) -> dict[str, Any]:
        args: dict[str, Any] = {
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.batching_window_s,
            "Enabled": m.enabled,
            "FunctionResponseTypes": ["ReportBatchItemFailures"]
            if m.report_batch_item_failures
            else [],
        }
        if m.maximum_concurrency is not None:
            args["ScalingConfig"] = {"MaximumConcurrency": m.maximum_concurrency}
        return args

    def _create_mapping(self, action: Action) -> None:
        m: MappingSpec = action.target
        fn = arns.function_arn(self.spec.region, self.spec.account, m.function_name, m.qualifier)
        got = self.clients("lambda").create_event_source_mapping(
            EventSourceArn=m.queue_arn, FunctionName=fn, **self._mapping_args(m)
        )
        self.state.mappings[m.key] = got["UUID"]

    def _update_mapping(self, action: Action) -> None:
        m, uuid = action.target
        self.clients("lambda").update_event_source_mapping(UUID=uuid, **self._mapping_args(m))
        self.state.mappings[m.key] = uuid

    def _delete_mapping(self, action: Action) -> None:
        try:
            self.clients("lambda").delete_event_source_mapping(UUID=action.target)
        except ClientError as exc:
            if error_code(exc) != "ResourceNotFoundException":
                raise
        self.state.mappings.pop(action.name, None)

    def _put_rule(self, r: RuleSpec, old_ids: set[str]) -> None:
        events = self.clients("events")
        args = {"Description": r.description} if r.description else {}
        if r.schedule:
            args["ScheduleExpression"] = r.schedule
        if r.pattern is not None:
            args["EventPattern"] = r.pattern
        events.put_rule(Name=r.name, State="ENABLED" if r.enabled else "DISABLED", **args)
        stale = sorted(old_ids - {t.id for t in r.targets})
        if stale:
            events.remove_targets(Rule=r.name, Ids=stale)
        if r.targets:
            events.put_targets(Rule=r.name, Targets=[t.body() for t in r.targets])
        self.state.rules[r.key] = r.name

    def _create_rule(self, action: Action) -> None:
        self._put_rule(action.target, set())

    def _update_rule(self, action: Action) -> None:
        r, have = action.target
        self._put_rule(r, {t[0] for t in have.targets})

    def _delete_rule(self, action: Action) -> None:
        events = self.clients("events")
        ids = [t[0] for t in action.target.targets]
        if ids:
            events.remove_targets(Rule=action.name, Ids=ids)
        events.delete_rule(Name=action.name)
        self._forget(self.state.rules, action.name)

    def _write_routes(self, entries: list[dict[str, str]]) -> None:
        path = self.routes_file
        assert path is not None
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError):
            doc = {}
        stacks = dict(doc.get("laminaStacks") or {})
        if entries:
            stacks[self.spec.name] = entries
        else:
            stacks.pop(self.spec.name, None)
        merged: dict[str, dict[str, str]] = {}
        for stack in sorted(stacks):
            for e in stacks[stack]:
                if e["route"] in merged and merged[e["route"]] != e:
                    self.result.warnings.append(
                        f"route {e['route']} is in more than one stack; {stack}'s wins"
                    )
                merged[e["route"]] = e
        doc.update(
            {
                "apiId": doc.get("apiId", "lamina"),
                "stage": doc.get("stage", "$default"),
                "routes": [merged[k] for k in sorted(merged)],
                "laminaStacks": stacks,
            }
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp-{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=2) + "\n")
        tmp.replace(path)
        self.state.routes = bool(entries)

    def _create_routes(self, action: Action) -> None:
        self._write_routes(action.target)

    _update_routes = _create_routes
    _delete_routes = _create_routes

    def _create_schedule(self, action: Action) -> None:
        sc: ScheduleSpec = action.target
        self.clients("scheduler").create_schedule(**sc.body(self.spec.account))
        self.state.schedules[sc.key] = f"{sc.group}/{sc.name}"

    def _update_schedule(self, action: Action) -> None:
        sc: ScheduleSpec = action.target
        self.clients("scheduler").update_schedule(**sc.body(self.spec.account))
        self.state.schedules[sc.key] = f"{sc.group}/{sc.name}"

    def _delete_schedule(self, action: Action) -> None:
        group, _, name = str(action.target).partition("/")
        self.clients("scheduler").delete_schedule(Name=name, GroupName=group)
        self._forget(self.state.schedules, action.target)

    def _create_api(self, action: Action) -> None:
        api_id, want = action.target
        body = {k: v for k, v in want.items() if k != "logicalId"}
        answer = self.clients.lamina().call("PUT", f"/lamina/v1/apis/{api_id}", body)
        self.result.apis[api_id] = answer
        self.state.apis[want["logicalId"]] = api_id

    _update_api = _create_api

    def _delete_api(self, action: Action) -> None:
        api_id, _ = action.target
        self.clients.lamina().request("DELETE", f"/lamina/v1/apis/{api_id}", ok=(204,))
        self._forget(self.state.apis, api_id)

    # -- state machines -------------------------------------------------------------------
    def _machine_arn(self, name: str) -> str:
        return arns.state_machine_arn(self.spec.region, self.spec.account, name)

    def _create_statemachine(self, action: Action) -> None:
        sm: StateMachineSpec = action.target
        self.clients("stepfunctions").create_state_machine(
            name=sm.name,
            definition=sm.definition,
            roleArn=sm.role_arn,
            type=sm.type,
            tags=[{"key": k, "value": v} for k, v in sorted(sm.tags.items())],
        )
        self.state.state_machines[sm.logical_id] = sm.name

    def _update_statemachine(self, action: Action) -> None:
        c: StateMachineChange = action.target
        sfn = self.clients("stepfunctions")
        arn = self._machine_arn(c.spec.name)
        if c.replace:
            sfn.delete_state_machine(stateMachineArn=arn)
            self._create_statemachine(Action("create", "statemachine", c.spec.name, target=c.spec))
            return
        sfn.update_state_machine(
            stateMachineArn=arn, definition=c.spec.definition, roleArn=c.spec.role_arn
        )
        if c.tags_set:
            sfn.tag_resource(
                resourceArn=arn,
                tags=[{"key": k, "value": v} for k, v in sorted(c.tags_set.items())],
            )
        if c.tags_removed:
            sfn.untag_resource(resourceArn=arn, tagKeys=list(c.tags_removed))
        self.state.state_machines[c.spec.logical_id] = c.spec.name

    def _delete_statemachine(self, action: Action) -> None:
        try:
            self.clients("stepfunctions").delete_state_machine(
                stateMachineArn=self._machine_arn(action.target)
            )
        except ClientError as exc:
            if error_code(exc) != "StateMachineDoesNotExist":
                raise
        self._forget(self.state.state_machines, action.target)

    @staticmethod
    def _forget(mapping: dict[str, str], value: str) -> None:
        for key in [k for k, v in mapping.items() if v == value]:
            del mapping[key]
