"""A SAM function's ``Events`` → queue mappings, rules, API routes, bucket notifications.

Events target the function's alias when it has ``AutoPublishAlias`` (as SAM does), else
``$LATEST``. Event types Lamina has no source for (Kinesis, DynamoDB streams, ...) are
listed, not dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from lamina import arns
from lamina.sam import names
from lamina.sam.errors import TemplateError
from lamina.sam.model import (
    ApiRouteSpec,
    FunctionSpec,
    MappingSpec,
    NotificationSpec,
    QueueSpec,
    RuleSpec,
    ScheduleSpec,
    Skipped,
    SubscriptionSpec,
    TargetSpec,
)
from lamina.sam.patterns import EVENT_TYPES, event_rule, json_text, schedule_rule, target_id
from lamina.sam.resources import schedule_event

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"}
UNSUPPORTED_EVENTS = {
    "Kinesis": "no Kinesis streams",
    "DynamoDB": "no DynamoDB streams",
    "CloudWatchLogs": "no CloudWatch Logs subscriptions",
    "IoTRule": "no IoT",
    "AlexaSkill": "no Alexa",
    "Cognito": "no Cognito",
    "MQ": "no Amazon MQ",
    "MSK": "no Kafka",
    "SelfManagedKafka": "no Kafka",
    "DocumentDB": "no DocumentDB",
}


@dataclass
class EventResult:
    mappings: list[MappingSpec] = field(default_factory=list)
    rules: list[RuleSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)
    routes: list[ApiRouteSpec] = field(default_factory=list)
    subscriptions: list[SubscriptionSpec] = field(default_factory=list)
    queues: list[QueueSpec] = field(default_factory=list)  # SNS events' SqsSubscription
    # bucket name → notifications for it
    notifications: dict[str, list[NotificationSpec]] = field(default_factory=dict)
    skipped: list[Skipped] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class EventContext:
    stack: str
    region: str
    account: str
    apis: dict[str, tuple[str, str, str]]  # api id → (logical id, "rest"|"http", stage)


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).lower() == "true"


def _input(value: Any, where: str) -> str | None:
    return None if value is None else json_text(value, f"{where}.Input")


def event_entries(
    owner: str, events: dict[str, Any]
) -> Iterator[tuple[str, str, str, dict[str, Any]]]:
    """The ``Events`` of a function or state machine ``owner``: (event name, where it stands
    in the template, its Type, its Properties); TemplateError for one with no mapping."""
    for event, body in events.items():
        where = f"{owner}.Events.{event}"
        if not isinstance(body, dict):
            raise TemplateError(f"{where} must be a mapping with a Type")
        yield event, where, str(body.get("Type", "")), body.get("Properties") or {}


def _route(
    fn: FunctionSpec, event: str, kind: str, props: dict[str, Any], ctx: EventContext
) -> ApiRouteSpec:
    return api_route(fn.logical_id, event, kind, props, ctx, function=(fn.name, fn.qualifier))


def api_route(
    owner: str,
    event: str,
    kind: str,
    props: dict[str, Any],
    ctx: EventContext,
    *,
    function: tuple[str, str | None] = ("", None),
    state_machine: str | None = None,
) -> ApiRouteSpec:
    """An ``Api`` or ``HttpApi`` event of ``owner`` (a function's, or a state machine's
    when ``state_machine`` is its ARN) → its route on the API it names."""
    where = f"{owner}.Events.{event}"
    ref = props.get("RestApiId" if kind == "Api" else "ApiId")
    implicit = "ServerlessRestApi" if kind == "Api" else "ServerlessHttpApi"
    stage: str | None = None
    if ref is None:
        lid, api_kind = implicit, ("rest" if kind == "Api" else "http")
    elif str(ref) in ctx.apis:
        lid, api_kind, stage = ctx.apis[str(ref)]
    else:
        raise TemplateError(f"{where}: {ref} is not an API of this template")
    if kind == "Api":
        path, method = props.get("Path"), props.get("Method")
        if not path or not method:
            raise TemplateError(f"{where}: an Api event needs Path and Method")
        payload = "1.0"
    else:
        path = props.get("Path") or "$default"
        method = props.get("Method") or "ANY"
        payload = str(props.get("PayloadFormatVersion") or "2.0")
    method = str(method).upper()
    if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
        method = "ANY"
    if method not in _METHODS:
        raise TemplateError(f"{where}: Method {method} is not an HTTP method")
    path = str(path)
    if path != "$default" and not path.startswith("/"):
        raise TemplateError(f"{where}: Path must start with /")
    default_stage = "Prod" if api_kind == "rest" else "$default"
    return ApiRouteSpec(
        key=f"{owner}.{event}",
        api=lid,
        api_kind="rest" if api_kind == "rest" else "http",
        method=method,
        path=path,
        function_name=function[0],
        qualifier=function[1],
        payload_version=payload,
        stage=stage or default_stage,
        state_machine=state_machine,
    )


def _s3_filter(props: dict[str, Any], where: str) -> tuple[str, str]:
    prefix = suffix = ""
    rules = ((props.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []
    for rule in rules:
        name = str(rule.get("Name", "")).lower()
        if name == "prefix":
            prefix = str(rule.get("Value", ""))
        elif name == "suffix":
            suffix = str(rule.get("Value", ""))
        else:
            raise TemplateError(f"{where}: S3 filter rule names are prefix and suffix")
    return prefix, suffix


def sns_subscription(key: str, props: dict[str, Any], function_arn: str) -> SubscriptionSpec:
    """A function's ``SNS`` event: a ``lambda`` subscription of the function (its alias
    with AutoPublishAlias) to ``Topic``, with the event's filter policy."""
    topic = str(props.get("Topic") or "")
    parsed = arns.parse_arn(topic)
    if parsed is None or parsed.service != "sns":
        raise TemplateError(f"{key}: Topic must be a topic ARN (!Ref MyTopic)")
    attributes: dict[str, str] = {}
    policy = props.get("FilterPolicy")
    if policy is not None:
        attributes["FilterPolicy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if props.get("FilterPolicyScope"):
        attributes["FilterPolicyScope"] = str(props["FilterPolicyScope"])
    return SubscriptionSpec(key, topic, "lambda", function_arn, attributes)


def _sns_through_queue(
    fn: FunctionSpec, event: str, props: dict[str, Any], ctx: EventContext, out: EventResult
) -> None:
    """An SNS event with ``SqsSubscription``: as SAM does, the topic feeds a queue (the one
    named by ``QueueArn``, else ``<Function><Event>Queue`` made for it) that an event source
    mapping drains into the function (``BatchSize``, ``Enabled``)."""
    key = f"{fn.logical_id}.{event}"
    raw = props.get("SqsSubscription")
    options = raw if isinstance(raw, dict) else {}
    queue_arn = str(options.get("QueueArn") or "")
    if not queue_arn:
        lid = f"{fn.logical_id}{event}Queue"
        queue = QueueSpec(lid, names.queue_name(ctx.stack, lid))
        out.queues.append(queue)
        queue_arn = arns.queue_arn(ctx.region, ctx.account, queue.name)
    elif names.queue_name_from(queue_arn) is None:
        raise TemplateError(f"{key}: SqsSubscription.QueueArn must be a queue ARN")
    subscription = sns_subscription(key, props, queue_arn)
    out.subscriptions.append(
        SubscriptionSpec(key, subscription.topic_arn, "sqs", queue_arn, subscription.attributes)
    )
    out.mappings.append(
        MappingSpec(
            key=key,
            queue_arn=queue_arn,
            function_name=fn.name,
            qualifier=fn.qualifier,
            batch_size=int(options.get("BatchSize", 10)),
            enabled=_bool(options.get("Enabled"), True),
        )
    )


def translate_events(
    fn: FunctionSpec, events: dict[str, Any], buckets: set[str], ctx: EventContext
) -> EventResult:
    """The event sources of one function (``events`` resolved), grouped by kind."""
    out = EventResult()
    target_arn = arns.function_arn(ctx.region, ctx.account, fn.name, fn.qualifier)
    for event, where, kind, props in event_entries(fn.logical_id, events):
        if kind in ("Api", "HttpApi"):
            if props.get("Auth"):
                out.notes.append(f"{where}: Auth is not enforced by Lamina's API routes")
            for unchecked in ("RequestModel", "RequestParameters"):
                if props.get(unchecked):
                    out.skipped.append(
                        Skipped(f"{where}.{unchecked}", "requests are not validated")
                    )
            out.routes.append(_route(fn, event, kind, props, ctx))
        elif kind == "SQS":
            queue = str(props.get("Queue", ""))
            queue_name = names.queue_name_from(queue)
            if queue_name is None:
                raise TemplateError(f"{where}: Queue must be a queue ARN (!GetAtt Q.Arn)")
            if props.get("FilterCriteria"):
                out.skipped.append(Skipped(f"{where}.FilterCriteria", "no event filtering"))
            scaling = props.get("ScalingConfig") or {}
            concurrency = scaling.get("MaximumConcurrency")
            out.mappings.append(
                MappingSpec(
                    key=f"{fn.logical_id}.{event}",
                    queue_arn=arns.queue_arn(ctx.region, ctx.account, queue_name),
                    function_name=fn.name,
                    qualifier=fn.qualifier,
                    batch_size=int(props.get("BatchSize", 10)),
                    batching_window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                    enabled=_bool(props.get("Enabled"), True),
                    report_batch_item_failures="ReportBatchItemFailures"
                    in (props.get("FunctionResponseTypes") or []),
                    maximum_concurrency=None if concurrency is None else int(concurrency),
                )
            )
        elif kind == "ScheduleV2":
            # EventBridge Scheduler, as on AWS: flexible window and retry policy included.
            name = str(props.get("Name") or names.rule_name(ctx.stack, fn.logical_id, event))
            try:
                out.schedules.append(
                    schedule_event(f"{fn.logical_id}.{event}", name, props, target_arn, out.notes)
                )
            except TemplateError as exc:
                out.skipped.append(Skipped(where, str(exc)))
        elif kind == "Schedule":
            tz = props.get("ScheduleExpressionTimezone")
            if tz and str(tz) not in ("UTC", "Etc/UTC"):
                out.notes.append(f"{where}: ScheduleExpressionTimezone {tz} ignored: cron is UTC")
            name = str(props.get("Name") or names.rule_name(ctx.stack, fn.logical_id, event))
            only = TargetSpec(
                target_id(fn.logical_id, event), target_arn, _input(props.get("Input"), where)
            )
            try:
                out.rules.append(schedule_rule(f"{fn.logical_id}.{event}", name, props, only))
            except TemplateError as exc:
                out.skipped.append(Skipped(where, str(exc)))
        elif kind in EVENT_TYPES:
            name = names.rule_name(ctx.stack, fn.logical_id, event)
            try:
                out.rules.append(
                    event_rule(
                        f"{fn.logical_id}.{event}",
                        name,
                        props,
                        target_id(fn.logical_id, event),
                        target_arn,
                        out.notes,
                    )
                )
            except TemplateError as exc:
                out.skipped.append(Skipped(f"{where} ({kind})", str(exc)))
        elif kind == "S3":
            bucket = str(props.get("Bucket", ""))
            if bucket not in buckets:
                raise TemplateError(
                    f"{where}: Bucket must be a bucket of this template (!Ref MyBucket)"
                )
            raw = props.get("Events")
            events_list = raw if isinstance(raw, list) else [raw]
            if not events_list or not all(isinstance(e, str) for e in events_list):
                raise TemplateError(f"{where}: Events must name S3 events (s3:ObjectCreated:*)")
            prefix, suffix = _s3_filter(props, where)
            out.notifications.setdefault(bucket, []).append(
                NotificationSpec(
                    id=target_id(fn.logical_id, event),
                    kind="lambda",
                    target_arn=target_arn,
                    events=tuple(str(e) for e in events_list),
                    prefix=prefix,
                    suffix=suffix,
                )
            )
        elif kind == "SNS":
            try:
                if props.get("SqsSubscription"):
                    _sns_through_queue(fn, event, props, ctx, out)
                else:
                    out.subscriptions.append(
                        sns_subscription(f"{fn.logical_id}.{event}", props, target_arn)
                    )
            except TemplateError as exc:
                out.skipped.append(Skipped(f"{where} ({kind})", str(exc)))
        elif kind in UNSUPPORTED_EVENTS:
            out.skipped.append(Skipped(f"{where} ({kind})", UNSUPPORTED_EVENTS[kind]))
        else:
            out.skipped.append(Skipped(f"{where} ({kind or 'no Type'})", "unknown event type"))
    return out
