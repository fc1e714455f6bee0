"""Queues, buckets and the plain CloudFormation resources Lamina understands, resolved → specs."""

from __future__ import annotations

import json
from typing import Any, Literal

from lamina import arns
from lamina.errors import AwsServiceError
from lamina.sam import names
from lamina.sam.errors import TemplateError
from lamina.sam.model import (
    LogGroupSpec,
    MappingSpec,
    NotificationSpec,
    QueueSpec,
    ScheduleSpec,
    Skipped,
    SubscriptionSpec,
    TopicSpec,
    UrlSpec,
)
from lamina.services.eventbridge.requests import parse_sqs_parameters

_QUEUE_NUMBERS = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
)
_QUEUE_PASSED = (
    "KmsMasterKeyId",
    "KmsDataKeyReusePeriodSeconds",
    "SqsManagedSseEnabled",
    "ContentBasedDeduplication",
    "DeduplicationScope",
    "FifoThroughputLimit",
)
# Resource types that mean nothing on Lamina: listed as ignored, with the reason.
IGNORED_TYPES = {
    "AWS::IAM::Role": "Lamina has no IAM",
    "AWS::IAM::Policy": "Lamina has no IAM",
    "AWS::IAM::ManagedPolicy": "Lamina has no IAM",
    "AWS::Lambda::Permission": "Lamina has no IAM: event sources may always invoke",
    "AWS::SQS::QueuePolicy": "Lamina has no IAM",
    "AWS::S3::BucketPolicy": "Lamina has no IAM",
    "AWS::Serverless::Connector": "Lamina has no IAM",
    "AWS::SNS::TopicPolicy": "Lamina does not enforce topic policies",
}
# An AWS::SNS::Topic's properties that become topic attributes, as CreateTopic names them.
_TOPIC_ATTRIBUTES = {
    "DisplayName": "DisplayName",
    "KmsMasterKeyId": "KmsMasterKeyId",
    "SignatureVersion": "SignatureVersion",
    "TracingConfig": "TracingConfig",
    "DeliveryPolicy": "DeliveryPolicy",
    "ArchivePolicy": "ArchivePolicy",
}
# An AWS::SNS::Subscription's properties that become subscription attributes.
_SUBSCRIPTION_ATTRIBUTES = (
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "DeliveryPolicy",
)


def log_group_spec(lid: str, name: str, props: dict[str, Any]) -> LogGroupSpec:
    retention = props.get("RetentionInDays")
    try:
        days = None if retention is None else int(retention)
    except (TypeError, ValueError):
        raise TemplateError(f"{lid}: RetentionInDays must be a number of days") from None
    return LogGroupSpec(lid, name, days)


def tags_of(raw: Any) -> dict[str, str]:
    """A resource's ``Tags``: CloudFormation's ``[{Key, Value}]`` or SAM's mapping."""
    if isinstance(raw, list):
        return {str(t["Key"]): str(t.get("Value", "")) for t in raw if isinstance(t, dict)}
    if isinstance(raw, dict):
        return {str(k): str(v) for k, v in raw.items()}
    return {}


def queue_spec(lid: str, name: str, props: dict[str, Any]) -> tuple[QueueSpec, list[Skipped]]:
    attrs: dict[str, str] = {}
    if str(props.get("FifoQueue", "false")).lower() == "true":
        attrs["FifoQueue"] = "true"  # the name ends .fifo (references.Catalog.name)
    for key in _QUEUE_NUMBERS:
        if key in props:
            attrs[key] = str(int(props[key]))
    for key in ("RedrivePolicy", "RedriveAllowPolicy"):
        if key in props:
            value = props[key]
            attrs[key] = value if isinstance(value, str) else json.dumps(value)
    for key in _QUEUE_PASSED:
        if key in props:
            value = props[key]
            attrs[key] = str(value).lower() if isinstance(value, bool) else str(value)
    skipped = [
        Skipped(f"{lid}.{key}", "not a queue property Lamina knows")
        for key in props
        if key not in (*_QUEUE_NUMBERS, *_QUEUE_PASSED, "RedrivePolicy", "RedriveAllowPolicy")
        and key not in ("QueueName", "Tags", "FifoQueue")
    ]
    return QueueSpec(lid, name, attrs, tags_of(props.get("Tags"))), skipped


def _attribute_text(value: Any) -> str:
    """A CloudFormation property as SNS's attribute text: JSON for objects, lower-case
    booleans, the rest as written."""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def topic_spec(
    lid: str, name: str, arn: str, props: dict[str, Any]
) -> tuple[TopicSpec, list[SubscriptionSpec], list[Skipped]]:
    """An ``AWS::SNS::Topic``, the subscriptions its ``Subscription`` list names, and what is
    left out (FIFO topics are refused: Lamina's SNS has standard topics only)."""
    if str(props.get("FifoTopic", "false")).lower() == "true":
        raise TemplateError(f"{lid}: FifoTopic: Lamina's SNS has standard topics only")
    attributes = {
        attr: _attribute_text(props[key]) for key, attr in _TOPIC_ATTRIBUTES.items() if key in props
    }
    subscriptions = []
    for i, item in enumerate(props.get("Subscription") or []):
        if not isinstance(item, dict) or not item.get("Endpoint") or not item.get("Protocol"):
            raise TemplateError(f"{lid}.Subscription[{i}] needs an Endpoint and a Protocol")
        subscriptions.append(
            SubscriptionSpec(
                f"{lid}.Subscription{i}", arn, str(item["Protocol"]), str(item["Endpoint"])
            )
        )
    skipped = [
        Skipped(f"{lid}.{key}", "not a topic property Lamina keeps")
        for key in props
        if key not in (*_TOPIC_ATTRIBUTES, "TopicName", "Tags", "Subscription", "FifoTopic")
    ]
    return TopicSpec(lid, name, attributes, tags_of(props.get("Tags"))), subscriptions, skipped


def subscription_spec(lid: str, props: dict[str, Any]) -> tuple[SubscriptionSpec, list[Skipped]]:
    """An ``AWS::SNS::Subscription``."""
    for key in ("TopicArn", "Protocol", "Endpoint"):
        if not props.get(key):
            raise TemplateError(f"{lid}: an SNS subscription needs {key}")
    attributes = {
        key: _attribute_text(props[key]) for key in _SUBSCRIPTION_ATTRIBUTES if key in props
    }
    skipped = [
        Skipped(f"{lid}.{key}", "not a subscription property Lamina keeps")
        for key in props
        if key not in (*_SUBSCRIPTION_ATTRIBUTES, "TopicArn", "Protocol", "Endpoint", "Region")
    ]
    spec = SubscriptionSpec(
        lid, str(props["TopicArn"]), str(props["Protocol"]), str(props["Endpoint"]), attributes
    )
    return spec, skipped


def _filter(config: dict[str, Any]) -> tuple[str, str]:
    prefix = suffix = ""
    for rule in ((config.get("Filter") or {}).get("S3Key") or {}).get("Rules") or []:
        if str(rule.get("Name", "")).lower() == "prefix":
            prefix = str(rule.get("Value", ""))
        elif str(rule.get("Name", "")).lower() == "suffix":
            suffix = str(rule.get("Value", ""))
    return prefix, suffix


def bucket_notifications(
    lid: str, props: dict[str, Any]
) -> tuple[list[NotificationSpec], list[Skipped]]:
    """A bucket's own NotificationConfiguration (CloudFormation style), plus what is left out."""
    out: list[NotificationSpec] = []
    skipped: list[Skipped] = []
    config = props.get("NotificationConfiguration") or {}
    kinds: tuple[tuple[str, str, Literal["lambda", "queue"], str], ...] = (
        ("LambdaConfigurations", "Lambda", "lambda", "Function"),
        ("QueueConfigurations", "Queue", "queue", "Queue"),
    )
    for key, id_word, kind, target in kinds:
        for i, item in enumerate(config.get(key) or []):
            prefix, suffix = _filter(item)
            out.append(
                NotificationSpec(
                    f"{lid}{id_word}{i}",
                    kind,
                    str(item[target]),
                    (str(item["Event"]),),
                    prefix,
                    suffix,
                )
            )
    for key in config:
        if key not in ("LambdaConfigurations", "QueueConfigurations"):
            skipped.append(Skipped(f"{lid}.NotificationConfiguration.{key}", "no SNS/EventBridge"))
    for key in props:
        if key not in ("BucketName", "NotificationConfiguration"):
            skipped.append(
                Skipped(
                    f"{lid}.{key}",
                    "not applied: Lamina's S3 keeps every object as uploaded (one version, "
                    "no encryption, lifecycle or replication)",
                    ignored=True,
                )
            )
    return out, skipped


def mapping_spec(lid: str, props: dict[str, Any], region: str, account: str) -> MappingSpec:
    source = str(props.get("EventSourceArn", ""))
    queue = names.queue_name_from(source)
    if queue is None:
        raise TemplateError(f"{lid}: only SQS event sources are supported, not {source!r}")
    fn, qualifier = arns.split_function_arn(str(props.get("FunctionName", "")))
    scaling = props.get("ScalingConfig") or {}
    return MappingSpec(
        key=lid,
        queue_arn=arns.queue_arn(region, account, queue),
        function_name=fn,
        qualifier=qualifier,
        batch_size=int(props.get("BatchSize", 10)),
        batching_window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        enabled=str(props.get("Enabled", True)).lower() != "false",
        report_batch_item_failures="ReportBatchItemFailures"
        in (props.get("FunctionResponseTypes") or []),
        maximum_concurrency=int(scaling["MaximumConcurrency"])
        if scaling.get("MaximumConcurrency")
        else None,
    )


def url_spec(props: dict[str, Any]) -> tuple[str, str | None, UrlSpec]:
    """An ``AWS::Lambda::Url``: (function name, qualifier, settings)."""
    fn, qualifier = arns.split_function_arn(str(props.get("TargetFunctionArn", "")))
    return (
        fn,
        str(props["Qualifier"]) if props.get("Qualifier") else qualifier,
        UrlSpec(
            str(props.get("AuthType", "NONE")),
            str(props.get("InvokeMode", "BUFFERED")),
            props.get("Cors") or None,
        ),
    )


def schedule_spec(
    key: str, name: str, props: dict[str, Any], target: dict[str, Any], notes: list[str]
) -> ScheduleSpec:
    """An ``AWS::Scheduler::Schedule`` (``target`` = its ``Target``) or a ``ScheduleV2``
    event (the event's properties, the function as target)."""
    expr = str(props.get("ScheduleExpression") or "")
    if not expr.startswith(("rate(", "cron(")):
        raise TemplateError(f"{key}: schedule {expr!r}: Lamina's schedules are rate() and cron()")
    tz = props.get("ScheduleExpressionTimezone")
    if tz and str(tz) not in ("UTC", "Etc/UTC"):
        notes.append(f"{key}: ScheduleExpressionTimezone {tz} ignored: cron is UTC")
    for ignored in ("StartDate", "EndDate", "KmsKeyArn"):
        if props.get(ignored):
            notes.append(f"{key}: {ignored} is not supported by Lamina's schedules; ignored")
    window = props.get("FlexibleTimeWindow") or {"Mode": "OFF"}
    minutes = None
    if isinstance(window, dict) and window.get("Mode") == "FLEXIBLE":
        minutes = int(window.get("MaximumWindowInMinutes") or 0)
        if not 1 <= minutes <= 1440:
            raise TemplateError(f"{key}: FlexibleTimeWindow.MaximumWindowInMinutes must be 1-1440")
    policy = target.get("RetryPolicy") or {}
    if not isinstance(policy, dict):
        raise TemplateError(f"{key}: RetryPolicy must be a mapping")
    if target.get("DeadLetterConfig"):
        notes.append(f"{key}: the schedule's DeadLetterConfig is not supported; ignored")
    text = target.get("Input")
    retries, age = policy.get("MaximumRetryAttempts"), policy.get("MaximumEventAgeInSeconds")
    try:
        group = parse_sqs_parameters(target.get("SqsParameters"), "Target")
    except AwsServiceError as exc:
        raise TemplateError(f"{key}: {exc.message}") from None
    return ScheduleSpec(
        key=key,
        name=name,
        expression=expr,
        target_arn=str(target.get("Arn") or ""),
        enabled=str(props.get("State", "ENABLED")) == "ENABLED",
        description=str(props.get("Description") or ""),
        group=str(props.get("GroupName") or "default"),
        window_minutes=minutes,
        input=None if text is None else text if isinstance(text, str) else json.dumps(text),
        max_retries=None if retries is None else int(retries),
        max_age_s=None if age is None else int(age),
        message_group_id=group,
    )


def schedule_event(
    key: str, name: str, props: dict[str, Any], target_arn: str, notes: list[str]
) -> ScheduleSpec:
    """A SAM ``ScheduleV2`` event: an EventBridge Scheduler schedule of ``target_arn`` (the
    function or state machine), with the event's Input, RetryPolicy and DeadLetterConfig."""
    target = {
        "Arn": target_arn,
        "Input": props.get("Input"),
        "RetryPolicy": props.get("RetryPolicy"),
        "DeadLetterConfig": props.get("DeadLetterConfig"),
    }
    return schedule_spec(key, name, props, target, notes)
