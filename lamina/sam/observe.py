"""Read what Lamina has for a stack (its desired names, its state file, its tagged functions).

A service the server does not answer (an older Lamina, or one without event sources) is
recorded in :attr:`Current.unavailable` with the reason, and the plan leaves that part out
instead of failing the whole ``up``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lamina import arns
from lamina.client.boto import BotoClients
from lamina.client.http import ClientError as LaminaClientError
from lamina.sam.apis import api_wants
from lamina.sam.current import (
    Current,
    CurrentFunction,
    CurrentMapping,
    CurrentRule,
    CurrentSubscription,
)
from lamina.sam.errors import DeployError
from lamina.sam.model import STACK_TAG, StackSpec, TargetSpec
from lamina.sam.state import StackState

NOT_FOUND = {
    "ResourceNotFoundException",
    "NoSuchBucket",
    "404",
    "NotFound",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
}


def error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def describe_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', '?')}: {err.get('Message', '')}".strip()
    return str(exc)


def _probe(current: Current, service: str, call: Any) -> bool:
    try:
        call()
    except (ClientError, BotoCoreError) as exc:
        current.unavailable[service] = f"this Lamina does not serve it ({describe_error(exc)})"
        return False
    return True


def _function(lam: Any, name: str, alias: str | None) -> CurrentFunction | None:
    try:
        got = lam.get_function(FunctionName=name)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return None
        raise
    reserved = (got.get("Concurrency") or {}).get("ReservedConcurrentExecutions")
    aliases: dict[str, str] = {}
    pinned: dict[str, dict[str, Any]] = {}
    for page in lam.get_paginator("list_aliases").paginate(FunctionName=name):
        for a in page["Aliases"]:
            aliases[a["Name"]] = a["FunctionVersion"]
    if alias and alias in aliases:
        pinned[alias] = lam.get_function_configuration(FunctionName=name, Qualifier=aliases[alias])
    url = None
    try:
        url = lam.get_function_url_config(
            FunctionName=name, **({"Qualifier": alias} if alias else {})
        )
    except ClientError as exc:
        if error_code(exc) not in NOT_FOUND:
            raise
    return CurrentFunction(
        name,
        got["Configuration"],
        dict(got.get("Tags") or {}),
        reserved,
        url,
        aliases,
        pinned,
        _invoke_config(lam, name, alias if alias in aliases else None),
        _provisioned(lam, name, alias) if alias and alias in aliases else None,
        _recursive_loop(lam, name),
    )


def _recursive_loop(lam: Any, name: str) -> str:
    """The function's RecursiveLoop (Terminate where it is not served)."""
    try:
        return str(lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"])
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND:
            return "Terminate"
        raise


def _provisioned(lam: Any, name: str, alias: str) -> int | None:
    """The alias's requested provisioned concurrency (None: none, or not served)."""
    try:
        got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier=alias)
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND or error_code(exc) in (
            "ProvisionedConcurrencyConfigNotFoundException",
            "UnknownOperationException",
        ):
            return None
        raise
    return int(got["RequestedProvisionedConcurrentExecutions"])


def _invoke_config(
    lam: Any, name: str, alias: str | None
) -> tuple[int | None, int | None, str | None, str | None] | None:
    try:
        got = lam.get_function_event_invoke_config(FunctionName=name, Qualifier=alias or "$LATEST")
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND or error_code(exc) == "UnknownOperationException":
            return None
        raise
    dest = got.get("DestinationConfig") or {}
    return (
        got.get("MaximumRetryAttempts"),
        got.get("MaximumEventAgeInSeconds"),
        (dest.get("OnSuccess") or {}).get("Destination"),
        (dest.get("OnFailure") or {}).get("Destination"),
    )


def observe_functions(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    lam = clients("lambda")
    aliases = {f.name: f.alias for f in spec.functions.values()}
    wanted = set(aliases) | set(state.functions.values())
    # Functions tagged with this stack, in case the state file was lost.
    for page in lam.get_paginator("list_functions").paginate():
        for f in page["Functions"]:
            if f["FunctionName"] not in wanted:
                tags = lam.list_tags(Resource=f["FunctionArn"]).get("Tags") or {}
                if tags.get(STACK_TAG) == spec.name:
                    wanted.add(f["FunctionName"])
    for name in sorted(wanted):
        found = _function(lam, name, aliases.get(name) or state.aliases.get(name))
        if found is not None:
            current.functions[name] = found


def observe_queues(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    sqs = clients("sqs")
    if not _probe(current, "sqs", lambda: sqs.list_queues(MaxResults=1)):
        return
    for name in sorted({q.name for q in spec.queues.values()} | set(state.queues.values())):
        try:
            url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
            attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue
            raise
        current.queues[name] = dict(attrs.get("Attributes") or {})


def observe_topics(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    """The stack's topics (wanted or in its state file) and the subscriptions of every topic
    the stack names (its own, and the ones its subscriptions are to)."""
    sns = clients("sns")
    if not _probe(current, "sns", sns.list_topics):
        return
    names = {t.name for t in spec.topics.values()} | set(state.topics.values())
    topic_arns = {arns.topic_arn(spec.region, spec.account, n) for n in names}
    topic_arns |= {s.topic_arn for s in spec.subscriptions}
    topic_arns |= {a.rpartition(":")[0] for a in state.subscriptions.values()}
    for name in sorted(names):
        arn = arns.topic_arn(spec.region, spec.account, name)
        try:
            attributes = dict(sns.get_topic_attributes(TopicArn=arn)["Attributes"])
            tags = sns.list_tags_for_resource(ResourceArn=arn).get("Tags") or []
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue
            raise
        attributes["tags"] = json.dumps({t["Key"]: t.get("Value", "") for t in tags})
        current.topics[name] = attributes
    for topic in sorted(topic_arns):
        try:
            pages = sns.get_paginator("list_subscriptions_by_topic").paginate(TopicArn=topic)
            listed = [s for page in pages for s in page.get("Subscriptions") or []]
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue
            raise
        for sub in listed:
            arn = str(sub["SubscriptionArn"])
            got = sns.get_subscription_attributes(SubscriptionArn=arn)["Attributes"]
            current.subscriptions.append(
                CurrentSubscription(arn, topic, sub["Protocol"], sub["Endpoint"], dict(got))
            )


def _notifications(config: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for key, kind, field in (
        ("LambdaFunctionConfigurations", "lambda", "LambdaFunctionArn"),
        ("QueueConfigurations", "queue", "QueueArn"),
    ):
        for item in config.get(key) or []:
            prefix = suffix = ""
            for rule in ((item.get("Filter") or {}).get("Key") or {}).get("FilterRules") or []:
                if str(rule.get("Name", "")).lower() == "prefix":
                    prefix = rule.get("Value", "")
                elif str(rule.get("Name", "")).lower() == "suffix":
                    suffix = rule.get("Value", "")
            out.append(
                {
                    "Id": item.get("Id", ""),
                    "kind": kind,
                    "target": item[field],
                    "events": sorted(item.get("Events") or []),
                    "prefix": prefix,
                    "suffix": suffix,
                }
            )
    return out


def observe_buckets(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    s3 = clients("s3")
    if not _probe(current, "s3", s3.list_buckets):
        return
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    for name in sorted({b.name for b in spec.buckets.values()} | set(state.buckets.values())):
        if name not in existing:
            continue
        config = s3.get_bucket_notification_configuration(Bucket=name)
        current.buckets[name] = _notifications(config)


def _target(t: dict[str, Any]) -> TargetSpec:
    policy = t.get("RetryPolicy") or {}
    return TargetSpec(
        t["Id"],
        t["Arn"],
        t.get("Input"),
        t.get("InputPath"),
        policy.get("MaximumRetryAttempts"),
        policy.get("MaximumEventAgeInSeconds"),
        (t.get("SqsParameters") or {}).get("MessageGroupId"),
    )


def observe_rules(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    events = clients("events")
    if not _probe(current, "events", lambda: events.list_rules(Limit=1)):
        return
    for name in sorted({r.name for r in spec.rules} | set(state.rules.values())):
        try:
            rule = events.describe_rule(Name=name)
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND:
                continue
            raise
        targets = events.list_targets_by_rule(Rule=name).get("Targets") or []
        current.rules[name] = CurrentRule(
            name,
            rule.get("ScheduleExpression", ""),
            rule.get("State") == "ENABLED",
            rule.get("Description", ""),
            tuple(_target(t).compared() for t in targets),
            rule.get("EventPattern"),
        )


def observe_schedules(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    if not spec.schedules and not state.schedules:
        return
    scheduler = clients("scheduler")
    if not _probe(current, "scheduler", lambda: scheduler.list_schedules(MaxResults=1)):
        return
    keys = {f"{s.group}/{s.name}" for s in spec.schedules} | set(state.schedules.values())
    for key in sorted(keys):
        group, _, name = key.partition("/")
        try:
            current.schedules[key] = scheduler.get_schedule(Name=name, GroupName=group)
        except ClientError as exc:
            if error_code(exc) not in NOT_FOUND:
                raise


def observe_mappings(clients: BotoClients, spec: StackSpec, current: Current) -> None:
    lam = clients("lambda")
    service = "event-source-mappings"
    if not _probe(current, service, lambda: lam.list_event_source_mappings(MaxItems=1)):
        return
    for page in lam.get_paginator("list_event_source_mappings").paginate():
        for m in page["EventSourceMappings"]:
            scaling = m.get("ScalingConfig") or {}
            current.mappings.append(
                CurrentMapping(
                    m["UUID"],
                    m.get("EventSourceArn", ""),
                    m.get("FunctionArn", ""),
                    int(m.get("BatchSize", 10)),
                    int(m.get("MaximumBatchingWindowInSeconds", 0)),
                    m.get("State") not in ("Disabled", "Disabling"),
                    "ReportBatchItemFailures" in (m.get("FunctionResponseTypes") or []),
                    scaling.get("MaximumConcurrency"),
                )
            )


def observe_state_machines(
    clients: BotoClients, spec: StackSpec, state: StackState, current: Current
) -> None:
    """The stack's state machines: those the template wants and those its state names."""
    if not spec.state_machines and not state.state_machines:
        return
    sfn = clients("stepfunctions")
    if not _probe(current, "stepfunctions", lambda: sfn.list_state_machines(maxResults=1)):
        return
    wanted = {m.name for m in spec.state_machines.values()} | set(state.state_machines.values())
    for name in sorted(wanted):
        arn = arns.state_machine_arn(spec.region, spec.account, name)
        try:
            got = sfn.describe_state_machine(stateMachineArn=arn)
        except ClientError as exc:
            if error_code(exc) == "StateMachineDoesNotExist":
                continue
            raise
        listed = sfn.list_tags_for_resource(resourceArn=arn).get("tags") or []
        got["tags"] = {str(t["key"]): str(t.get("value", "")) for t in listed}
        current.state_machines[name] = got


def read_routes(path: Path | None, stack: str) -> list[dict[str, str]] | None:
    """This stack's entries in the routes file (``[]`` when it has none or no file yet)."""
    if path is None:
        return None
    try:
        doc = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, ValueError):
        return []
    entries = (doc.get("laminaStacks") or {}).get(stack) or []
    return sorted(entries, key=lambda e: e["route"])


def observe(
    clients: BotoClients, spec: StackSpec, state: StackState, routes_file: Path | None
) -> Current:
    """Everything the plan compares against. Raises on an unreachable Lamina."""
    current = Current()
    observe_functions(clients, spec, state, current)
    observe_queues(clients, spec, state, current)
    observe_topics(clients, spec, state, current)
    observe_buckets(clients, spec, state, current)
    observe_rules(clients, spec, state, current)
    observe_schedules(clients, spec, state, current)
    observe_mappings(clients, spec, current)
    observe_state_machines(clients, spec, state, current)
    if routes_file is not None:
        current.routes = read_routes(routes_file, spec.name)
    else:
        current.apis = observe_apis(clients, spec, state)
    return current


def observe_at(
    endpoint: str,
    clients: BotoClients,
    spec: StackSpec,
    state: StackState,
    routes_file: Path | None,
) -> Current:
    """:func:`observe`, with Lamina at ``endpoint`` unreachable (or failing) as one
    :class:`DeployError` that says so."""
    try:
        return observe(clients, spec, state, routes_file)
    except (BotoCoreError, ClientError, LaminaClientError) as exc:
        raise DeployError(
            f"cannot read what Lamina at {endpoint} has ({describe_error(exc)}); "
            "is `lamina serve` running there?"
        ) from None


def observe_apis(
    clients: BotoClients, spec: StackSpec, state: StackState
) -> dict[str, dict[str, Any]]:
    """The stack's APIs as the server has them: the wanted ones, those its state file names,
    and those named ``<stack>/...`` (so a lost state file still finds them)."""
    listed = clients.lamina().call("GET", "/lamina/v1/apis").get("apis") or []
    ids = set(api_wants(spec)) | set(state.apis.values())
    mine = f"{spec.name}/"
    return {
        str(api["apiId"]): api
        for api in listed
        if api.get("apiId") in ids or str(api.get("name", "")).startswith(mine)
    }
