"""boto3's ``iam`` client against IAM's query-protocol endpoint on a real socket."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from lamina.services.iam.handler import IamHandler, is_iam_request
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.store import IamStore
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response, bound_port, serve

TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    handler = IamHandler(IamOperations(IamStore(tmp_path / "iam.db", fsync=False), "000000000000"))

    def route(req: Request, conn: HttpConnection) -> Response:
        assert is_iam_request(req)
        return handler.handle(req, conn)

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    async def start() -> None:
        server = await serve(route, "127.0.0.1", 0, max_body=1 << 20)
        port.append(bound_port(server))
        ready.set()

    thread = threading.Thread(
        target=lambda: (loop.run_until_complete(start()), loop.run_forever()), daemon=True
    )
    thread.start()
    ready.wait(10)
    yield f"http://127.0.0.1:{port[0]}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


def client(endpoint: str):  # type: ignore[no-untyped-def]
    return boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def test_boto3_manages_roles_and_policies(endpoint: str) -> None:
    iam = client(endpoint)
    role = iam.create_role(
        RoleName="app", AssumeRolePolicyDocument=json.dumps(TRUST), Path="/service-role/"
    )["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/service-role/app"
    # botocore decodes the URL-encoded trust policy into a dict, as it does for AWS.
    assert iam.get_role(RoleName="app")["Role"]["AssumeRolePolicyDocument"] == TRUST
    iam.put_role_policy(
        RoleName="app",
        PolicyName="read",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
            }
        ),
    )
    iam.attach_role_policy(
        RoleName="app", PolicyArn="arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    )
    assert iam.list_role_policies(RoleName="app")["PolicyNames"] == ["read"]
    attached = iam.list_attached_role_policies(RoleName="app")["AttachedPolicies"]
    assert [a["PolicyName"] for a in attached] == ["AWSLambdaBasicExecutionRole"]
    assert [r["RoleName"] for r in iam.list_roles()["Roles"]] == ["app"]
    document = iam.get_role_policy(RoleName="app", PolicyName="read")["PolicyDocument"]
    assert document["Statement"][0]["Action"] == "s3:GetObject"


def test_boto3_sees_iams_errors(endpoint: str) -> None:
    iam = client(endpoint)
    with pytest.raises(ClientError) as missing:
        iam.get_role(RoleName="nope")
    assert missing.value.response["Error"]["Code"] == "NoSuchEntity"
    assert missing.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName="nope")
    with pytest.raises(ClientError) as malformed:
        iam.create_role(RoleName="x", AssumeRolePolicyDocument="{not json")
    assert malformed.value.response["Error"]["Code"] == "MalformedPolicyDocument"
    iam.create_role(RoleName="x", AssumeRolePolicyDocument=json.dumps(TRUST))
    with pytest.raises(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName="x", AssumeRolePolicyDocument=json.dumps(TRUST))
