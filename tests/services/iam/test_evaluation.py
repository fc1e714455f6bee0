"""IAM policy evaluation: explicit Deny wins, then Allow, else implicit deny; wildcards;
conditions; resource policies with principals (cases from IAM's documented evaluation logic)."""

from __future__ import annotations

import pytest

from lamina.services.iam.evaluation import AccessRequest, Decision, evaluate
from lamina.services.iam.managed import managed_by_name, managed_policies
from lamina.services.iam.policy import MalformedPolicyDocument, Policy, parse_policy

ACCOUNT = "000000000000"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/app"
BUCKET_OBJ = "arn:aws:s3:::photos/cat.png"


def allow(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: object, resource: object = "*", **extra: object) -> dict[str, object]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def policy(*statements: dict[str, object]) -> Policy:
    return parse_policy({"Version": "2012-10-17", "Statement": list(statements)})


def test_nothing_matching_is_an_implicit_deny() -> None:
    decision = evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [policy(allow("sqs:*"))])
    assert decision is Decision.IMPLICIT_DENY
    assert not decision.is_allowed()


def test_allow_with_action_and_resource_wildcards() -> None:
    p = policy(allow("s3:Get*", "arn:aws:s3:::photos/*"))
    assert evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [p]) is Decision.ALLOW
    assert evaluate(AccessRequest("s3:PutObject", BUCKET_OBJ), [p]) is Decision.IMPLICIT_DENY
    other = AccessRequest("s3:GetObject", "arn:aws:s3:::secrets/key")
    assert evaluate(other, [p]) is Decision.IMPLICIT_DENY


def test_actions_match_case_insensitively_resources_do_not() -> None:
    p = policy(allow("S3:getobject", "arn:aws:s3:::Photos/*"))
    assert evaluate(AccessRequest("s3:GetObject", "arn:aws:s3:::Photos/a"), [p]).is_allowed()
    assert not evaluate(AccessRequest("s3:GetObject", "arn:aws:s3:::photos/a"), [p]).is_allowed()


def test_question_mark_matches_one_character_and_brackets_are_literal() -> None:
    p = policy(allow("sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:q?"))
    req = AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:q1")
    assert evaluate(req, [p]).is_allowed()
    req2 = AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:000000000000:q12")
    assert not evaluate(req2, [p]).is_allowed()
    literal = policy(allow("s3:GetObject", "arn:aws:s3:::b/[ab]"))
    assert not evaluate(AccessRequest("s3:GetObject", "arn:aws:s3:::b/a"), [literal]).is_allowed()


def test_explicit_deny_beats_any_allow_in_any_policy() -> None:
    allows = policy(allow("*"))
    denies = policy(deny("s3:DeleteObject", "arn:aws:s3:::photos/*"))
    req = AccessRequest("s3:DeleteObject", BUCKET_OBJ)
    assert evaluate(req, [allows, denies]) is Decision.EXPLICIT_DENY
    assert evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [allows, denies]).is_allowed()


def test_not_action_and_not_resource_invert_the_match() -> None:
    p = policy({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})
    assert evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [p]).is_allowed()
    assert not evaluate(AccessRequest("iam:CreateRole", "*"), [p]).is_allowed()
    q = policy(
        {"Effect": "Deny", "Action": "s3:*", "NotResource": "arn:aws:s3:::public/*"}, allow("s3:*")
    )
    assert evaluate(AccessRequest("s3:GetObject", "arn:aws:s3:::public/x"), [q]).is_allowed()
    assert evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [q]) is Decision.EXPLICIT_DENY


@pytest.mark.parametrize(
    ("operator", "wanted", "context", "expected"),
    [
        ("StringEquals", "a", ("a",), True),
        ("StringEquals", "a", ("A",), False),
        ("StringEqualsIgnoreCase", "a", ("A",), True),
        ("StringNotEquals", "a", ("b",), True),
        ("StringNotEquals", "a", ("a",), False),
        ("StringLike", "arn:aws:s3:::photos/*", ("arn:aws:s3:::photos/x",), True),
        ("StringNotLike", "arn:aws:s3:::photos/*", ("arn:aws:s3:::photos/x",), False),
        ("ArnLike", "arn:aws:s3:::photos*", ("arn:aws:s3:::photos",), True),
        (
            "ArnLike",
            "arn:aws:sqs:*:000000000000:*",
            ("arn:aws:sqs:eu-west-1:000000000000:q",),
            True,
        ),
        (
            "ArnLike",
            "arn:aws:sqs:*:111111111111:*",
            ("arn:aws:sqs:eu-west-1:000000000000:q",),
            False,
        ),
        ("ArnEquals", "arn:aws:s3:::b", ("arn:aws:s3:::c",), False),
        ("NumericLessThan", "10", ("9",), True),
        ("NumericGreaterThanEquals", "10", ("9",), False),
        ("NumericEquals", "10", ("ten",), False),
        ("DateGreaterThan", "2020-01-01T00:00:00Z", ("2021-06-01T00:00:00Z",), True),
        ("Bool", "true", ("true",), True),
        ("IpAddress", "127.0.0.0/8", ("127.0.0.1",), True),
        ("NotIpAddress", "127.0.0.0/8", ("10.0.0.1",), True),
        ("NoSuchOperator", "x", ("x",), False),
    ],
)
def test_condition_operators(
    operator: str, wanted: str, context: tuple[str, ...], expected: bool
) -> None:
    p = policy(allow("lambda:InvokeFunction", Condition={operator: {"aws:SourceArn": wanted}}))
    req = AccessRequest("lambda:InvokeFunction", "*", context={"aws:sourcearn": context})
    assert evaluate(req, [p]).is_allowed() is expected


def test_condition_keys_are_case_insensitive_and_absent_keys_fail_unless_if_exists() -> None:
    plain = policy(allow("s3:*", Condition={"StringEquals": {"AWS:SourceAccount": ACCOUNT}}))
    if_exists = policy(
        allow("s3:*", Condition={"StringEqualsIfExists": {"aws:SourceAccount": ACCOUNT}})
    )
    with_key = AccessRequest("s3:GetObject", "*", context={"aws:sourceaccount": (ACCOUNT,)})
    without = AccessRequest("s3:GetObject", "*")
    assert evaluate(with_key, [plain]).is_allowed()
    assert not evaluate(without, [plain]).is_allowed()
    assert evaluate(without, [if_exists]).is_allowed()


def test_null_and_set_qualifiers() -> None:
    null = policy(allow("s3:*", Condition={"Null": {"aws:SourceArn": "true"}}))
    assert evaluate(AccessRequest("s3:GetObject", "*"), [null]).is_allowed()
    assert not evaluate(
        AccessRequest("s3:GetObject", "*", context={"aws:sourcearn": ("x",)}),
        [null],
    ).is_allowed()
    all_values = policy(
        allow("s3:*", Condition={"ForAllValues:StringEquals": {"aws:TagKeys": ["a", "b"]}})
    )
    ok = AccessRequest("s3:GetObject", "*", context={"aws:tagkeys": ("a", "b")})
    bad = AccessRequest("s3:GetObject", "*", context={"aws:tagkeys": ("a", "c")})
    assert evaluate(ok, [all_values]).is_allowed()
    assert not evaluate(bad, [all_values]).is_allowed()
    any_value = policy(allow("s3:*", Condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "c"}}))
    assert evaluate(bad, [any_value]).is_allowed()


def resource_policy(*statements: dict[str, object]) -> Policy:
    return parse_policy(
        {"Version": "2012-10-17", "Statement": list(statements)}, resource_policy=True
    )


def test_resource_policy_grants_a_service_principal_only_from_its_source() -> None:
    rp = resource_policy(
        {
            "Sid": "s3-invoke",
            "Effect": "Allow",
            "Principal": {"Service": "s3.amazonaws.com"},
            "Action": "lambda:InvokeFunction",
            "Resource": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thumb",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::photos"}},
        }
    )
    fn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:thumb"
    ok = AccessRequest(
        "lambda:InvokeFunction",
        fn,
        principal="s3.amazonaws.com",
        context={"aws:sourcearn": ("arn:aws:s3:::photos",)},
    )
    wrong_source = AccessRequest(
        "lambda:InvokeFunction",
        fn,
        principal="s3.amazonaws.com",
        context={"aws:sourcearn": ("arn:aws:s3:::other",)},
    )
    wrong_service = AccessRequest(
        "lambda:InvokeFunction",
        fn,
        principal="sqs.amazonaws.com",
        context={"aws:sourcearn": ("arn:aws:s3:::photos",)},
    )
    assert evaluate(ok, resource=[rp]).is_allowed()
    assert not evaluate(wrong_source, resource=[rp]).is_allowed()
    assert not evaluate(wrong_service, resource=[rp]).is_allowed()


def test_resource_policy_account_principal_covers_its_roles_and_sessions() -> None:
    rp = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ACCOUNT},
            "Action": "lambda:InvokeFunction",
            "Resource": "*",
        }
    )
    session = f"arn:aws:sts::{ACCOUNT}:assumed-role/app/fn"
    assert evaluate(
        AccessRequest("lambda:InvokeFunction", "*", principal=session, account=ACCOUNT),
        resource=[rp],
    ).is_allowed()
    assert not evaluate(
        AccessRequest(
            "lambda:InvokeFunction",
            "*",
            principal="arn:aws:sts::111111111111:assumed-role/x/y",
            account="111111111111",
        ),
        resource=[rp],
    ).is_allowed()
    role_only = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"AWS": ROLE},
            "Action": "lambda:InvokeFunction",
            "Resource": "*",
        }
    )
    assert evaluate(
        AccessRequest("lambda:InvokeFunction", "*", principal=session, account=ACCOUNT),
        resource=[role_only],
    ).is_allowed()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{not json", "Syntax errors in policy"),
        ('{"Version": "2012-10-17"}', "must contain a Statement"),
        ('{"Version": "2001-01-01", "Statement": []}', "valid version string"),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}',
            "Invalid effect",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*"}]}',
            "must contain actions",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "GetObject", "Resource": "*"}]}',
            "prefaced by a vendor",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*"}]}',
            "must contain resources",
        ),
        (
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", '
            '"Principal": "*"}]}',
            "should not specify a principal",
        ),
    ],
)
def test_malformed_identity_policies_are_refused_with_iams_message(
    document: str, message: str
) -> None:
    with pytest.raises(MalformedPolicyDocument, match=message) as caught:
        parse_policy(document)
    assert caught.value.error_type == "MalformedPolicyDocument"
    assert caught.value.status == 400


def test_managed_policies_parse_and_grant_what_their_names_say() -> None:
    assert len(managed_policies()) >= 15
    basic = managed_by_name("AWSLambdaBasicExecutionRole")
    assert basic is not None
    assert basic.arn == "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
    logs = AccessRequest("logs:PutLogEvents", "arn:aws:logs:us-east-1:0:log-group:/aws/lambda/f:*")
    assert evaluate(logs, [basic.policy]).is_allowed()
    assert not evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [basic.policy]).is_allowed()
    read_only = managed_by_name("AmazonS3ReadOnlyAccess")
    assert read_only is not None
    assert evaluate(AccessRequest("s3:GetObject", BUCKET_OBJ), [read_only.policy]).is_allowed()
    assert not evaluate(AccessRequest("s3:PutObject", BUCKET_OBJ), [read_only.policy]).is_allowed()
    sqs = managed_by_name("AWSLambdaSQSQueueExecutionRole")
    assert sqs is not None
    assert evaluate(
        AccessRequest("sqs:ReceiveMessage", "arn:aws:sqs:us-east-1:0:q"), [sqs.policy]
    ).is_allowed()
    assert not evaluate(
        AccessRequest("sqs:SendMessage", "arn:aws:sqs:us-east-1:0:q"), [sqs.policy]
    ).is_allowed()
