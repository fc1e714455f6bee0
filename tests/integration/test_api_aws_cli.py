"""The AWS CLI v1 (``.venv/bin/aws``) managing and invoking functions on Lamina."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, aws_cli, cli_json, python_zip, signed_lamina

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

KEY, SECRET = "AKIDCLITEST", "cli-secret"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with signed_lamina(tmp_path_factory.mktemp("aws-cli"), KEY, SECRET, "lambda-role") as proc:
        yield proc


def aws(
    server: LaminaProcess, home: Path, *args: str, secret: str = SECRET
) -> subprocess.CompletedProcess[str]:
    """Run ``aws lambda <args>`` with credentials from the environment only."""
    return aws_cli(server, home, "lambda", *args, key=KEY, secret=secret)


# AWS CLI v1 sends --payload as it is given; v2 needs --cli-binary-format raw-in-base64-out.
def test_the_aws_cli_creates_publishes_aliases_invokes_and_deletes(
    server: LaminaProcess, tmp_path: Path
) -> None:
    package = tmp_path / "fn.zip"
    package.write_bytes(
        python_zip("""
        def handler(event, context):
            return {"hello": event.get("name"), "arn": context.invoked_function_arn}
        """)
    )
    created = cli_json(
        aws(
            server,
            tmp_path,
            "create-function",
            "--function-name",
            "cli-hello",
            "--runtime",
            "python3.12",
            "--role",
            "arn:aws:iam::000000000000:role/lambda-role",
            "--handler",
            "app.handler",
            "--zip-file",
            f"fileb://{package}",
            "--memory-size",
            "256",
        )
    )
    assert created["FunctionName"] == "cli-hello" and created["MemorySize"] == 256
    out = tmp_path / "out.json"
    meta = cli_json(
        aws(
            server,
            tmp_path,
            "invoke",
            "--function-name",
            "cli-hello",
            "--payload",
            '{"name": "Bob"}',
            str(out),
        )
    )
    assert meta["StatusCode"] == 200 and meta["ExecutedVersion"] == "$LATEST"
    assert json.loads(out.read_text())["hello"] == "Bob"
    version = cli_json(aws(server, tmp_path, "publish-version", "--function-name", "cli-hello"))
    assert version["Version"] == "1"
    cli_json(
        aws(
            server,
            tmp_path,
            "create-alias",
            "--function-name",
            "cli-hello",
            "--name",
            "prod",
            "--function-version",
            "1",
        )
    )
    meta = cli_json(
        aws(
            server,
            tmp_path,
            "invoke",
            "--function-name",
            "cli-hello",
            "--qualifier",
            "prod",
            "--payload",
            '{"name": "Ann"}',
            str(out),
        )
    )
    assert meta["ExecutedVersion"] == "1"
    assert json.loads(out.read_text())["arn"].endswith(":function:cli-hello:prod")
    listed = cli_json(aws(server, tmp_path, "list-functions"))
    assert [f["FunctionName"] for f in listed["Functions"]] == ["cli-hello"]
    got = cli_json(aws(server, tmp_path, "get-function", "--function-name", "cli-hello"))
    assert got["Configuration"]["Version"] == "$LATEST"
    cli_json(aws(server, tmp_path, "delete-function", "--function-name", "cli-hello"))
    missing = aws(server, tmp_path, "get-function", "--function-name", "cli-hello")
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr


def test_the_aws_cli_with_a_wrong_secret_is_refused(server: LaminaProcess, tmp_path: Path) -> None:
    result = aws(server, tmp_path, "list-functions", secret="not-it")
    assert result.returncode != 0
    assert "InvalidSignatureException" in result.stderr
