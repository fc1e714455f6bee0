"""IAM's role and policy operations over the SQLite store, with IAM's errors."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote

import pytest

from lamina.services.iam.errors import (
    DeleteConflict,
    EntityAlreadyExists,
    IamValidationError,
    NoSuchEntity,
)
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.policy import MalformedPolicyDocument
from lamina.services.iam.store import IamStore
from tests.trust import LAMBDA_TRUST as TRUST

ACCOUNT = "000000000000"
S3_READ = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}],
    }
)
BASIC = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"


@pytest.fixture
def ops(tmp_path: Path) -> IamOperations:
    return IamOperations(IamStore(tmp_path / "iam.db", fsync=False), ACCOUNT)


def test_create_get_list_and_delete_a_role(ops: IamOperations) -> None:
    made = ops.create_role(
        {"RoleName": "app", "AssumeRolePolicyDocument": TRUST, "Path": "/service-role/"}
    )
    role = made["Role"]
    assert role["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/service-role/app"
    assert role["RoleId"].startswith("AROA")
    assert json.loads(unquote(role["AssumeRolePolicyDocument"])) == json.loads(TRUST)
    assert ops.get_role({"RoleName": "app"})["Role"]["RoleId"] == role["RoleId"]
    assert [r["RoleName"] for r in ops.list_roles({})["Roles"]] == ["app"]
    assert ops.list_roles({"PathPrefix": "/other/"})["Roles"] == []
    ops.delete_role({"RoleName": "app"})
    with pytest.raises(NoSuchEntity, match="The role with name app cannot be found"):
        ops.get_role({"RoleName": "app"})


def test_role_names_are_unique_ignoring_case(ops: IamOperations) -> None:
    ops.create_role({"RoleName": "App", "AssumeRolePolicyDocument": TRUST})
    with pytest.raises(EntityAlreadyExists):
        ops.create_role({"RoleName": "app", "AssumeRolePolicyDocument": TRUST})


def test_bad_names_and_documents_are_refused(ops: IamOperations) -> None:
    with pytest.raises(IamValidationError):
        ops.create_role({"RoleName": "bad name!", "AssumeRolePolicyDocument": TRUST})
    with pytest.raises(MalformedPolicyDocument):
        ops.create_role({"RoleName": "a", "AssumeRolePolicyDocument": "{"})
    ops.create_role({"RoleName": "a", "AssumeRolePolicyDocument": TRUST})
    with pytest.raises(MalformedPolicyDocument):
        ops.put_role_policy(
            {"RoleName": "a", "PolicyName": "p", "PolicyDocument": '{"Statement": []}'}
        )


def test_inline_and_attached_policies_make_up_the_roles_identity(ops: IamOperations) -> None:
    ops.create_role({"RoleName": "app", "AssumeRolePolicyDocument": TRUST})
    ops.put_role_policy({"RoleName": "app", "PolicyName": "read", "PolicyDocument": S3_READ})
    ops.attach_role_policy({"RoleName": "app", "PolicyArn": BASIC})
    assert ops.list_role_policies({"RoleName": "app"})["PolicyNames"] == ["read"]
    got = ops.get_role_policy({"RoleName": "app", "PolicyName": "read"})
    assert json.loads(unquote(got["PolicyDocument"])) == json.loads(S3_READ)
    attached = ops.list_attached_role_policies({"RoleName": "app"})["AttachedPolicies"]
    assert attached == [{"PolicyName": "AWSLambdaBasicExecutionRole", "PolicyArn": BASIC}]
    role = ops.role_by_arn(f"arn:aws:iam::{ACCOUNT}:role/app")
    assert role is not None
    assert len(ops.policies_of(role)) == 2
    with pytest.raises(DeleteConflict):
        ops.delete_role({"RoleName": "app"})
    with pytest.raises(NoSuchEntity):
        ops.attach_role_policy(
            {"RoleName": "app", "PolicyArn": "arn:aws:iam::aws:policy/NoSuchPolicy"}
        )
    ops.detach_role_policy({"RoleName": "app", "PolicyArn": BASIC})
    ops.delete_role_policy({"RoleName": "app", "PolicyName": "read"})
    ops.delete_role({"RoleName": "app"})


def test_customer_policies_attach_and_cannot_be_deleted_while_attached(ops: IamOperations) -> None:
    made = ops.create_policy({"PolicyName": "s3-read", "PolicyDocument": S3_READ})["Policy"]
    arn = made["Arn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:policy/s3-read"
    ops.create_role({"RoleName": "app", "AssumeRolePolicyDocument": TRUST})
    ops.attach_role_policy({"RoleName": "app", "PolicyArn": arn})
    assert ops.get_policy({"PolicyArn": arn})["Policy"]["AttachmentCount"] == 1
    with pytest.raises(DeleteConflict):
        ops.delete_policy({"PolicyArn": arn})
    version = ops.get_policy_version({"PolicyArn": arn, "VersionId": "v1"})["PolicyVersion"]
    assert json.loads(unquote(version["Document"])) == json.loads(S3_READ)


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    ops = IamOperations(IamStore(tmp_path / "iam.db", fsync=False), ACCOUNT)
    ops.create_role(
        {
            "RoleName": "app",
            "AssumeRolePolicyDocument": TRUST,
            "Tags.member.1.Key": "team",
            "Tags.member.1.Value": "a",
        }
    )
    ops.put_role_policy({"RoleName": "app", "PolicyName": "read", "PolicyDocument": S3_READ})
    ops.attach_role_policy({"RoleName": "app", "PolicyArn": BASIC})
    ops.store.close()
    again = IamOperations(IamStore(tmp_path / "iam.db", fsync=False), ACCOUNT)
    role = again.store.roles["app"]
    assert role.tags == {"team": "a"}
    assert set(role.inline) == {"read"}
    assert role.attached == (BASIC,)


def test_listing_pages_with_marker(ops: IamOperations) -> None:
    for n in range(5):
        ops.create_role({"RoleName": f"r{n}", "AssumeRolePolicyDocument": TRUST})
    first = ops.list_roles({"MaxItems": "2"})
    assert first["IsTruncated"] is True
    second = ops.list_roles({"MaxItems": "2", "Marker": first["Marker"]})
    rest = ops.list_roles({"MaxItems": "2", "Marker": second["Marker"]})
    names = [r["RoleName"] for page in (first, second, rest) for r in page["Roles"]]
    assert names == ["r0", "r1", "r2", "r3", "r4"]
    assert rest["IsTruncated"] is False
