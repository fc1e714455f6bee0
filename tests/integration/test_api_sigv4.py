"""SigV4 on a running server, in both modes: keys configured, and dev mode (no keys)."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.integration.harness import (
    LaminaProcess,
    aws_cli,
    cli_json,
    create_role,
    lamina_cli,
    python_zip,
)

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

KEY, SECRET = "AKIDKEYED", "keyed/secret+1"
ECHO = python_zip("def handler(event, context):\n    return event\n")


def client(server: LaminaProcess, key: str, secret: str, region: str = "us-east-1") -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.endpoint,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 0}),
    )


def raw(
    server: LaminaProcess, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(server.endpoint + path, data=body, method=method)
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def error_code(call: Any) -> tuple[str, int]:
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return str(err["Error"]["Code"]), int(err["ResponseMetadata"]["HTTPStatusCode"])


def cli(server: LaminaProcess, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return lamina_cli(*args, "--endpoint", server.endpoint, env=env)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    env = {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET},AKIDSECOND:second"}
    proc = LaminaProcess(tmp_path_factory.mktemp("sigv4-keyed"), env).start()
    create_role(proc, KEY, SECRET, "r")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    env = {"LAMINA_ACCESS_KEYS": ""}
    proc = LaminaProcess(tmp_path_factory.mktemp("sigv4-dev"), env).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def echo(keyed: LaminaProcess) -> str:
    """An echo function on the keyed server, created with a signed request."""
    create_echo(client(keyed, KEY, SECRET), "signed-echo")
    return "signed-echo"


def create_echo(lam: Any, name: str) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": ECHO},
    )


# -- keys configured -------------------------------------------------------------------
def test_keyed_server_serves_requests_signed_with_any_configured_key(keyed: LaminaProcess) -> None:
    lam = client(keyed, KEY, SECRET)
    create_echo(lam, "signed-first")
    out = lam.invoke(FunctionName="signed-first", Payload=json.dumps({"k": "v"}))
    assert json.loads(out["Payload"].read()) == {"k": "v"}
    second = client(keyed, "AKIDSECOND", "second")
    assert "signed-first" in [f["FunctionName"] for f in second.list_functions()["Functions"]]


def test_keyed_server_refuses_unsigned_and_wrongly_signed_requests(keyed: LaminaProcess) -> None:
    status, headers, body = raw(keyed, "GET", "/2015-03-31/functions/")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert json.loads(body)["message"] == "Missing Authentication Token"
    status, headers, _ = raw(keyed, "POST", "/2015-03-31/functions/signed-echo/invocations", b"{}")
    assert (status, headers["x-amzn-ErrorType"]) == (403, "MissingAuthenticationTokenException")
    assert error_code(lambda: client(keyed, KEY, "wrong").list_functions()) == (
        "InvalidSignatureException",
        403,
    )
    assert error_code(lambda: client(keyed, "AKIDLAMINA", "lamina-secret").list_functions()) == (
        "UnrecognizedClientException",
        403,
    )
    assert error_code(lambda: client(keyed, KEY, SECRET, "eu-west-1").list_functions()) == (
        "InvalidSignatureException",
        403,
    )
    # Health stays open for probes.
    assert raw(keyed, "GET", "/lamina/v1/health")[0] == 200


def test_keyed_server_code_location_is_presigned(keyed: LaminaProcess, echo: str) -> None:
    location = client(keyed, KEY, SECRET).get_function(FunctionName=echo)["Code"]["Location"]
    with urllib.request.urlopen(location) as resp:
        assert resp.read() == ECHO
    tampered = location.replace("X-Amz-Expires=600", "X-Amz-Expires=6000")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(tampered)
    assert info.value.code == 403
    unsigned = location.split("?")[0]
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(unsigned)
    assert info.value.code == 403


def test_the_lamina_cli_signs_with_the_configured_keys(keyed: LaminaProcess, echo: str) -> None:
    env = {"LAMINA_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    out = cli(keyed, "invoke", echo, "--payload", '{"cli": 1}', env=env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"cli": 1}
    ls = cli(keyed, "ls", "--json", env=env)
    assert ls.returncode == 0 and echo in ls.stdout
    wrong = cli(keyed, "ls", env={"LAMINA_ACCESS_KEYS": f"{KEY}:nope"})
    assert wrong.returncode != 0 and "InvalidSignatureException" in wrong.stderr


# -- dev mode -------------------------------------------------------------------------
def test_dev_mode_serves_unsigned_requests_and_the_dev_key(dev: LaminaProcess) -> None:
    status, _, body = raw(dev, "GET", "/2015-03-31/functions/")
    assert (status, json.loads(body)) == (200, {"Functions": []})
    lam = client(dev, "AKIDLAMINA", "lamina-secret")
    lam.create_function(
        FunctionName="dev-echo",
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": ECHO},
    )
    status, _, body = raw(dev, "POST", "/2015-03-31/functions/dev-echo/invocations", b'{"u":1}')
    assert (status, json.loads(body)) == (200, {"u": 1})
    assert cli(dev, "ls", env={"LAMINA_ACCESS_KEYS": ""}).returncode == 0


def test_dev_mode_serves_any_key_in_any_region(dev: LaminaProcess) -> None:
    # LocalStack's test/test in eu-west-1, the README's lamina/lamina, a wrong dev secret.
    for key, secret, region in [
        ("test", "test", "eu-west-1"),
        ("lamina", "lamina", "us-east-1"),
        ("AKIDLAMINA", "not-the-secret", "ap-southeast-2"),
    ]:
        assert "Functions" in client(dev, key, secret, region).list_functions()


def test_boto3_with_test_credentials_in_eu_west_1_uses_lambda_s3_and_sqs(
    dev: LaminaProcess,
) -> None:
    def svc(name: str) -> Any:
        return boto3.client(
            name,
            endpoint_url=dev.endpoint,
            region_name="eu-west-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}),
        )

    lam = svc("lambda")
    created = lam.create_function(
        FunctionName="eu-echo",
        Runtime="python3.12",
        Role="arn:aws:iam::000000000000:role/r",
        Handler="app.handler",
        Code={"ZipFile": ECHO},
    )
    # One region is served: its name is in the ARNs whatever the client signed for.
    assert created["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:eu-echo"
    out = lam.invoke(
        FunctionName=created["FunctionArn"].replace("us-east-1", "eu-west-1"), Payload=b'{"eu": 1}'
    )
    assert json.loads(out["Payload"].read()) == {"eu": 1}
    s3 = svc("s3")
    s3.create_bucket(
        Bucket="eu-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    s3.put_object(Bucket="eu-bucket", Key="k", Body=b"v")
    assert s3.get_object(Bucket="eu-bucket", Key="k")["Body"].read() == b"v"
    sqs = svc("sqs")
    url = sqs.create_queue(QueueName="eu-queue")["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="hi")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in got] == ["hi"]


def test_the_aws_cli_with_test_credentials_in_eu_west_1(dev: LaminaProcess, tmp_path: Path) -> None:
    def aws(*args: str) -> Any:
        return cli_json(
            aws_cli(dev, tmp_path, *args, key="test", secret="test", region="eu-west-1")
        )

    code = tmp_path / "echo.zip"
    code.write_bytes(ECHO)
    created = aws(
        "lambda",
        "create-function",
        "--function-name",
        "cli-eu-echo",
        "--runtime",
        "python3.12",
        "--role",
        "arn:aws:iam::000000000000:role/r",
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{code}",
    )
    assert created["FunctionArn"].endswith(":function:cli-eu-echo")
    names = [f["FunctionName"] for f in aws("lambda", "list-functions")["Functions"]]
    assert "cli-eu-echo" in names
    aws(
        "s3api",
        "create-bucket",
        "--bucket",
        "cli-eu-bucket",
        "--create-bucket-configuration",
        "LocationConstraint=eu-west-1",
    )
    buckets = [b["Name"] for b in aws("s3api", "list-buckets")["Buckets"]]
    assert "cli-eu-bucket" in buckets


def test_settings_reach_the_server_from_the_environment(tmp_path: Path) -> None:
    bad = LaminaProcess(tmp_path / "bad", {"LAMINA_ACCESS_KEYS": "no-colon-here"})
    with pytest.raises(RuntimeError, match="ACCESS_KEY_ID:SECRET_ACCESS_KEY"):
        bad.start()
