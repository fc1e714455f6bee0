"""Which IAM action a request performs, on which resource (pure).

IAM decides on ``(action, resource)``; each service's request is read for them here, from
what identifies its operation on the wire: the Lambda route, S3's method and path, the
``X-Amz-Target`` or ``Action=`` of the JSON and query protocols, and the resource the
request names (a function, a bucket or object, a queue URL, a rule, a log group, a role, a
state machine). A request whose resource cannot be read is checked against ``*``, which only
a statement allowing every resource grants.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote

from lamina.arns import function_arn


@dataclass(frozen=True, slots=True)
class Access:
    action: str
    resource: str


# Lambda operations whose IAM action has another name.
_LAMBDA_ACTIONS = {
    "Invoke": "lambda:InvokeFunction",
    "InvokeWithResponseStream": "lambda:InvokeFunction",
    "GetFunctionConfiguration": "lambda:GetFunctionConfiguration",
    "ListVersionsByFunction": "lambda:ListVersionsByFunction",
    "GetLayerVersionByArn": "lambda:GetLayerVersion",
}


def lambda_access(
    operation: str, params: Mapping[str, str], query: Mapping[str, str], region: str, account: str
) -> Access:
    """A Lambda API route's action and resource (the function ARN, with its qualifier)."""
    action = _LAMBDA_ACTIONS.get(operation, f"lambda:{operation}")
    name = params.get("FunctionName")
    if name is None:
        layer = params.get("LayerName")
        if layer is not None:
            return Access(action, f"arn:aws:lambda:{region}:{account}:layer:{layer}")
        return Access(action, "*")
    if name.startswith("arn:"):
        return Access(action, name)
    qualifier = query.get("Qualifier")
    base, _, inline = name.partition(":")
    return Access(action, function_arn(region, account, base, inline or qualifier or None))


# S3: (method, what the path names, a sub-resource in the query) → action.
_S3_BUCKET_SUBRESOURCES = (
    "policy",
    "acl",
    "cors",
    "versioning",
    "website",
    "lifecycle",
    "tagging",
    "notification",
    "encryption",
    "logging",
    "accelerate",
    "requestPayment",
    "replication",
    "ownershipControls",
    "publicAccessBlock",
    "object-lock",
    "location",
)
_S3_SUBRESOURCE_ACTION = {
    "policy": "BucketPolicy",
    "acl": "BucketAcl",
    "cors": "BucketCORS",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
    "lifecycle": "LifecycleConfiguration",
    "tagging": "BucketTagging",
    "notification": "BucketNotification",
    "encryption": "EncryptionConfiguration",
    "logging": "BucketLogging",
    "accelerate": "AccelerateConfiguration",
    "requestPayment": "BucketRequestPayment",
    "replication": "ReplicationConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "publicAccessBlock": "BucketPublicAccessBlock",
    "object-lock": "BucketObjectLockConfiguration",
    "location": "BucketLocation",
}


def s3_access(method: str, path: str, raw_query: str) -> Access:
    """A path-style S3 request's action and resource."""
    bucket, _, key = unquote(path.lstrip("/")).partition("/")
    query = dict(parse_qsl(raw_query, keep_blank_values=True))
    if not bucket:
        return Access("s3:ListAllMyBuckets", "*")
    bucket_arn = f"arn:aws:s3:::{bucket}"
    if key:
        object_arn = f"{bucket_arn}/{key}"
        if "uploadId" in query:
            if method == "DELETE":
                return Access("s3:AbortMultipartUpload", object_arn)
            if method == "GET":
                return Access("s3:ListMultipartUploadParts", object_arn)
            return Access("s3:PutObject", object_arn)
        if "tagging" in query:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
            return Access(f"s3:{verb}ObjectTagging", object_arn)
        if "acl" in query:
            return Access("s3:GetObjectAcl" if method == "GET" else "s3:PutObjectAcl", object_arn)
        action = {
            "GET": "s3:GetObject",
            "HEAD": "s3:GetObject",
            "PUT": "s3:PutObject",
            "POST": "s3:PutObject",
            "DELETE": "s3:DeleteObject",
        }.get(method, "s3:GetObject")
        return Access(action, object_arn)
    for sub in _S3_BUCKET_SUBRESOURCES:
        if sub in query:
            verb = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}.get(method, "Get")
            if sub == "location":
                verb = "Get"
            return Access(f"s3:{verb}{_S3_SUBRESOURCE_ACTION[sub]}", bucket_arn)
    if method == "POST" and "delete" in query:
        return Access("s3:DeleteObject", f"{bucket_arn}/*")
    if "uploads" in query:
        return Access("s3:ListBucketMultipartUploads", bucket_arn)
    action = {
        "GET": "s3:ListBucket",
        "HEAD": "s3:ListBucket",
        "PUT": "s3:CreateBucket",
        "DELETE": "s3:DeleteBucket",
    }.get(method, "s3:ListBucket")
    return Access(action, bucket_arn)


def _queue_arn(queue_url: str, region: str, account: str) -> str:
    parts = [p for p in queue_url.split("/") if p]
    if len(parts) >= 2 and parts[-2].isdigit():
        return f"arn:aws:sqs:{region}:{parts[-2]}:{parts[-1]}"
    return f"arn:aws:sqs:{region}:{account}:{parts[-1]}" if parts else "*"


def json_access(service: str, operation: str, body: bytes, region: str, account: str) -> Access:
    """A JSON-protocol request (``X-Amz-Target: <prefix>.<Operation>``) of ``service``."""
    action = f"{service}:{operation}"
    try:
        fields = json.loads(body or b"{}")
    except ValueError:
        fields = {}
    if not isinstance(fields, dict):
        fields = {}
    return Access(action, _resource(service, operation, fields, region, account))


def query_access(
    service: str, params: Mapping[str, str], path: str, host: str, region: str, account: str
) -> Access:
    """A query-protocol request (``Action=<Operation>&...``) of ``service``."""
    operation = params.get("Action", "")
    fields = dict(params)
    if service == "sqs" and "QueueUrl" not in fields and path.count("/") >= 2:
        fields["QueueUrl"] = f"http://{host}{path}"
    return Access(f"{service}:{operation}", _resource(service, operation, fields, region, account))


def _resource(
    service: str, operation: str, fields: Mapping[str, object], region: str, account: str
) -> str:
    def text(key: str) -> str | None:
        value = fields.get(key)
        return value if isinstance(value, str) and value else None

    if service == "sqs":
        url = text("QueueUrl")
        if url:
            return _queue_arn(url, region, account)
        name = text("QueueName")
        return f"arn:aws:sqs:{region}:{account}:{name}" if name else "*"
    if service == "sns":
        topic = text("TopicArn") or text("TargetArn") or text("ResourceArn")
        subscription = text("SubscriptionArn")
        if topic is None and subscription is not None:
            topic = subscription.rpartition(":")[0]  # <topic ARN>:<subscription id>
        name = text("Name")  # CreateTopic
        return topic or (f"arn:aws:sns:{region}:{account}:{name}" if name else "*")
    if service == "events":
        name = text("Name") or text("Rule")
        return f"arn:aws:events:{region}:{account}:rule/{name}" if name else "*"
    if service == "logs":
        group = text("logGroupName")
        return f"arn:aws:logs:{region}:{account}:log-group:{group}" if group else "*"
    if service == "iam":
        role = text("RoleName")
        if role:
            return f"arn:aws:iam::{account}:role/{role}"
        return text("PolicyArn") or "*"
    if service == "cloudformation":
        stack = text("StackName")
        if stack and stack.startswith("arn:"):
            return stack
        return f"arn:aws:cloudformation:{region}:{account}:stack/{stack}/*" if stack else "*"
    if service == "states":
        return (
            text("stateMachineArn")
            or text("executionArn")
            or text("activityArn")
            or text("resourceArn")
            or "*"
        )
    return "*"


_XRAY_OPERATIONS = {
    "/Traces": "BatchGetTraces",
    "/TraceSummaries": "GetTraceSummaries",
    "/TraceSegments": "PutTraceSegments",
}


def mounted_access(
    service: str,
    method: str,
    target: str,
    headers: Mapping[str, str],
    body: bytes,
    region: str,
    account: str,
) -> Access:
    """The action and resource of a request to a mounted service (S3, SQS, EventBridge,
    CloudWatch Logs, IAM, Step Functions), read off the wire as its protocol sends it."""
    path, _, raw_query = target.partition("?")
    if service == "s3":
        return s3_access(method, path, raw_query)
    if service == "monitoring":
        # CloudWatch is signed as ``monitoring`` but its IAM actions are ``cloudwatch:*``;
        # botocore names the operation in the path (RPC v2 CBOR), older SDKs in the target.
        operation = (
            path.rpartition("/operation/")[2]
            if "/operation/" in path
            else (headers.get("x-amz-target", "").rpartition(".")[2])
        )
        return Access(f"cloudwatch:{operation}", "*")
    if service == "xray":  # REST-JSON: the operation is the path
        return Access(f"xray:{_XRAY_OPERATIONS.get(path, '')}", "*")
    amz_target = headers.get("x-amz-target", "")
    if amz_target:
        return json_access(service, amz_target.rpartition(".")[2], body, region, account)
    params = dict(parse_qsl(raw_query, keep_blank_values=True))
    if method == "POST" and body:
        params.update(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return query_access(service, params, path, headers.get("host", ""), region, account)
