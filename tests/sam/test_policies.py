"""SAM's Policies: managed names, inline documents and policy templates become a role's policies."""

from __future__ import annotations

import pytest

from lamina.sam.errors import TemplateError
from lamina.sam.policies import BASIC_EXECUTION, role_identity
from lamina.services.iam.evaluation import AccessRequest, evaluate
from lamina.services.iam.managed import managed_policy
from lamina.services.iam.policy import parse_policy

REGION, ACCOUNT = "us-east-1", "000000000000"


def test_managed_names_become_arns_and_basic_execution_is_always_attached() -> None:
    identity = role_identity(
        ["AmazonS3ReadOnlyAccess", "AWSLambdaSQSQueueExecutionRole"],
        function="Fn",
        region=REGION,
        account=ACCOUNT,
    )
    assert identity.managed == (
        BASIC_EXECUTION,
        "arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole",
    )
    assert all(managed_policy(arn) is not None for arn in identity.managed)
    assert identity.inline == {}


def test_templates_expand_to_statements_that_iam_enforces() -> None:
    identity = role_identity(
        [
            {"S3ReadPolicy": {"BucketName": "photos"}},
            {"SQSSendMessagePolicy": {"QueueName": "jobs"}},
        ],
        function="Fn",
        region=REGION,
        account=ACCOUNT,
    )
    (document,) = identity.inline.values()
    policy = parse_policy(dict(document))
    assert evaluate(
        AccessRequest("s3:GetObject", "arn:aws:s3:::photos/a.png"), [policy]
    ).is_allowed()
    assert not evaluate(
        AccessRequest("s3:PutObject", "arn:aws:s3:::photos/a.png"), [policy]
    ).is_allowed()
    assert not evaluate(
        AccessRequest("s3:GetObject", "arn:aws:s3:::other/a.png"), [policy]
    ).is_allowed()
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:jobs"
    assert evaluate(AccessRequest("sqs:SendMessage", queue), [policy]).is_allowed()
    assert evaluate(AccessRequest("sqs:SendMessageBatch", queue), [policy]).is_allowed()


def test_inline_documents_are_kept_as_written() -> None:
    doc = {"Statement": [{"Effect": "Allow", "Action": "lambda:InvokeFunction", "Resource": "*"}]}
    identity = role_identity(doc, function="Fn", region=REGION, account=ACCOUNT)
    ((name, kept),) = identity.inline.items()
    assert name.startswith("Fn")
    assert kept["Statement"] == doc["Statement"]
    parse_policy(dict(kept))


@pytest.mark.parametrize(
    ("policies", "message"),
    [
        (
            [{"NoSuchPolicyTemplate": {}}],
            "does not know the SAM policy template NoSuchPolicyTemplate",
        ),
        ([{"S3ReadPolicy": {}}], "S3ReadPolicy needs parameter"),
        ([42], "is not a policy name"),
    ],
)
def test_what_cannot_be_turned_into_a_policy_is_an_error(policies: object, message: str) -> None:
    with pytest.raises(TemplateError, match=message):
        role_identity(policies, function="Fn", region=REGION, account=ACCOUNT)
