"""Deciding calls: the operator may do anything; a role session what its role allows; an
unknown role in dev mode anything (said once), in signed mode nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from lamina.errors import AccessDenied
from lamina.services.iam.authorizer import Authorizer, Operator, RoleCaller, ServiceCaller
from lamina.services.iam.credentials import Session
from lamina.services.iam.evaluation import Decision
from lamina.services.iam.operations import IamOperations
from lamina.services.iam.policy import parse_policy
from lamina.services.iam.store import IamStore
from tests.trust import LAMBDA_TRUST as TRUST

ACCOUNT = "000000000000"
FN = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thumb"


def session(role: str) -> RoleCaller:
    return RoleCaller(Session(f"arn:aws:iam::{ACCOUNT}:role/{role}", "thumb", FN, 9e9))


@pytest.fixture
def iam(tmp_path: Path) -> IamOperations:
    ops = IamOperations(IamStore(tmp_path / "iam.db", fsync=False), ACCOUNT)
    ops.create_role({"RoleName": "reader", "AssumeRolePolicyDocument": TRUST})
    ops.attach_role_policy(
        {"RoleName": "reader", "PolicyArn": "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"}
    )
    return ops


def test_operator_may_do_anything(iam: IamOperations) -> None:
    auth = Authorizer(iam, ACCOUNT, dev_mode=False)
    assert auth.decide(Operator("AKID"), "iam:DeleteRole", "*") is Decision.ALLOW


def test_a_role_session_gets_what_its_policies_allow_and_aws_message_otherwise(
    iam: IamOperations,
) -> None:
    auth = Authorizer(iam, ACCOUNT, dev_mode=False)
    caller = session("reader")
    auth.require(caller, "s3:GetObject", "arn:aws:s3:::photos/a.png")
    with pytest.raises(AccessDenied) as denied:
        auth.require(caller, "lambda:DeleteFunction", FN)
    assert denied.value.message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/thumb is not authorized to perform: "
        f"lambda:DeleteFunction on resource: {FN} because no identity-based policy allows the "
        "lambda:DeleteFunction action"
    )
    assert denied.value.status == 403


def test_an_unknown_role_is_allowed_in_dev_mode_with_one_warning_and_denied_when_signed(
    iam: IamOperations, caplog: pytest.LogCaptureFixture
) -> None:
    dev = Authorizer(iam, ACCOUNT, dev_mode=True)
    with caplog.at_level(logging.WARNING, logger="lamina.iam"):
        assert dev.decide(session("ghost"), "s3:PutObject", "*") is Decision.ALLOW
        assert dev.decide(session("ghost"), "s3:PutObject", "*") is Decision.ALLOW
    assert sum("ghost" in r.getMessage() for r in caplog.records) == 1
    signed = Authorizer(iam, ACCOUNT, dev_mode=False)
    assert signed.decide(session("ghost"), "s3:PutObject", "*") is Decision.IMPLICIT_DENY


def test_a_resource_policy_grants_another_principal_and_a_service_from_its_source(
    iam: IamOperations,
) -> None:
    auth = Authorizer(iam, ACCOUNT, dev_mode=False)
    grant = parse_policy(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "from-bucket",
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "lambda:InvokeFunction",
                    "Resource": FN,
                    "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos"}},
                },
                {
                    "Sid": "reader-may-invoke",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/reader"},
                    "Action": "lambda:InvokeFunction",
                    "Resource": FN,
                },
            ],
        },
        resource_policy=True,
    )
    s3 = ServiceCaller("s3.amazonaws.com", source_arn="arn:aws:s3:::photos", source_account=ACCOUNT)
    assert auth.decide(s3, "lambda:InvokeFunction", FN, resource_policies=[grant]).is_allowed()
    other = ServiceCaller("s3.amazonaws.com", source_arn="arn:aws:s3:::other")
    assert not auth.decide(
        other, "lambda:InvokeFunction", FN, resource_policies=[grant]
    ).is_allowed()
    assert auth.decide(
        session("reader"), "lambda:InvokeFunction", FN, resource_policies=[grant]
    ).is_allowed()
    assert not auth.decide(session("reader"), "lambda:InvokeFunction", FN).is_allowed()
