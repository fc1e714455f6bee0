"""SAM's ``Policies`` turned into the identity of the role ``lamina up`` makes (pure).

A function's ``Policies`` is one item or a list of: a managed policy name
(``AWSLambdaBasicExecutionRole``) or ARN, an inline policy document (``{Statement: [...]}``),
or a SAM policy template (``{S3ReadPolicy: {BucketName: photos}}``). Templates are expanded
here into the statements SAM documents for them, for the services Lamina serves and the
common others (their ARNs simply match nothing Lamina has). An unknown template is an error
naming it, never a silent allow.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from lamina.arns import aws_managed_policy_arn
from lamina.sam.errors import TemplateError
from lamina.services.iam.managed import managed_by_name

BASIC_EXECUTION = aws_managed_policy_arn("AWSLambdaBasicExecutionRole", "/service-role/")


@dataclass(frozen=True, slots=True)
class _Template:
    actions: tuple[str, ...]
    resources: tuple[str, ...]  # ${Param} placeholders, ${AWS::Region}, ${AWS::AccountId}
    parameters: tuple[str, ...] = ()


_SQS = "arn:aws:sqs:${AWS::Region}:${AWS::AccountId}:${QueueName}"
_S3 = ("arn:aws:s3:::${BucketName}", "arn:aws:s3:::${BucketName}/*")
_DDB = (
    "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}",
    "arn:aws:dynamodb:${AWS::Region}:${AWS::AccountId}:table/${TableName}/index/*",
)

TEMPLATES: dict[str, _Template] = {
    "SQSPollerPolicy": _Template(
        (
            "sqs:ChangeMessageVisibility",
            "sqs:ChangeMessageVisibilityBatch",
            "sqs:DeleteMessage",
            "sqs:DeleteMessageBatch",
            "sqs:GetQueueAttributes",
            "sqs:ReceiveMessage",
        ),
        (_SQS,),
        ("QueueName",),
    ),
    "SQSSendMessagePolicy": _Template(("sqs:SendMessage*",), (_SQS,), ("QueueName",)),
    "LambdaInvokePolicy": _Template(
        ("lambda:InvokeFunction",),
        ("arn:aws:lambda:${AWS::Region}:${AWS::AccountId}:function:${FunctionName}*",),
        ("FunctionName",),
    ),
    "S3ReadPolicy": _Template(
        (
            "s3:GetObject",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetObjectVersion",
            "s3:GetLifecycleConfiguration",
        ),
        _S3,
        ("BucketName",),
    ),
    "S3WritePolicy": _Template(
        (
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:PutLifecycleConfiguration",
        ),
        _S3,
        ("BucketName",),
    ),
    "S3CrudPolicy": _Template(
        (
            "s3:GetObject",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
            "s3:DeleteObject",
        ),
        _S3,
        ("BucketName",),
    ),
    "S3FullAccessPolicy": _Template(
        (
            "s3:GetObject",
            "s3:GetObjectAcl",
            "s3:GetObjectVersion",
            "s3:PutObject",
            "s3:PutObjectAcl",
            "s3:DeleteObject",
            "s3:DeleteObjectTagging",
            "s3:DeleteObjectVersionTagging",
            "s3:GetObjectTagging",
            "s3:GetObjectVersionTagging",
            "s3:PutObjectTagging",
            "s3:PutObjectVersionTagging",
            "s3:ListBucket",
            "s3:GetBucketLocation",
            "s3:GetLifecycleConfiguration",
            "s3:PutLifecycleConfiguration",
        ),
        _S3,
        ("BucketName",),
    ),
    "DynamoDBCrudPolicy": _Template(
        (
            "dynamodb:GetItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:BatchWriteItem",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
            "dynamodb:ConditionCheckItem",
        ),
        _DDB,
        ("TableName",),
    ),
    "DynamoDBReadPolicy": _Template(
        (
            "dynamodb:GetItem",
            "dynamodb:Scan",
            "dynamodb:Query",
            "dynamodb:BatchGetItem",
            "dynamodb:DescribeTable",
        ),
        _DDB,
        ("TableName",),
    ),
    "SNSPublishMessagePolicy": _Template(
        ("sns:Publish",),
        ("arn:aws:sns:${AWS::Region}:${AWS::AccountId}:${TopicName}",),
        ("TopicName",),
    ),
    "StepFunctionsExecutionPolicy": _Template(
        ("states:StartExecution",),
        ("arn:aws:states:${AWS::Region}:${AWS::AccountId}:stateMachine:${StateMachineName}",),
        ("StateMachineName",),
    ),
    "EventBridgePutEventsPolicy": _Template(
        ("events:PutEvents",),
        ("arn:aws:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}",),
        ("EventBusName",),
    ),
    "CloudWatchPutMetricPolicy": _Template(("cloudwatch:PutMetricData",), ("*",)),
    "AWSSecretsManagerGetSecretValuePolicy": _Template(
        ("secretsmanager:GetSecretValue",), ("${SecretArn}",), ("SecretArn",)
    ),
    "SSMParameterReadPolicy": _Template(
        (
            "ssm:DescribeParameters",
            "ssm:GetParameters",
            "ssm:GetParameter",
            "ssm:GetParametersByPath",
        ),
        ("arn:aws:ssm:${AWS::Region}:${AWS::AccountId}:parameter/${ParameterName}",),
        ("ParameterName",),
    ),
}


@dataclass(frozen=True, slots=True)
class RoleIdentity:
    """What a function's role holds: managed policy ARNs and inline documents by name."""

    managed: tuple[str, ...] = (BASIC_EXECUTION,)
    inline: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def role_identity(policies: Any, *, function: str, region: str, account: str) -> RoleIdentity:
    """``Policies`` (already resolved of intrinsics) → the role's policies. SAM always
    attaches AWSLambdaBasicExecutionRole to the roles it makes."""
    items: Sequence[Any] = policies if isinstance(policies, list) else [policies]
    managed: list[str] = [BASIC_EXECUTION]
    statements: list[dict[str, Any]] = []
    inline: dict[str, Mapping[str, Any]] = {}
    for n, item in enumerate(i for i in items if i is not None):
        if isinstance(item, str):
            arn = item if item.startswith("arn:") else _managed_arn(item)
            if arn not in managed:
                managed.append(arn)
        elif isinstance(item, dict) and "Statement" in item:
            inline[f"{function}RolePolicy{n}"] = {"Version": "2012-10-17", **item}
        elif isinstance(item, dict) and (template := _template_item(item)) is not None:
            name, params = template
            statements.append(_expand(name, params, function, region, account))
        else:
            raise TemplateError(
                f"{function}: Policies item {item!r} is not a policy name, document or template"
            )
    if statements:
        inline[f"{function}RolePolicyTemplates"] = {
            "Version": "2012-10-17",
            "Statement": statements,
        }
    return RoleIdentity(tuple(managed), inline)


# AWS managed policies that live under /service-role/ (the rest are at the root path).
_SERVICE_ROLE_POLICIES = frozenset(
    {
        "AWSLambdaBasicExecutionRole",
        "AWSLambdaSQSQueueExecutionRole",
        "AWSLambdaRole",
        "AWSLambdaVPCAccessExecutionRole",
        "AWSLambdaDynamoDBExecutionRole",
        "AWSLambdaKinesisExecutionRole",
    }
)


def _template_item(item: dict[str, Any]) -> tuple[str, Any] | None:
    """``{S3ReadPolicy: {BucketName: b}}``, or the common mis-indented
    ``{S3ReadPolicy: null, BucketName: b}`` that SAM also reads as the template."""
    if len(item) == 1:
        ((name, params),) = item.items()
        return str(name), params
    named = [k for k in item if k in TEMPLATES and not item[k]]
    if len(named) == 1:
        return named[0], {k: v for k, v in item.items() if k != named[0]}
    return None


def _managed_arn(name: str) -> str:
    known = managed_by_name(name)
    if known is not None:
        return known.arn
    # A managed policy Lamina has no copy of: AWS keeps Lambda's own under /service-role/.
    return aws_managed_policy_arn(name, "/service-role/" if name in _SERVICE_ROLE_POLICIES else "/")


def _expand(name: str, params: Any, function: str, region: str, account: str) -> dict[str, Any]:
    template = TEMPLATES.get(name)
    if template is None:
        raise TemplateError(f"{function}: Lamina does not know the SAM policy template {name}")
    values = params if isinstance(params, dict) else {}
    missing = [p for p in template.parameters if p not in values]
    if missing:
        raise TemplateError(f"{function}: {name} needs parameter(s) {', '.join(missing)}")
    substitutions = {
        "AWS::Region": region,
        "AWS::AccountId": account,
        **{k: str(v) for k, v in values.items()},
    }

    def fill(text: str) -> str:
        for key, value in substitutions.items():
            text = text.replace("${" + key + "}", value)
        return text

    resources = [fill(r) for r in template.resources]
    return {
        "Effect": "Allow",
        "Action": list(template.actions),
        "Resource": resources[0] if len(resources) == 1 else resources,
    }
