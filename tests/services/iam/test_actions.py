"""Reading a request's IAM action and resource, per protocol."""

from __future__ import annotations

import json

import pytest

from lamina.services.iam.actions import (
    Access,
    json_access,
    lambda_access,
    mounted_access,
    query_access,
    s3_access,
)

R, A = "us-east-1", "000000000000"


@pytest.mark.parametrize(
    ("operation", "params", "query", "expected"),
    [
        (
            "Invoke",
            {"FunctionName": "fn"},
            {},
            Access("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:fn"),
        ),
        (
            "Invoke",
            {"FunctionName": "fn:prod"},
            {},
            Access("lambda:InvokeFunction", f"arn:aws:lambda:{R}:{A}:function:fn:prod"),
        ),
        (
            "GetFunction",
            {"FunctionName": "fn"},
            {"Qualifier": "3"},
            Access("lambda:GetFunction", f"arn:aws:lambda:{R}:{A}:function:fn:3"),
        ),
        ("ListFunctions", {}, {}, Access("lambda:ListFunctions", "*")),
        (
            "DeleteFunction",
            {"FunctionName": f"arn:aws:lambda:{R}:{A}:function:x"},
            {},
            Access("lambda:DeleteFunction", f"arn:aws:lambda:{R}:{A}:function:x"),
        ),
    ],
)
def test_lambda_routes(
    operation: str, params: dict[str, str], query: dict[str, str], expected: Access
) -> None:
    assert lambda_access(operation, params, query, R, A) == expected


@pytest.mark.parametrize(
    ("method", "path", "query", "expected"),
    [
        ("GET", "/", "", Access("s3:ListAllMyBuckets", "*")),
        ("GET", "/photos/a%20b.png", "", Access("s3:GetObject", "arn:aws:s3:::photos/a b.png")),
        ("HEAD", "/photos/a.png", "", Access("s3:GetObject", "arn:aws:s3:::photos/a.png")),
        ("PUT", "/photos/a.png", "", Access("s3:PutObject", "arn:aws:s3:::photos/a.png")),
        ("DELETE", "/photos/a.png", "", Access("s3:DeleteObject", "arn:aws:s3:::photos/a.png")),
        ("GET", "/photos", "list-type=2&prefix=a", Access("s3:ListBucket", "arn:aws:s3:::photos")),
        ("PUT", "/photos", "", Access("s3:CreateBucket", "arn:aws:s3:::photos")),
        ("GET", "/photos", "policy", Access("s3:GetBucketPolicy", "arn:aws:s3:::photos")),
        (
            "PUT",
            "/photos/big",
            "partNumber=1&uploadId=u",
            Access("s3:PutObject", "arn:aws:s3:::photos/big"),
        ),
        (
            "DELETE",
            "/photos/big",
            "uploadId=u",
            Access("s3:AbortMultipartUpload", "arn:aws:s3:::photos/big"),
        ),
    ],
)
def test_s3_requests(method: str, path: str, query: str, expected: Access) -> None:
    assert s3_access(method, path, query) == expected


def test_json_protocol_requests_name_their_resource() -> None:
    body = json.dumps(
        {"QueueUrl": "http://127.0.0.1:9000/000000000000/jobs", "MessageBody": "x"}
    ).encode()
    assert json_access("sqs", "SendMessage", body, R, A) == Access(
        "sqs:SendMessage", f"arn:aws:sqs:{R}:{A}:jobs"
    )
    logs = json.dumps({"logGroupName": "/aws/lambda/fn"}).encode()
    assert json_access("logs", "FilterLogEvents", logs, R, A) == Access(
        "logs:FilterLogEvents", f"arn:aws:logs:{R}:{A}:log-group:/aws/lambda/fn"
    )
    assert (
        json_access("events", "PutRule", b'{"Name": "nightly"}', R, A).resource
        == f"arn:aws:events:{R}:{A}:rule/nightly"
    )
    assert json_access("sqs", "ListQueues", b"not json", R, A) == Access("sqs:ListQueues", "*")


def test_query_protocol_requests_and_a_queue_addressed_by_path() -> None:
    got = query_access(
        "sqs", {"Action": "ReceiveMessage"}, "/000000000000/jobs", "127.0.0.1:9000", R, A
    )
    assert got == Access("sqs:ReceiveMessage", f"arn:aws:sqs:{R}:{A}:jobs")
    role = query_access("iam", {"Action": "DeleteRole", "RoleName": "app"}, "/", "h", R, A)
    assert role == Access("iam:DeleteRole", f"arn:aws:iam::{A}:role/app")


def test_cloudwatch_requests_are_cloudwatch_actions() -> None:
    cbor = "/service/GraniteServiceVersion20100801/operation/GetMetricData"
    assert mounted_access("monitoring", "POST", cbor, {}, b"\xa0", R, A) == Access(
        "cloudwatch:GetMetricData", "*"
    )
    target = {"x-amz-target": "GraniteServiceVersion20100801.PutMetricAlarm"}
    assert mounted_access("monitoring", "POST", "/", target, b"{}", R, A) == Access(
        "cloudwatch:PutMetricAlarm", "*"
    )


def test_x_ray_requests_are_named_by_their_path() -> None:
    for path, operation in (
        ("/Traces", "BatchGetTraces"),
        ("/TraceSummaries", "GetTraceSummaries"),
        ("/TraceSegments", "PutTraceSegments"),
    ):
        assert mounted_access("xray", "POST", path, {}, b"{}", R, A) == Access(
            f"xray:{operation}", "*"
        )
