"""The SAM CLI's stack commands against Lamina: ``sam list stack-outputs`` and ``sam logs``
after a real ``lamina up``, with the endpoint from ``AWS_ENDPOINT_URL`` as users set it.

The SAM CLI lives in its own virtual environment (``make sam-cli`` → ``build/sam-venv``), since
it pins boto3/botocore versions other than the project's.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, LaminaProcess
from tests.sam.upcli import up
from tests.unavailable import unavailable

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SAM = ROOT / "build" / "sam-venv" / "bin" / "sam"
STACK = "sam-cli-app"
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: python3.12
Outputs:
  HelloArn:
    Description: the function's ARN
    Value: !GetAtt Hello.Arn
"""
HANDLER = """
def handler(event, context):
    print("line for sam logs", event["n"])
    return event["n"]
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    if not SAM.exists():
        unavailable(f"the SAM CLI is not installed at {SAM} (run `make sam-cli`)")
    proc = LaminaProcess(tmp_path_factory.mktemp("sam-cli-data")).start()
    try:
        root = tmp_path_factory.mktemp("sam-cli-project")
        (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE))
        (root / "hello").mkdir()
        (root / "hello" / "app.py").write_text(textwrap.dedent(HANDLER))
        code, report = up(proc, root / "template.yaml", "--stack-name", STACK)
        assert code == 0, report
        yield proc
    finally:
        proc.stop()


def sam(server: LaminaProcess, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{SAM.parent}:/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "SAM_CLI_TELEMETRY": "0",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    return subprocess.run(
        [str(SAM), *args, "--region", "eu-west-1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=home,
    )


def test_sam_list_stack_outputs(server: LaminaProcess, tmp_path: Path) -> None:
    out = sam(server, tmp_path, "list", "stack-outputs", "--stack-name", STACK, "--output", "json")
    assert out.returncode == 0, out.stderr
    (output,) = json.loads(out.stdout)
    assert output["OutputKey"] == "HelloArn"
    assert output["OutputValue"].endswith(f":function:{STACK}-Hello")
    assert output["Description"] == "the function's ARN"
    missing = sam(server, tmp_path, "list", "stack-outputs", "--stack-name", "nope")
    assert missing.returncode != 0
    assert "nope" in missing.stdout + missing.stderr


def test_sam_logs_by_function_and_by_stack(server: LaminaProcess, tmp_path: Path) -> None:
    client = server.lambda_client()
    out = client.invoke(FunctionName=f"{STACK}-Hello", Payload=b'{"n": 7}')
    assert out["Payload"].read() == b"7"
    by_name = sam(server, tmp_path, "logs", "-n", "Hello", "--stack-name", STACK)
    assert by_name.returncode == 0, by_name.stderr
    assert "line for sam logs 7" in by_name.stdout
    assert "REPORT RequestId:" in by_name.stdout
    whole_stack = sam(server, tmp_path, "logs", "--stack-name", STACK)
    assert whole_stack.returncode == 0, whole_stack.stderr
    assert "line for sam logs 7" in whole_stack.stdout
