"""Identity: a function gets its execution role's temporary credentials, never the operator's
keys, and Lamina recognises them (against a real `lamina serve` with keys configured)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.integration.harness import LaminaProcess, aws_client, python_zip, signed_lamina
from tests.trust import LAMBDA_TRUST as TRUST

pytestmark = pytest.mark.privileged

KEY, SECRET = "AKIDOPERATOR", "operator-secret-key"

CALLER = """
import os, boto3
def handler(event, context):
    env = {k: os.environ.get(k, "") for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=event["bucket"])
    s3.put_object(Bucket=event["bucket"], Key="k", Body=b"from the function")
    return {"env": env, "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]]}
"""


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with signed_lamina(tmp_path_factory.mktemp("identity"), KEY, SECRET) as server:
        yield server


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, KEY, SECRET, read_timeout=120)


def test_iam_roles_are_served_on_lamina_port(signed: LaminaProcess) -> None:
    iam = client(signed, "iam")
    role = iam.create_role(RoleName="fn-role", AssumeRolePolicyDocument=TRUST)["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/fn-role"
    iam.attach_role_policy(
        RoleName="fn-role", PolicyArn="arn:aws:iam::aws:policy/AmazonS3FullAccess"
    )
    names = [r["RoleName"] for r in iam.list_roles()["Roles"]]
    assert "fn-role" in names


def test_a_function_signs_with_its_role_credentials_not_the_operators(
    signed: LaminaProcess,
) -> None:
    lam = client(signed, "lambda")
    lam.create_function(
        FunctionName="caller",
        Runtime="python3.11",
        Handler="app.handler",
        Code={"ZipFile": python_zip(CALLER)},
        Role="arn:aws:iam::000000000000:role/fn-role",
        Timeout=60,
    )
    out = lam.invoke(FunctionName="caller", Payload=json.dumps({"bucket": "from-fn"}).encode())
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    env = body["env"]
    assert env["AWS_ACCESS_KEY_ID"].startswith("ASIA")
    assert env["AWS_ACCESS_KEY_ID"] != KEY
    assert SECRET not in json.dumps(env)
    assert env["AWS_SESSION_TOKEN"]
    assert "from-fn" in body["buckets"]
    got = client(signed, "s3").get_object(Bucket="from-fn", Key="k")["Body"].read()
    assert got == b"from the function"


def test_forged_or_foreign_session_credentials_are_refused(
    signed: LaminaProcess, tmp_path: Path
) -> None:
    lam = client(signed, "lambda")
    out = lam.invoke(FunctionName="caller", Payload=json.dumps({"bucket": "again"}).encode())
    env = json.loads(out["Payload"].read())["env"]
    forged = boto3.client(
        "lambda",
        endpoint_url=signed.endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"][:-4] + "AAAA",
        config=Config(retries={"max_attempts": 0}),
    )
    with pytest.raises(forged.exceptions.ClientError) as refused:
        forged.list_functions()
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    genuine = boto3.client(
        "s3",
        endpoint_url=signed.endpoint,
        region_name="us-east-1",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
        config=Config(retries={"max_attempts": 0}),
    )
    # The genuine session may do what its role allows (AmazonS3FullAccess), and only that.
    assert "Buckets" in genuine.list_buckets()
    # Another server (another secret) does not accept this server's role credentials.
    other = LaminaProcess(tmp_path / "other", {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET}"}).start()
    try:
        stranger = boto3.client(
            "lambda",
            endpoint_url=other.endpoint,
            region_name="us-east-1",
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
            config=Config(retries={"max_attempts": 0}),
        )
        with pytest.raises(stranger.exceptions.ClientError) as foreign:
            stranger.list_functions()
        assert foreign.value.response["Error"]["Code"] == "UnrecognizedClientException"
    finally:
        other.stop()
