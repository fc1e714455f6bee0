"""Topic and subscription attributes: which may be set, their checks and defaults (pure)."""

from __future__ import annotations

import json
import re

from lamina.arns import parse_arn
from lamina.services.sns.errors import invalid_parameter
from lamina.services.sns.filter import ATTRIBUTES, parse_filter_policy

TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_FEEDBACK = [
    f"{proto}{kind}"
    for proto in ("Application", "Firehose", "HTTP", "Lambda", "SQS")
    for kind in ("SuccessFeedbackRoleArn", "SuccessFeedbackSampleRate", "FailureFeedbackRoleArn")
]
TOPIC_SETTABLE = frozenset(
    {
        "DisplayName",
        "Policy",
        "DeliveryPolicy",
        "KmsMasterKeyId",
        "SignatureVersion",
        "TracingConfig",
        "FifoTopic",
        "ContentBasedDeduplication",
        "ArchivePolicy",
        "FifoThroughputScope",
        *_FEEDBACK,
    }
)
SUBSCRIPTION_SETTABLE = frozenset(
    {
        "DeliveryPolicy",
        "FilterPolicy",
        "FilterPolicyScope",
        "RawMessageDelivery",
        "RedrivePolicy",
        "SubscriptionRoleArn",
        "ReplayPolicy",
    }
)
# What Lamina delivers to; the other SNS protocols are refused by name.
PROTOCOLS = ("lambda", "sqs")
OTHER_PROTOCOLS = ("http", "https", "email", "email-json", "sms", "application", "firehose")
# Where RawMessageDelivery means something (AWS refuses it elsewhere).
RAW_PROTOCOLS = ("sqs", "http", "https", "firehose")


def default_policy(topic_arn: str, account: str) -> str:
    """The access policy AWS gives a new topic: its owner may do everything."""
    actions = [
        "SNS:GetTopicAttributes",
        "SNS:SetTopicAttributes",
        "SNS:AddPermission",
        "SNS:RemovePermission",
        "SNS:DeleteTopic",
        "SNS:Subscribe",
        "SNS:ListSubscriptionsByTopic",
        "SNS:Publish",
    ]
    return json.dumps(
        {
            "Version": "2008-10-17",
            "Id": "__default_policy_ID",
            "Statement": [
                {
                    "Sid": "__default_statement_ID",
                    "Effect": "Allow",
                    "Principal": {"AWS": "*"},
                    "Action": actions,
                    "Resource": topic_arn,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": account}},
                }
            ],
        },
        separators=(",", ":"),
    )


EFFECTIVE_DELIVERY_POLICY = json.dumps(
    {
        "http": {
            "defaultHealthyRetryPolicy": {
                "minDelayTarget": 20,
                "maxDelayTarget": 20,
                "numRetries": 3,
                "numMaxDelayRetries": 0,
                "numNoDelayRetries": 0,
                "numMinDelayRetries": 0,
                "backoffFunction": "linear",
            },
            "disableSubscriptionOverrides": False,
            "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"},
        }
    },
    separators=(",", ":"),
)


def check_topic_attribute(name: str, value: str) -> None:
    """Raise InvalidParameter for an attribute a topic cannot have (or Lamina cannot honour)."""
    if name not in TOPIC_SETTABLE:
        raise invalid_parameter("Invalid parameter: AttributeName")
    if name == "FifoTopic":
        if value.lower() == "true":
            raise invalid_parameter(
                "Invalid parameter: Attributes Reason: FifoTopic: Lamina's SNS has standard "
                "topics only"
            )
        if value.lower() != "false":
            raise invalid_parameter("Invalid parameter: Attributes Reason: FifoTopic")
    if name in ("Policy", "DeliveryPolicy", "ArchivePolicy") and value:
        try:
            ok = isinstance(json.loads(value), dict)
        except ValueError:
            ok = False
        if not ok:
            raise invalid_parameter(f"Invalid parameter: {name}")
    if name == "DisplayName" and len(value) > 100:
        raise invalid_parameter("Invalid parameter: DisplayName")
    if name == "SignatureVersion" and value not in ("1", "2"):
        raise invalid_parameter("Invalid parameter: SignatureVersion")
    if name == "TracingConfig" and value not in ("PassThrough", "Active"):
        raise invalid_parameter("Invalid parameter: TracingConfig")


def check_subscription_attribute(name: str, value: str, protocol: str, scope: str) -> None:
    """Raise InvalidParameter for an attribute SNS refuses on a ``protocol`` subscription
    (``scope``: the filter policy scope it will have)."""
    if name not in SUBSCRIPTION_SETTABLE:
        raise invalid_parameter("Invalid parameter: AttributeName")
    if name == "RawMessageDelivery":
        if value.lower() not in ("true", "false"):
            raise invalid_parameter("Invalid parameter: RawMessageDelivery")
        if value.lower() == "true" and protocol not in RAW_PROTOCOLS:
            raise invalid_parameter(
                f"Invalid parameter: Attributes Reason: Delivery protocol [{protocol}] does "
                "not support raw message delivery."
            )
    elif name == "FilterPolicy":
        parse_filter_policy(value, scope)
    elif name == "FilterPolicyScope":
        parse_filter_policy("", value)  # checks the scope's name
    elif name == "RedrivePolicy" and value:
        check_redrive(value)
    elif name == "DeliveryPolicy" and value:
        try:
            ok = isinstance(json.loads(value), dict)
        except ValueError:
            ok = False
        if not ok:
            raise invalid_parameter("Invalid parameter: DeliveryPolicy")


def check_redrive(value: str) -> str:
    """The dead-letter queue's ARN of a ``RedrivePolicy``."""
    try:
        policy = json.loads(value)
    except ValueError:
        policy = None
    target = policy.get("deadLetterTargetArn") if isinstance(policy, dict) else None
    parsed = parse_arn(target) if isinstance(target, str) else None
    if parsed is None or not parsed.is_queue():
        raise invalid_parameter(
            "Invalid parameter: RedrivePolicy: deadLetterTargetArn must be an SQS queue ARN"
        )
    assert isinstance(target, str)
    return target


def scope_of(attributes: dict[str, str]) -> str:
    return attributes.get("FilterPolicyScope") or ATTRIBUTES


def is_raw(attributes: dict[str, str]) -> bool:
    return attributes.get("RawMessageDelivery", "false").lower() == "true"
