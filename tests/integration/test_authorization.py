"""Authorisation: calls made with a function's role credentials are allowed or denied by the
role's policies, with AWS's AccessDenied answers (real `lamina serve`, real boto3 in the
function, keys configured; and dev mode)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.harness import LaminaProcess, aws_client, python_zip
from tests.trust import LAMBDA_TRUST as TRUST

pytestmark = pytest.mark.privileged

KEY, SECRET = "AKIDOPERATOR", "operator-secret-key"
ACCOUNT = "000000000000"

# The function runs one boto3 call named by the event and reports what AWS's client saw.
PROBE = """
import boto3, json
from botocore.exceptions import ClientError
def handler(event, context):
    client = boto3.client(event["service"])
    try:
        out = getattr(client, event["call"])(**event.get("args", {}))
        out.pop("ResponseMetadata", None)
        if "Body" in out:
            out["Body"] = out["Body"].read().decode()
        return {"ok": True, "out": json.loads(json.dumps(out, default=str))}
    except ClientError as e:
        err = e.response["Error"]
        return {"ok": False, "code": err.get("Code"), "message": err.get("Message"),
                "status": e.response["ResponseMetadata"]["HTTPStatusCode"]}
"""


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, KEY, SECRET, read_timeout=120)


def probe(
    server: LaminaProcess, function: str, service: str, call: str, **args: Any
) -> dict[str, Any]:
    out = client(server, "lambda").invoke(
        FunctionName=function,
        Payload=json.dumps({"service": service, "call": call, "args": args}).encode(),
    )
    body: dict[str, Any] = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return body


@pytest.fixture(scope="module")
def signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = LaminaProcess(
        tmp_path_factory.mktemp("authz"), {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    ).start()
    iam, s3, sqs, lam = (client(server, s) for s in ("iam", "s3", "sqs", "lambda"))
    iam.create_role(RoleName="reader", AssumeRolePolicyDocument=TRUST)
    iam.attach_role_policy(
        RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
    )
    iam.create_role(RoleName="sender", AssumeRolePolicyDocument=TRUST)
    iam.put_role_policy(
        RoleName="sender",
        PolicyName="send-to-jobs",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": ["sqs:SendMessage", "sqs:GetQueueUrl"],
                        "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs",
                    }
                ],
            }
        ),
    )
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="cat.txt", Body=b"meow")
    sqs.create_queue(QueueName="jobs")
    sqs.create_queue(QueueName="payroll")
    # A role deleted after its function was created: the function's role no longer exists.
    iam.create_role(RoleName="short-lived", AssumeRolePolicyDocument=TRUST)
    for name, role in (
        ("as-reader", "reader"),
        ("as-sender", "sender"),
        ("as-nobody", "short-lived"),
    ):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Code={"ZipFile": python_zip(PROBE)},
            Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
            Timeout=60,
        )
    iam.delete_role(RoleName="short-lived")
    yield server
    server.stop()


def test_a_read_only_role_reads_but_cannot_write(signed: LaminaProcess) -> None:
    got = probe(signed, "as-reader", "s3", "get_object", Bucket="photos", Key="cat.txt")
    assert got == {"ok": True, "out": got["out"]} and got["out"]["Body"] == "meow"
    denied = probe(
        signed, "as-reader", "s3", "put_object", Bucket="photos", Key="dog.txt", Body="woof"
    )
    assert denied["ok"] is False and denied["code"] == "AccessDenied" and denied["status"] == 403
    assert denied["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/as-reader is not authorized to perform: "
        "s3:PutObject on resource: arn:aws:s3:::photos/dog.txt because no identity-based policy "
        "allows the s3:PutObject action"
    )
    # What was denied did not happen.
    with pytest.raises(client(signed, "s3").exceptions.NoSuchKey):
        client(signed, "s3").get_object(Bucket="photos", Key="dog.txt")


def test_a_role_reaches_only_the_queue_its_policy_names(signed: LaminaProcess) -> None:
    url = f"{signed.endpoint}/{ACCOUNT}/jobs"
    sent = probe(signed, "as-sender", "sqs", "send_message", QueueUrl=url, MessageBody="hi")
    assert sent["ok"] is True
    other = probe(
        signed,
        "as-sender",
        "sqs",
        "send_message",
        QueueUrl=f"{signed.endpoint}/{ACCOUNT}/payroll",
        MessageBody="x",
    )
    assert other["ok"] is False and other["status"] == 403
    assert "sqs:SendMessage" in other["message"]


def test_a_function_cannot_read_or_change_other_functions(signed: LaminaProcess) -> None:
    for call, args in (
        ("get_function", {"FunctionName": "as-sender"}),
        ("list_functions", {}),
        ("delete_function", {"FunctionName": "as-sender"}),
    ):
        got = probe(signed, "as-reader", "lambda", call, **args)
        assert got["ok"] is False, call
        assert got["code"] == "AccessDeniedException" and got["status"] == 403, got
    assert (
        client(signed, "lambda").get_function(FunctionName="as-sender")["Configuration"][
            "FunctionName"
        ]
        == "as-sender"
    )


def test_a_function_policy_lets_another_functions_role_invoke_it(signed: LaminaProcess) -> None:
    lam = client(signed, "lambda")
    before = probe(signed, "as-reader", "lambda", "invoke", FunctionName="as-sender", Payload="{}")
    assert before["ok"] is False and before["code"] == "AccessDeniedException"
    lam.add_permission(
        FunctionName="as-sender",
        StatementId="reader-may-invoke",
        Action="lambda:InvokeFunction",
        Principal=f"arn:aws:iam::{ACCOUNT}:role/reader",
    )
    try:
        after = probe(
            signed, "as-reader", "lambda", "invoke", FunctionName="as-sender", Payload="{}"
        )
        assert after["ok"] is True, after
        # The grant is for invoking only: the policy gives nothing else.
        other = probe(signed, "as-reader", "lambda", "get_function", FunctionName="as-sender")
        assert other["ok"] is False
    finally:
        lam.remove_permission(FunctionName="as-sender", StatementId="reader-may-invoke")
    gone = probe(signed, "as-reader", "lambda", "invoke", FunctionName="as-sender", Payload="{}")
    assert gone["ok"] is False


def _policy(effect: str, role: str, actions: list[str], resource: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": effect,
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:role/{role}"},
                    "Action": actions,
                    "Resource": resource,
                }
            ],
        }
    )


def test_a_bucket_policy_grants_and_denies_what_the_role_does_not_say(
    signed: LaminaProcess,
) -> None:
    s3 = client(signed, "s3")
    s3.create_bucket(Bucket="drop")
    s3.put_object(Bucket="drop", Key="seen.txt", Body=b"old")
    put = {"Bucket": "drop", "Key": "in.txt", "Body": "hello"}
    # AmazonS3ReadOnlyAccess: no PutObject, until the bucket's policy grants it to the role.
    assert probe(signed, "as-reader", "s3", "put_object", **put)["ok"] is False
    s3.put_bucket_policy(
        Bucket="drop", Policy=_policy("Allow", "reader", ["s3:PutObject"], "arn:aws:s3:::drop/*")
    )
    assert probe(signed, "as-reader", "s3", "put_object", **put)["ok"] is True
    assert s3.get_object(Bucket="drop", Key="in.txt")["Body"].read() == b"hello"
    # Its explicit Deny wins over the role's Allow (GetObject, from the managed policy).
    assert probe(signed, "as-reader", "s3", "get_object", Bucket="drop", Key="seen.txt")["ok"]
    s3.put_bucket_policy(
        Bucket="drop", Policy=_policy("Deny", "reader", ["s3:GetObject"], "arn:aws:s3:::drop/*")
    )
    denied = probe(signed, "as-reader", "s3", "get_object", Bucket="drop", Key="seen.txt")
    assert denied["ok"] is False and denied["code"] == "AccessDenied"
    assert denied["message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/reader/as-reader is not authorized to "
        "perform: s3:GetObject on resource: arn:aws:s3:::drop/seen.txt with an explicit deny "
        "in a resource-based policy"
    )
    # Another bucket is untouched by this one's policy; deleting the policy ends the Deny.
    assert probe(signed, "as-reader", "s3", "get_object", Bucket="photos", Key="cat.txt")["ok"]
    s3.delete_bucket_policy(Bucket="drop")
    assert probe(signed, "as-reader", "s3", "get_object", Bucket="drop", Key="seen.txt")["ok"]


def test_a_queue_policy_grants_and_denies_what_the_role_does_not_say(
    signed: LaminaProcess,
) -> None:
    sqs = client(signed, "sqs")
    inbox = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    inbox_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:inbox"
    jobs_arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:jobs"
    jobs = f"{signed.endpoint}/{ACCOUNT}/jobs"

    def send(url: str) -> dict[str, Any]:
        return probe(signed, "as-sender", "sqs", "send_message", QueueUrl=url, MessageBody="m")

    # The sender's role names only "jobs"; inbox's policy grants the role SendMessage.
    assert send(inbox)["ok"] is False
    sqs.set_queue_attributes(
        QueueUrl=inbox,
        Attributes={"Policy": _policy("Allow", "sender", ["sqs:SendMessage"], inbox_arn)},
    )
    assert send(inbox)["ok"] is True
    assert len(sqs.receive_message(QueueUrl=inbox, WaitTimeSeconds=0).get("Messages", [])) == 1
    # A queue's Deny wins over the role's own Allow; an empty Policy removes it.
    assert send(jobs)["ok"] is True
    sqs.set_queue_attributes(
        QueueUrl=jobs, Attributes={"Policy": _policy("Deny", "sender", ["sqs:*"], jobs_arn)}
    )
    denied = send(jobs)
    assert denied["ok"] is False and denied["status"] == 403
    assert "explicit deny in a resource-based policy" in denied["message"]
    sqs.set_queue_attributes(QueueUrl=jobs, Attributes={"Policy": ""})
    assert send(jobs)["ok"] is True


def test_in_signed_mode_a_role_that_does_not_exist_allows_nothing(signed: LaminaProcess) -> None:
    got = probe(signed, "as-nobody", "s3", "get_object", Bucket="photos", Key="cat.txt")
    assert got["ok"] is False and got["code"] == "AccessDenied"


def test_in_signed_mode_a_function_cannot_name_a_role_that_does_not_exist(
    signed: LaminaProcess,
) -> None:
    lam = client(signed, "lambda")
    ghost = f"arn:aws:iam::{ACCOUNT}:role/no-such-role"
    message = "The role defined for the function cannot be assumed by Lambda."
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as created:
        lam.create_function(
            FunctionName="as-ghost",
            Runtime="python3.11",
            Handler="app.handler",
            Code={"ZipFile": python_zip(PROBE)},
            Role=ghost,
        )
    assert created.value.response["Error"]["Message"] == message
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="as-ghost")  # nothing was created
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as updated:
        lam.update_function_configuration(FunctionName="as-reader", Role=ghost)
    assert updated.value.response["Error"]["Message"] == message
    cfg = lam.get_function_configuration(FunctionName="as-reader")
    assert cfg["Role"] == f"arn:aws:iam::{ACCOUNT}:role/reader"  # unchanged


def test_dev_mode_allows_an_unknown_role_says_so_once_and_enforces_a_known_one(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    server = LaminaProcess(tmp_path_factory.mktemp("authz-dev")).start()
    try:

        def dev_client(service: str) -> Any:
            return aws_client(server, service, "test", "test", read_timeout=120)

        dev_client("iam").create_role(RoleName="reader", AssumeRolePolicyDocument=TRUST)
        dev_client("iam").attach_role_policy(
            RoleName="reader", PolicyArn="arn:aws:iam::aws:policy/AmazonS3ReadOnlyAccess"
        )
        dev_client("s3").create_bucket(Bucket="dev-bucket")
        lam = dev_client("lambda")
        for name, role in (("known", "reader"), ("unknown", "ghost")):
            lam.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Handler="app.handler",
                Code={"ZipFile": python_zip(PROBE)},
                Role=f"arn:aws:iam::{ACCOUNT}:role/{role}",
                Timeout=60,
            )

        def run(fn: str) -> dict[str, Any]:
            out = lam.invoke(
                FunctionName=fn,
                Payload=json.dumps(
                    {
                        "service": "s3",
                        "call": "put_object",
                        "args": {"Bucket": "dev-bucket", "Key": fn, "Body": "x"},
                    }
                ).encode(),
            )
            return dict(json.loads(out["Payload"].read()))

        assert run("unknown")["ok"] is True
        assert run("unknown")["ok"] is True
        assert run("known")["ok"] is False
    finally:
        server.stop()
    warnings = [line for line in server.output if "ghost does not exist" in line]
    assert len(warnings) == 1, server.output[-20:]


def test_bucket_and_queue_policies_hold_after_a_restart(signed: LaminaProcess) -> None:
    # Last in this module: it restarts the module's server on the same data directory.
    s3, sqs = client(signed, "s3"), client(signed, "sqs")
    s3.create_bucket(Bucket="kept")
    s3.put_bucket_policy(
        Bucket="kept", Policy=_policy("Allow", "reader", ["s3:PutObject"], "arn:aws:s3:::kept/*")
    )
    url = sqs.create_queue(QueueName="kept")["QueueUrl"]
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:kept"
    sqs.set_queue_attributes(
        QueueUrl=url, Attributes={"Policy": _policy("Allow", "reader", ["sqs:SendMessage"], arn)}
    )
    signed.stop()
    again = LaminaProcess(signed.data_dir, signed.env).start()
    try:
        put = probe(again, "as-reader", "s3", "put_object", Bucket="kept", Key="k", Body="v")
        assert put["ok"] is True, put
        url = f"{again.endpoint}/{ACCOUNT}/kept"
        sent = probe(again, "as-reader", "sqs", "send_message", QueueUrl=url, MessageBody="m")
        assert sent["ok"] is True, sent
    finally:
        again.stop()
