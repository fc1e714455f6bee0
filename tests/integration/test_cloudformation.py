"""CloudFormation's read API over a stack ``lamina up`` deployed, with boto3 and the AWS CLI.

A real ``lamina serve``, a real ``lamina up`` of a SAM template (a function, a queue, an
Output with an export, a resource Lamina does not make), then the calls READMEs and tools
make: ``describe-stacks --query "Stacks[0].Outputs"``, resources, events, template, exports.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import (
    LaminaProcess,
    aws_cli,
    aws_client,
    python_zip,
    running_lamina,
    signed_lamina,
)
from tests.sam.upcli import up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

STACK = "cfn-read"
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Description: CloudFormation read API test
Parameters:
  Stage:
    Type: String
    Default: dev
    Description: the stage
Resources:
  Hello:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: hello/
      Handler: app.handler
      Runtime: python3.12
      Environment:
        Variables:
          STAGE: !Ref Stage
{queue}
  Table:
    Type: AWS::Serverless::SimpleTable
Outputs:
  HelloArn:
    Description: the function's ARN
    Value: !GetAtt Hello.Arn
    Export:
      Name: !Sub "${{AWS::StackName}}-HelloArn"
  StageName:
    Value: !Ref Stage
"""
QUEUE = """
  Jobs:
    Type: AWS::SQS::Queue
"""


def write_project(root: Path, *, with_queue: bool = True) -> Path:
    text = TEMPLATE.format(queue=QUEUE if with_queue else "")
    (root / "template.yaml").write_text(textwrap.dedent(text))
    (root / "hello").mkdir(exist_ok=True)
    (root / "hello" / "app.py").write_text("def handler(event, context):\n    return 1\n")
    return root / "template.yaml"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("cfn-data")) as proc:
        yield proc


@pytest.fixture(scope="module")
def project(server: LaminaProcess, tmp_path_factory: pytest.TempPathFactory) -> Path:
    template = write_project(tmp_path_factory.mktemp("cfn-project"))
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    return template


def cfn(server: LaminaProcess) -> Any:
    return aws_client(server, "cloudformation", "test", "test")


def aws(server: LaminaProcess, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return aws_cli(server, home, *args, key="test", secret="test")


def test_describe_stacks_shows_status_parameters_and_outputs(
    server: LaminaProcess, project: Path
) -> None:
    stack = cfn(server).describe_stacks(StackName=STACK)["Stacks"][0]
    assert stack["StackName"] == STACK
    assert stack["StackId"].startswith("arn:aws:cloudformation:us-east-1:")
    assert f":stack/{STACK}/" in stack["StackId"]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    assert stack["Description"] == "CloudFormation read API test"
    assert stack["Parameters"] == [{"ParameterKey": "Stage", "ParameterValue": "dev"}]
    outputs = {o["OutputKey"]: o for o in stack["Outputs"]}
    assert outputs["HelloArn"]["OutputValue"].endswith(f":function:{STACK}-Hello")
    assert outputs["HelloArn"]["Description"] == "the function's ARN"
    assert outputs["HelloArn"]["ExportName"] == f"{STACK}-HelloArn"
    assert outputs["StageName"]["OutputValue"] == "dev"
    # Every live stack when no name is given.
    names = [s["StackName"] for s in cfn(server).describe_stacks()["Stacks"]]
    assert STACK in names


def test_the_aws_cli_queries_the_outputs_as_readmes_say(
    server: LaminaProcess, project: Path, tmp_path: Path
) -> None:
    out = aws(
        server,
        tmp_path,
        "cloudformation",
        "describe-stacks",
        "--stack-name",
        STACK,
        "--query",
        "Stacks[0].Outputs[?OutputKey=='HelloArn'].OutputValue",
    )
    assert out.returncode == 0, out.stderr
    (arn,) = json.loads(out.stdout)
    assert arn.endswith(f":function:{STACK}-Hello")
    missing = aws(server, tmp_path, "cloudformation", "describe-stacks", "--stack-name", "nope")
    assert missing.returncode != 0
    assert "ValidationError" in missing.stderr
    assert "Stack with id nope does not exist" in missing.stderr


def test_resources_are_the_ones_lamina_made_with_their_physical_ids(
    server: LaminaProcess, project: Path
) -> None:
    client = cfn(server)
    rows = client.describe_stack_resources(StackName=STACK)["StackResources"]
    by_id = {r["LogicalResourceId"]: r for r in rows}
    # The SimpleTable is not made by Lamina, so the stack does not claim it.
    assert set(by_id) == {"Hello", "Jobs"}
    assert by_id["Hello"]["PhysicalResourceId"] == f"{STACK}-Hello"
    # The type CloudFormation lists after SAM's transform (what `sam logs` looks for).
    assert by_id["Hello"]["ResourceType"] == "AWS::Lambda::Function"
    assert by_id["Hello"]["ResourceStatus"] == "CREATE_COMPLETE"
    queue_url = by_id["Jobs"]["PhysicalResourceId"]
    assert queue_url.endswith(f"/{STACK}-Jobs")
    # The queue really exists where the record says.
    sqs = boto3.client(
        "sqs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert sqs.get_queue_url(QueueName=f"{STACK}-Jobs")["QueueUrl"] == queue_url
    detail = client.describe_stack_resource(StackName=STACK, LogicalResourceId="Hello")
    assert detail["StackResourceDetail"]["PhysicalResourceId"] == f"{STACK}-Hello"
    summaries = client.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    assert sorted(s["LogicalResourceId"] for s in summaries) == ["Hello", "Jobs"]
    by_physical = client.describe_stack_resources(PhysicalResourceId=f"{STACK}-Hello")
    assert [r["StackName"] for r in by_physical["StackResources"]] == [STACK]
    with pytest.raises(ClientError) as err:
        client.describe_stack_resource(StackName=STACK, LogicalResourceId="Table")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "Resource Table does not exist" in err.value.response["Error"]["Message"]


def test_template_summary_exports_and_events(server: LaminaProcess, project: Path) -> None:
    client = cfn(server)
    body = client.get_template(StackName=STACK)["TemplateBody"]
    assert "AWS::Serverless::Function" in body and "Hello:" in body
    summary = client.get_template_summary(StackName=STACK)
    assert summary["Parameters"][0]["ParameterKey"] == "Stage"
    assert summary["Parameters"][0]["DefaultValue"] == "dev"
    assert "AWS::SQS::Queue" in summary["ResourceTypes"]
    exports = {e["Name"]: e for e in client.list_exports()["Exports"]}
    export = exports[f"{STACK}-HelloArn"]
    assert export["Value"].endswith(f":function:{STACK}-Hello")
    assert (
        export["ExportingStackId"]
        == client.describe_stacks(StackName=STACK)["Stacks"][0]["StackId"]
    )
    events = client.describe_stack_events(StackName=STACK)["StackEvents"]
    # Newest first: the stack's CREATE_COMPLETE, one event per resource, the start.
    assert (events[0]["LogicalResourceId"], events[0]["ResourceStatus"]) == (
        STACK,
        "CREATE_COMPLETE",
    )
    assert events[-1]["ResourceStatus"] == "CREATE_IN_PROGRESS"
    per_resource = {e["LogicalResourceId"]: e["ResourceStatus"] for e in events[1:-1]}
    assert per_resource == {"Hello": "CREATE_COMPLETE", "Jobs": "CREATE_COMPLETE"}


def test_unknown_stacks_and_delete_stack_are_clear_errors(
    server: LaminaProcess, project: Path
) -> None:
    client = cfn(server)
    for operation in ("describe_stacks", "describe_stack_events", "get_template"):
        with pytest.raises(ClientError) as err:
            getattr(client, operation)(StackName="missing")
        assert err.value.response["Error"]["Code"] == "ValidationError"
        assert err.value.response["Error"]["Message"] == "Stack with id missing does not exist"
    with pytest.raises(ClientError) as err:
        client.delete_stack(StackName=STACK)
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert "lamina down" in err.value.response["Error"]["Message"]
    # Refused, so the stack is still there.
    assert client.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"].endswith("_COMPLETE")


def test_a_second_up_updates_the_stack_and_removes_what_left_the_template(
    server: LaminaProcess, tmp_path: Path
) -> None:
    name = "cfn-update"
    template = write_project(tmp_path)
    assert up(server, template, "--stack-name", name)[0] == 0
    client = cfn(server)
    first = client.describe_stacks(StackName=name)["Stacks"][0]
    events = client.describe_stack_events(StackName=name)["StackEvents"]
    # A second `up` that changes nothing leaves the stack as it was.
    assert up(server, template, "--stack-name", name)[0] == 0
    assert client.describe_stacks(StackName=name)["Stacks"][0] == first
    assert client.describe_stack_events(StackName=name)["StackEvents"] == events
    write_project(tmp_path, with_queue=False)
    (tmp_path / "hello" / "app.py").write_text("def handler(event, context):\n    return 2\n")
    code, report = up(server, template, "--stack-name", name)
    assert code == 0, report
    stack = client.describe_stacks(StackName=name)["Stacks"][0]
    assert stack["StackStatus"] == "UPDATE_COMPLETE"
    assert stack["StackId"] == first["StackId"]
    assert stack["CreationTime"] == first["CreationTime"]
    assert "LastUpdatedTime" in stack
    rows = client.describe_stack_resources(StackName=name)["StackResources"]
    assert [(r["LogicalResourceId"], r["ResourceStatus"]) for r in rows] == [
        ("Hello", "UPDATE_COMPLETE")
    ]
    events = client.describe_stack_events(StackName=name)["StackEvents"]
    assert ("Hello", "UPDATE_COMPLETE") in {
        (e["LogicalResourceId"], e["ResourceStatus"]) for e in events
    }
    assert ("Jobs", "DELETE_COMPLETE") in {
        (e["LogicalResourceId"], e["ResourceStatus"]) for e in events
    }
    assert events[0]["ResourceStatus"] == "UPDATE_COMPLETE"
    # A third `up` that changes only the template's other parts leaves Hello as it was.
    hello = client.describe_stack_resource(StackName=name, LogicalResourceId="Hello")
    write_project(tmp_path, with_queue=True)
    (tmp_path / "hello" / "app.py").write_text("def handler(event, context):\n    return 2\n")
    assert up(server, template, "--stack-name", name)[0] == 0
    again = client.describe_stack_resource(StackName=name, LogicalResourceId="Hello")
    assert again == {**hello, "ResponseMetadata": again["ResponseMetadata"]}
    jobs = client.describe_stack_resource(StackName=name, LogicalResourceId="Jobs")
    assert jobs["StackResourceDetail"]["ResourceStatus"] == "CREATE_COMPLETE"
    listed = client.list_stacks(StackStatusFilter=["UPDATE_COMPLETE"])["StackSummaries"]
    assert name in [s["StackName"] for s in listed]
    created_only = client.list_stacks(StackStatusFilter=["CREATE_COMPLETE"])["StackSummaries"]
    assert name not in [s["StackName"] for s in created_only]


# -- signed mode: a function's role is authorised as cloudformation:<Operation> on the stack --
KEY, SECRET = "AKIDCFNOPERATOR", "cfn-operator-secret"
ACCOUNT = "000000000000"
PROBE = """
import boto3
from botocore.exceptions import ClientError
def handler(event, context):
    try:
        boto3.client("cloudformation").describe_stacks(StackName=event["stack"])
        return "ok"
    except ClientError as e:
        return e.response["Error"]["Code"] + ": " + e.response["Error"]["Message"]
"""


def test_a_role_reads_only_the_stacks_its_policy_names(tmp_path: Path) -> None:
    with signed_lamina(tmp_path / "data", KEY, SECRET, "stack-reader") as server:
        aws_client(server, "iam", KEY, SECRET).put_role_policy(
            RoleName="stack-reader",
            PolicyName="read-app",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": "cloudformation:DescribeStacks",
                            "Resource": f"arn:aws:cloudformation:us-east-1:{ACCOUNT}:stack/app/*",
                        }
                    ],
                }
            ),
        )
        lam = aws_client(server, "lambda", KEY, SECRET, read_timeout=120)
        lam.create_function(
            FunctionName="reader",
            Runtime="python3.11",
            Handler="app.handler",
            Code={"ZipFile": python_zip(PROBE)},
            Role=f"arn:aws:iam::{ACCOUNT}:role/stack-reader",
            Timeout=60,
        )

        def describe(stack: str) -> str:
            out = lam.invoke(FunctionName="reader", Payload=json.dumps({"stack": stack}))
            assert "FunctionError" not in out
            return str(json.loads(out["Payload"].read()))

        # Allowed, so CloudFormation itself answers (there is no such stack yet).
        assert describe("app") == "ValidationError: Stack with id app does not exist"
        denied = describe("payroll")
        assert denied.startswith("AccessDenied: ")
        assert "cloudformation:DescribeStacks" in denied


def test_lamina_down_removes_the_stacks_resources_and_marks_it_deleted(
    server: LaminaProcess, tmp_path: Path
) -> None:
    name = "cfn-down"
    template = write_project(tmp_path)
    assert up(server, template, "--stack-name", name)[0] == 0
    client = cfn(server)
    stack_id = client.describe_stacks(StackName=name)["Stacks"][0]["StackId"]
    down = subprocess.run(
        [
            sys.executable,
            "-m",
            "lamina.cli.main",
            "down",
            str(template),
            "--endpoint",
            server.endpoint,
            "--stack-name",
            name,
            "--json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert down.returncode == 0, down.stdout + down.stderr
    report = json.loads(down.stdout)
    assert sorted(report["removed"]) == [f"function {name}-Hello", f"queue {name}-Jobs"]
    names = [f["FunctionName"] for f in server.lambda_client().list_functions()["Functions"]]
    assert f"{name}-Hello" not in names
    with pytest.raises(ClientError) as err:
        client.describe_stacks(StackName=name)
    assert err.value.response["Error"]["Message"] == f"Stack with id {name} does not exist"
    # By its StackId a deleted stack is still described, as on AWS.
    gone = client.describe_stacks(StackName=stack_id)["Stacks"][0]
    assert gone["StackStatus"] == "DELETE_COMPLETE" and "DeletionTime" in gone
    deleted = client.list_stacks(StackStatusFilter=["DELETE_COMPLETE"])["StackSummaries"]
    assert [s["StackName"] for s in deleted] == [name]
    assert client.list_stack_resources(StackName=stack_id)["StackResourceSummaries"] == []
    # A new `up` of the name brings the stack back, created afresh.
    assert up(server, template, "--stack-name", name)[0] == 0
    assert client.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"
