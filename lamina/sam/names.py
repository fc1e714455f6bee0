"""Physical names for resources a template leaves unnamed, and the ARNs Lamina gives them.

CloudFormation names an unnamed resource ``<stack>-<LogicalId>-<random>``; Lamina drops the
random part so a second ``lamina up`` finds the same resource, and shortens a name that
would be too long with a stable hash, so names stay unique and valid.
"""

from __future__ import annotations

import hashlib
import re

_FN_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_QUEUE_CHARS = re.compile(r"[^A-Za-z0-9_-]")
_BUCKET_CHARS = re.compile(r"[^a-z0-9.-]")
_RULE_CHARS = re.compile(r"[^.\-_A-Za-z0-9]")
_STACK_CHARS = re.compile(r"[^A-Za-z0-9-]")


def _fit(name: str, limit: int) -> str:
    """``name`` itself when short enough, else a prefix plus an 8-hex hash of the whole."""
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[: limit - 9]}-{digest}"


def stack_name(raw: str) -> str:
    """A CloudFormation-valid stack name: letters, digits and hyphens, starting with a letter."""
    name = _STACK_CHARS.sub("-", raw).strip("-") or "lamina"
    if not name[0].isalpha():
        name = "stack-" + name
    return _fit(name, 128)


def function_name(stack: str, logical_id: str) -> str:
    return _fit(_FN_CHARS.sub("-", f"{stack}-{logical_id}"), 64)


def queue_name(stack: str, logical_id: str) -> str:
    return _fit(_QUEUE_CHARS.sub("-", f"{stack}-{logical_id}"), 80)


def bucket_name(stack: str, logical_id: str) -> str:
    name = _BUCKET_CHARS.sub("-", f"{stack}-{logical_id}".lower()).strip(".-")
    name = re.sub(r"-{2,}", "-", name)
    if len(name) < 3:
        name = f"{name}-bucket"
    return _fit(name, 63)


def rule_name(stack: str, function_logical_id: str, event: str) -> str:
    return _fit(_RULE_CHARS.sub("-", f"{stack}-{function_logical_id}-{event}"), 64)


def schedule_name(stack: str, logical_id: str) -> str:
    """An ``AWS::Scheduler::Schedule`` without a Name: ``<stack>-<LogicalId>``."""
    return _fit(_RULE_CHARS.sub("-", f"{stack}-{logical_id}"), 64)


def api_id(stack: str, logical_id: str) -> str:
    """A 10-character id, stable for a stack's API, like API Gateway's."""
    return hashlib.sha256(f"{stack}/{logical_id}".encode()).hexdigest()[:10]


def role_name(stack: str, logical_id: str) -> str:
    """SAM's ``<stack>-<Fn>Role``, kept within IAM's 64 characters (a hash tail when cut)."""
    name = f"{stack}-{logical_id}Role"
    if len(name) <= 64:
        return name
    tail = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{name[:55]}-{tail}"


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def queue_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{account}:{name}"


def queue_name_from(ref: str) -> str | None:
    """The queue name in a queue ARN or URL (templates pass either as an SQS event's Queue)."""
    if ref.startswith("arn:"):
        parts = ref.split(":")
        return parts[5] if len(parts) == 6 and parts[2] == "sqs" else None
    if ref.startswith(("http://", "https://")):
        return ref.rstrip("/").rsplit("/", 1)[-1] or None
    return None


def bucket_arn(name: str) -> str:
    return f"arn:aws:s3:::{name}"


def rule_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:rule/{name}"


def layer_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account}:layer:{name}:1"


# ARN shapes of resources Lamina does not create, so a template's Outputs and variables
# read as they would on AWS (not as a made-up "stand-in" service).
_ARN_SHAPES = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::Serverless::SimpleTable": "arn:aws:dynamodb:{r}:{a}:table/{n}",
    "AWS::SNS::Topic": "arn:aws:sns:{r}:{a}:{n}",
    "AWS::StepFunctions::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::Serverless::StateMachine": "arn:aws:states:{r}:{a}:stateMachine:{n}",
    "AWS::Kinesis::Stream": "arn:aws:kinesis:{r}:{a}:stream/{n}",
    "AWS::IAM::Role": "arn:aws:iam::{a}:role/{n}",
    "AWS::IAM::Policy": "arn:aws:iam::{a}:policy/{n}",
    "AWS::IAM::ManagedPolicy": "arn:aws:iam::{a}:policy/{n}",
    "AWS::Logs::LogGroup": "arn:aws:logs:{r}:{a}:log-group:{n}:*",
    "AWS::KMS::Key": "arn:aws:kms:{r}:{a}:key/{n}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:{r}:{a}:secret:{n}",
    "AWS::SSM::Parameter": "arn:aws:ssm:{r}:{a}:parameter/{n}",
    "AWS::Events::EventBus": "arn:aws:events:{r}:{a}:event-bus/{n}",
    "AWS::Cognito::UserPool": "arn:aws:cognito-idp:{r}:{a}:userpool/{n}",
}


def resource_arn(kind: str, region: str, account: str, name: str) -> str:
    """The ARN a resource of CloudFormation type ``kind`` named ``name`` would have."""
    shape = _ARN_SHAPES.get(kind)
    if shape is None:
        # AWS::Service::Thing -> arn:aws:service:<region>:<account>:thing/<name>
        parts = kind.split("::")
        service = parts[1].lower() if len(parts) == 3 else "cloudformation"
        thing = parts[2].lower() if len(parts) == 3 else "resource"
        shape = f"arn:aws:{service}:{{r}}:{{a}}:{thing}/{{n}}"
    return shape.format(r=region, a=account, n=name)


def split_function_arn(arn: str) -> tuple[str, str | None]:
    """(name, qualifier) of a function ARN, or of a plain name."""
    if not arn.startswith("arn:"):
        name, _, qualifier = arn.partition(":")
        return name, qualifier or None
    parts = arn.split(":")
    return parts[6], (parts[7] if len(parts) > 7 else None)
