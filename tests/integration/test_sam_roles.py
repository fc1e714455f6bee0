"""``lamina up`` makes each function's execution role from its Policies, and the role is
enforced: what the policies allow works, the rest is denied (real server, real boto3)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, aws_client
from tests.sam.upcli import up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.11
      Timeout: 60
      Policies:
        - S3ReadPolicy:
            BucketName: {bucket}
"""
HANDLER = """
import boto3
from botocore.exceptions import ClientError

def handler(event, context):
    s3 = boto3.client("s3")
    out = {"read": s3.get_object(Bucket=event["bucket"], Key="k")["Body"].read().decode()}
    try:
        s3.put_object(Bucket=event["bucket"], Key="w", Body=b"x")
        out["write"] = "allowed"
    except ClientError as e:
        out["write"] = e.response["Error"]["Code"]
    return out
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    s = LaminaProcess(tmp_path_factory.mktemp("sam-roles")).start()
    yield s
    s.stop()


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, "test", "test", read_timeout=120)


def project(root: Path, bucket: str) -> Path:
    (root / "fn").mkdir(parents=True, exist_ok=True)
    (root / "fn" / "app.py").write_text(textwrap.dedent(HANDLER))
    (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE.format(bucket=bucket)))
    return root / "template.yaml"


def test_policies_become_the_functions_role_and_are_enforced(
    server: LaminaProcess, tmp_path: Path
) -> None:
    s3 = client(server, "s3")
    for bucket in ("photos", "other"):
        s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket=bucket, Key="k", Body=bucket.encode())
    template = project(tmp_path, "photos")
    code, report = up(server, template, "--stack-name", "roles")
    assert code == 0, report
    iam = client(server, "iam")
    role = iam.get_role(RoleName="roles-ReaderRole")["Role"]
    attached = [
        p["PolicyName"]
        for p in iam.list_attached_role_policies(RoleName="roles-ReaderRole")["AttachedPolicies"]
    ]
    assert attached == ["AWSLambdaBasicExecutionRole"]
    assert iam.list_role_policies(RoleName="roles-ReaderRole")["PolicyNames"]
    lam = client(server, "lambda")
    cfg = lam.get_function_configuration(
        FunctionName=report["functions"]["Reader"]["name"]
        if "functions" in report
        else "roles-Reader"
    )
    assert cfg["Role"] == role["Arn"]
    out = lam.invoke(
        FunctionName=cfg["FunctionName"], Payload=json.dumps({"bucket": "photos"}).encode()
    )
    body = json.loads(out["Payload"].read())
    assert body == {"read": "photos", "write": "AccessDenied"}
    # The policy names one bucket: another is out of reach.
    other = lam.invoke(
        FunctionName=cfg["FunctionName"], Payload=json.dumps({"bucket": "other"}).encode()
    )
    assert other.get("FunctionError") == "Unhandled"
    assert "AccessDenied" in other["Payload"].read().decode()

    # Change the policy's bucket: the role follows on the next up, with no function change.
    project(tmp_path, "other")
    code, report = up(server, template, "--stack-name", "roles")
    assert code == 0, report
    moved = lam.invoke(
        FunctionName=cfg["FunctionName"], Payload=json.dumps({"bucket": "other"}).encode()
    )
    assert json.loads(moved["Payload"].read())["read"] == "other"
