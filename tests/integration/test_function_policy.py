"""AddPermission / GetPolicy / RemovePermission through boto3 against a real server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, python_zip

SOURCE = "def handler(event, context):\n    return 1\n"


def test_statements_have_lambdas_shape_and_survive_a_restart(tmp_path: Path) -> None:
    data = tmp_path / "data"
    server = LaminaProcess(data).start()
    try:
        server.create("pol", python_zip(SOURCE), Publish=True)
        c = server.lambda_client()
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.get_policy(FunctionName="pol")
        out = c.add_permission(
            FunctionName="pol",
            StatementId="AllowS3",
            Action="lambda:InvokeFunction",
            Principal="s3.amazonaws.com",
            SourceArn="arn:aws:s3:::uploads",
            SourceAccount="000000000000",
        )
        assert json.loads(out["Statement"]) == {
            "Sid": "AllowS3",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": "arn:aws:lambda:us-east-1:000000000000:function:pol",
            "Condition": {
                "StringEquals": {"AWS:SourceAccount": "000000000000"},
                "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::uploads"},
            },
        }
        c.add_permission(
            FunctionName="pol",
            StatementId="Account",
            Action="lambda:GetFunction",
            Principal="123456789012",
        )
        with pytest.raises(c.exceptions.ResourceConflictException):
            c.add_permission(
                FunctionName="pol", StatementId="Account", Action="lambda:*", Principal="*"
            )
        with pytest.raises(ClientError) as err:
            c.add_permission(
                FunctionName="pol", StatementId="bad sid", Action="lambda:*", Principal="*"
            )
        assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
        # a version has its own policy
        c.add_permission(
            FunctionName="pol", Qualifier="1", StatementId="V1", Action="lambda:*", Principal="*"
        )
        v1 = json.loads(c.get_policy(FunctionName="pol", Qualifier="1")["Policy"])
        assert [s["Sid"] for s in v1["Statement"]] == ["V1"]
        assert v1["Statement"][0]["Resource"].endswith(":function:pol:1")
        assert v1["Statement"][0]["Principal"] == "*"
    finally:
        server.stop()
    server = LaminaProcess(data).start()
    try:
        c = server.lambda_client()
        got = c.get_policy(FunctionName="pol")
        policy = json.loads(got["Policy"])
        assert policy["Version"] == "2012-10-17"
        assert [s["Sid"] for s in policy["Statement"]] == ["AllowS3", "Account"]
        assert policy["Statement"][1]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
        with pytest.raises(c.exceptions.PreconditionFailedException):
            c.remove_permission(FunctionName="pol", StatementId="AllowS3", RevisionId="stale")
        c.remove_permission(FunctionName="pol", StatementId="AllowS3", RevisionId=got["RevisionId"])
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.remove_permission(FunctionName="pol", StatementId="AllowS3")
        c.remove_permission(FunctionName="pol", StatementId="Account")
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.get_policy(FunctionName="pol")
        # deleting the function deletes its policies
        c.add_permission(FunctionName="pol", StatementId="X", Action="lambda:*", Principal="*")
        c.delete_function(FunctionName="pol")
        server.create("pol", python_zip(SOURCE))
        with pytest.raises(c.exceptions.ResourceNotFoundException):
            c.get_policy(FunctionName="pol")
    finally:
        server.stop()
