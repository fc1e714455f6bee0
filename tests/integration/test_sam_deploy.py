"""``sam deploy`` / ``sam delete`` (and ``aws cloudformation deploy``) against Lamina, unmodified:
CloudFormation change sets deployed by the server from the artifacts ``sam package`` put in
Lamina's S3 (docs/sam.md, "sam deploy").

The SAM CLI lives in its own virtual environment (``make sam-cli`` → ``build/sam-venv``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import AWS, LaminaProcess, aws_client, signed_lamina
from tests.sam.upcli import up_command
from tests.unavailable import unavailable

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SAM = Path(__file__).resolve().parents[2] / "build" / "sam-venv" / "bin" / "sam"
RUNTIME = f"python3.{sys.version_info.minor}"  # `sam build` needs this interpreter on PATH
TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Greeting:
    Type: String
    Default: hello
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: {RUNTIME}
      Environment:
        Variables:
          GREETING: !Ref Greeting
Outputs:
  HelloArn:
    Description: the function's ARN
    Value: !GetAtt Hello.Arn
"""
HANDLER = """
import os


def handler(event, context):
    print("sam deploy line", event.get("n"))
    return {{"greeting": os.environ["GREETING"], "version": {version}}}
"""


def project(root: Path, version: int) -> Path:
    (root / "hello").mkdir(parents=True, exist_ok=True)
    (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE))
    (root / "hello" / "app.py").write_text(textwrap.dedent(HANDLER.format(version=version)))
    return root


def sam(
    server: LaminaProcess, cwd: Path, *args: str, key: tuple[str, str] = ("test", "test")
) -> subprocess.CompletedProcess[str]:
    home = cwd.parent / f"{cwd.name}-home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": f"{SAM.parent}:{Path(AWS).parent}:/usr/local/bin:/usr/bin:/bin",
        "HOME": str(home),
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": key[0],
        "AWS_SECRET_ACCESS_KEY": key[1],
        "AWS_CONFIG_FILE": str(home / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "none"),
        "SAM_CLI_TELEMETRY": "0",
        "SAM_CLI_POLL_DELAY": "1",
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    return subprocess.run(
        [str(SAM), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=cwd,
    )


def deploy(
    server: LaminaProcess,
    cwd: Path,
    stack: str,
    *extra: str,
    key: tuple[str, str] = ("test", "test"),
) -> subprocess.CompletedProcess[str]:
    built = sam(server, cwd, "build")
    assert built.returncode == 0, built.stdout + built.stderr
    return sam(
        server,
        cwd,
        "deploy",
        "--stack-name",
        stack,
        "--region",
        "us-east-1",
        "--no-confirm-changeset",
        "--capabilities",
        "CAPABILITY_IAM",
        *extra,
        key=key,
    )


def answer(server: LaminaProcess, name: str) -> Any:
    out = server.lambda_client().invoke(FunctionName=name, Payload=b'{"n": 7}')
    assert "FunctionError" not in out, out
    return json.loads(out["Payload"].read())


def status(server: LaminaProcess, stack: str) -> str:
    stacks = aws_client(server, "cloudformation").describe_stacks(StackName=stack)["Stacks"]
    return str(stacks[0]["StackStatus"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    if not SAM.exists():
        unavailable(f"the SAM CLI is not installed at {SAM} (run `make sam-cli`)")
    proc = LaminaProcess(tmp_path_factory.mktemp("sam-deploy-data")).start()
    try:
        aws_client(proc, "s3").create_bucket(Bucket="deploys")
        yield proc
    finally:
        proc.stop()


def test_deploy_update_no_changes_restart_and_delete(server: LaminaProcess, tmp_path: Path) -> None:
    root = project(tmp_path / "app", version=1)
    first = deploy(server, root, "sam-app", "--s3-bucket", "deploys")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Successfully created/updated stack - sam-app" in first.stdout
    assert answer(server, "sam-app-Hello") == {"greeting": "hello", "version": 1}
    assert status(server, "sam-app") == "CREATE_COMPLETE"

    # New code, a new parameter value: an UPDATE change set that modifies the function.
    project(root, version=2)
    second = deploy(
        server, root, "sam-app", "--s3-bucket", "deploys", "--parameter-overrides", "Greeting=hi"
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Modify" in second.stdout and "Hello" in second.stdout
    assert answer(server, "sam-app-Hello") == {"greeting": "hi", "version": 2}
    assert status(server, "sam-app") == "UPDATE_COMPLETE"
    events = aws_client(server, "cloudformation").describe_stack_events(StackName="sam-app")
    statuses = [
        e["ResourceStatus"] for e in events["StackEvents"] if e["LogicalResourceId"] == "sam-app"
    ]
    assert statuses[:2] == ["UPDATE_COMPLETE", "UPDATE_IN_PROGRESS"]

    # Nothing changed: the SAM CLI's "No changes" path, failing unless told not to.
    same = ("--s3-bucket", "deploys", "--parameter-overrides", "Greeting=hi")
    empty = deploy(server, root, "sam-app", *same)
    assert empty.returncode != 0
    assert "No changes to deploy" in empty.stdout + empty.stderr
    allowed = deploy(server, root, "sam-app", *same, "--no-fail-on-empty-changeset")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "No changes to deploy" in allowed.stdout + allowed.stderr

    outputs = sam(
        server,
        root,
        "list",
        "stack-outputs",
        "--stack-name",
        "sam-app",
        "--output",
        "json",
        "--region",
        "us-east-1",
    )
    assert outputs.returncode == 0, outputs.stderr
    (output,) = json.loads(outputs.stdout)
    assert output["OutputValue"].endswith(":function:sam-app-Hello")
    logs = sam(
        server, root, "logs", "-n", "Hello", "--stack-name", "sam-app", "--region", "us-east-1"
    )
    assert logs.returncode == 0, logs.stderr
    assert "sam deploy line 7" in logs.stdout

    # `lamina up` of the same stack name is refused: the server deploys it.
    refused = subprocess.run(
        up_command(server, root / "template.yaml", "--stack-name", "sam-app"),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert refused.returncode != 0
    assert "deployed by CloudFormation change sets on this server" in refused.stderr
    down = [sys.executable, "-m", "lamina.cli.main", "down", str(root / "template.yaml")]
    not_down = subprocess.run(
        [*down, "--endpoint", server.endpoint, "--stack-name", "sam-app"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert not_down.returncode != 0
    assert "deployed by CloudFormation change sets on this server" in not_down.stderr
    assert answer(server, "sam-app-Hello") == {"greeting": "hi", "version": 2}  # untouched

    # A restart keeps the stack and its state: the next deploy updates the same function.
    server.stop()
    server.start()
    assert status(server, "sam-app") == "UPDATE_COMPLETE"
    project(root, version=3)
    third = deploy(server, root, "sam-app", *same)
    assert third.returncode == 0, third.stdout + third.stderr
    assert answer(server, "sam-app-Hello") == {"greeting": "hi", "version": 3}

    deleted = sam(
        server, root, "delete", "--stack-name", "sam-app", "--no-prompts", "--region", "us-east-1"
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    with pytest.raises(ClientError, match="does not exist"):
        status(server, "sam-app")
    names = [f["FunctionName"] for f in server.lambda_client().list_functions()["Functions"]]
    assert "sam-app-Hello" not in names
    summaries = aws_client(server, "cloudformation").list_stacks()["StackSummaries"]
    assert {"sam-app": "DELETE_COMPLETE"}.items() <= {
        s["StackName"]: s["StackStatus"] for s in summaries
    }.items()


API_TEMPLATE = f"""
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: {RUNTIME}
      Events:
        Get:
          Type: Api
          Properties:
            Path: /hello
            Method: get
Outputs:
  HelloApi:
    Value: !Sub "https://${{ServerlessRestApi}}.execute-api.${{AWS::Region}}.amazonaws.com/Prod/hello/"
"""


def test_resolve_s3_and_an_api_event(server: LaminaProcess, tmp_path: Path) -> None:
    """`sam init`'s hello world: an Api event, its URL in the Outputs; SAM's managed bucket."""
    root = tmp_path / "resolved"
    (root / "hello").mkdir(parents=True)
    (root / "template.yaml").write_text(textwrap.dedent(API_TEMPLATE))
    (root / "hello" / "app.py").write_text(
        "def handler(event, context):\n    return {'statusCode': 200, 'body': 'hi from the api'}\n"
    )
    out = deploy(server, root, "resolved", "--resolve-s3")
    assert out.returncode == 0, out.stdout + out.stderr
    assert status(server, "aws-sam-cli-managed-default") == "CREATE_COMPLETE"
    stack = aws_client(server, "cloudformation").describe_stacks(StackName="resolved")
    (url,) = [o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]]
    assert url.startswith("http://127.0.0.1:") and url.endswith("/Prod/hello/")
    with urllib.request.urlopen(url, timeout=30) as got:
        assert got.read() == b"hi from the api"
    deleted = sam(
        server, root, "delete", "--stack-name", "resolved", "--no-prompts", "--region", "us-east-1"
    )
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr


def test_aws_cloudformation_deploy(server: LaminaProcess, tmp_path: Path) -> None:
    root = project(tmp_path / "cli", version=5)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": server.endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }

    def aws(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [AWS, "cloudformation", *args],
            env=env,
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    packaged = aws(
        "package",
        "--template-file",
        "template.yaml",
        "--s3-bucket",
        "deploys",
        "--output-template-file",
        "packaged.yaml",
    )
    assert packaged.returncode == 0, packaged.stderr
    assert "s3://deploys/" in (root / "packaged.yaml").read_text()
    deployed = aws(
        "deploy",
        "--template-file",
        "packaged.yaml",
        "--stack-name",
        "cli-app",
        "--capabilities",
        "CAPABILITY_IAM",
    )
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    assert answer(server, "cli-app-Hello") == {"greeting": "hello", "version": 5}
    again = aws(
        "deploy",
        "--template-file",
        "packaged.yaml",
        "--stack-name",
        "cli-app",
        "--capabilities",
        "CAPABILITY_IAM",
        "--no-fail-on-empty-changeset",
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "No changes to deploy" in again.stdout


def test_bad_templates_are_refused_or_fail_with_the_reason(server: LaminaProcess) -> None:
    cfn = aws_client(server, "cloudformation")
    bad: dict[str, Any] = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Fn": {
                "Type": "AWS::Serverless::Function",
                "Properties": {"CodeUri": "src/", "Handler": "app.handler", "Runtime": RUNTIME},
            }
        },
    }
    made = cfn.create_change_set(
        StackName="bad-app",
        ChangeSetName="one",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(bad),
    )
    with pytest.raises(Exception, match="FAILED"):
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=made["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    described = cfn.describe_change_set(ChangeSetName=made["Id"])
    assert described["Status"] == "FAILED"
    assert described["ExecutionStatus"] == "UNAVAILABLE"
    assert "Fn.CodeUri 'src/' is a local path" in described["StatusReason"]
    # The stack waits for a change set that works, as on AWS.
    assert status(server, "bad-app") == "REVIEW_IN_PROGRESS"
    with pytest.raises(ClientError) as refused:
        cfn.execute_change_set(ChangeSetName=made["Id"])
    assert refused.value.response["Error"]["Code"] == "InvalidChangeSetStatus"

    # A role SAM would make needs CAPABILITY_IAM acknowledged, as on AWS.
    bad["Resources"]["Fn"]["Properties"]["CodeUri"] = "s3://deploys/some-zip"
    unacknowledged = cfn.create_change_set(
        StackName="bad-app",
        ChangeSetName="iam",
        ChangeSetType="CREATE",
        TemplateBody=json.dumps(bad),
    )
    with pytest.raises(Exception, match="FAILED"):
        cfn.get_waiter("change_set_create_complete").wait(
            ChangeSetName=unacknowledged["Id"], WaiterConfig={"Delay": 1, "MaxAttempts": 30}
        )
    reason = cfn.describe_change_set(ChangeSetName=unacknowledged["Id"])["StatusReason"]
    assert reason == "Requires capabilities : [CAPABILITY_IAM]"

    # A template elsewhere than Lamina's own S3 is never fetched.
    with pytest.raises(ClientError) as foreign:
        cfn.create_change_set(
            StackName="bad-app",
            ChangeSetName="two",
            ChangeSetType="CREATE",
            TemplateURL="https://s3.amazonaws.com/someone/template.yaml",
        )
    assert foreign.value.response["Error"]["Code"] == "ValidationError"
    assert "Lamina's own S3" in foreign.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as large:
        cfn.create_change_set(
            StackName="bad-app",
            ChangeSetName="three",
            TemplateBody=" " * 51_201,
            ChangeSetType="CREATE",
        )
    assert "51200" in large.value.response["Error"]["Message"]
    cfn.delete_stack(StackName="bad-app")
    with pytest.raises(ClientError, match="does not exist"):
        status(server, "bad-app")


def test_create_and_update_stack(server: LaminaProcess, tmp_path: Path) -> None:
    """CreateStack / UpdateStack (Terraform's aws_cloudformation_stack), with inline code."""
    cfn = aws_client(server, "cloudformation", read_timeout=120)

    def template(version: int) -> str:
        code = f"def handler(event, context):\n    return {version}\n"
        return json.dumps(
            {
                "Resources": {
                    "Fn": {
                        "Type": "AWS::Lambda::Function",
                        "Properties": {
                            "FunctionName": "tf-inline",
                            "Runtime": RUNTIME,
                            "Handler": "index.handler",
                            "Role": "arn:aws:iam::000000000000:role/lambda-role",
                            "Code": {"ZipFile": code},
                        },
                    }
                }
            }
        )

    cfn.create_stack(StackName="tf-app", TemplateBody=template(1))
    cfn.get_waiter("stack_create_complete").wait(
        StackName="tf-app", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    assert answer(server, "tf-inline") == 1
    cfn.update_stack(StackName="tf-app", TemplateBody=template(2))
    cfn.get_waiter("stack_update_complete").wait(
        StackName="tf-app", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    assert answer(server, "tf-inline") == 2
    with pytest.raises(ClientError, match="No updates are to be performed"):
        cfn.update_stack(StackName="tf-app", TemplateBody=template(2))
    cfn.delete_stack(StackName="tf-app")
    cfn.get_waiter("stack_delete_complete").wait(
        StackName="tf-app", WaiterConfig={"Delay": 1, "MaxAttempts": 120}
    )
    names = [f["FunctionName"] for f in server.lambda_client().list_functions()["Functions"]]
    assert "tf-inline" not in names


NODE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: nodejs20.x
"""


def test_a_node_function(server: LaminaProcess, tmp_path: Path) -> None:
    root = tmp_path / "node"
    (root / "hello").mkdir(parents=True)
    (root / "template.yaml").write_text(textwrap.dedent(NODE_TEMPLATE))
    (root / "hello" / "app.js").write_text(
        "exports.handler = async (event) => ({ node: process.version, n: event.n });\n"
    )
    (root / "hello" / "package.json").write_text('{"name": "hello", "version": "1.0.0"}')
    out = deploy(server, root, "node-app", "--s3-bucket", "deploys")
    assert out.returncode == 0, out.stdout + out.stderr
    got = answer(server, "node-app-Hello")
    assert got["n"] == 7 and got["node"].startswith("v")


def test_signed_mode_needs_a_valid_key_and_deploys(tmp_path: Path) -> None:
    if not SAM.exists():
        unavailable(f"the SAM CLI is not installed at {SAM} (run `make sam-cli`)")
    key = ("AKIDDEPLOY", "deploy-secret")
    with signed_lamina(tmp_path / "data", *key) as proc:
        aws_client(proc, "s3", *key).create_bucket(Bucket="signed")
        root = project(tmp_path / "signed", version=9)
        wrong = deploy(proc, root, "signed-app", "--s3-bucket", "signed", key=(key[0], "nope"))
        assert wrong.returncode != 0
        out = deploy(proc, root, "signed-app", "--s3-bucket", "signed", key=key)
        assert out.returncode == 0, out.stdout + out.stderr
        client = aws_client(proc, "lambda", *key)
        got = client.invoke(FunctionName="signed-app-Hello", Payload=b"{}")
        assert json.loads(got["Payload"].read()) == {"greeting": "hello", "version": 9}
