"""AddPermission's request turned into statements, and the policy's limits (pure)."""

from __future__ import annotations

import pytest

from lamina.api.function_policy import (
    PolicyLengthExceeded,
    checked_policy,
    permission_statement,
    policy_document,
)
from lamina.errors import InvalidParameterValue

ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def body(**extra: str) -> dict[str, str]:
    return {"StatementId": "s1", "Action": "lambda:InvokeFunction", **extra}


@pytest.mark.parametrize(
    ("principal", "shape"),
    [
        ("s3.amazonaws.com", {"Service": "s3.amazonaws.com"}),
        ("123456789012", {"AWS": "arn:aws:iam::123456789012:root"}),
        ("arn:aws:iam::123456789012:role/r", {"AWS": "arn:aws:iam::123456789012:role/r"}),
        ("*", "*"),
    ],
)
def test_principals_take_aws_shapes(principal: str, shape: object) -> None:
    assert permission_statement(body(Principal=principal), ARN)["Principal"] == shape


def test_conditions_are_grouped_by_operator() -> None:
    s = permission_statement(
        body(
            Principal="*",
            SourceArn="arn:aws:s3:::b",
            SourceAccount="111122223333",
            PrincipalOrgID="o-abc",
            FunctionUrlAuthType="NONE",
        ),
        ARN,
    )
    assert s["Condition"] == {
        "ArnLike": {"AWS:SourceArn": "arn:aws:s3:::b"},
        "StringEquals": {
            "AWS:SourceAccount": "111122223333",
            "aws:PrincipalOrgID": "o-abc",
            "lambda:FunctionUrlAuthType": "NONE",
        },
    }
    assert "Condition" not in permission_statement(body(Principal="*"), ARN)


@pytest.mark.parametrize(
    "bad",
    [
        {"StatementId": "has space"},
        {"Action": "s3:GetObject"},
        {"Principal": "two words"},
        {"FunctionUrlAuthType": "OPEN"},
        {"SourceArn": ""},
    ],
)
def test_bad_requests_are_refused_with_lambdas_error(bad: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValue):
        permission_statement({**body(Principal="*"), **bad}, ARN)


def test_the_policy_parses_as_a_resource_policy_and_is_bounded() -> None:
    statements = [
        permission_statement(body(Principal="*", StatementId=f"s{i}"), ARN) for i in range(3)
    ]
    policy = checked_policy(statements)
    assert policy.sids() == ["s0", "s1", "s2"]
    assert policy_document(statements).startswith('{"Version":"2012-10-17","Id":"default"')
    many = [
        permission_statement(body(Principal="*", StatementId=f"sid{i:04d}"), ARN)
        for i in range(200)
    ]
    with pytest.raises(PolicyLengthExceeded):
        checked_policy(many)
