"""``lamina up`` with layers: LayerVersions built, published, referenced, republished.

A real ``lamina serve`` and ``lamina up`` run as a user runs them; the layers are checked
with boto3 and by invoking the function that imports from them.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.integration.harness import LaminaProcess, running_lamina
from tests.sam.upcli import nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Shared:
    Type: AWS::Serverless::LayerVersion
    Properties:
      LayerName: shared-lib
      ContentUri: shared/
      CompatibleRuntimes: [python3.12]
    Metadata:
      BuildMethod: python3.12
  Plain:
    Type: AWS::Lambda::LayerVersion
    Properties:
      LayerName: plain-lib
      Content: plain/
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: python3.12
      Layers:
        - !Ref Shared
        - !Ref Plain
  FnLogs:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Fn}
      RetentionInDays: 7
Outputs:
  LogGroup:
    Value: !Ref FnLogs
  SharedArn:
    Value: !Ref Shared
  PlainArn:
    Value: !GetAtt Plain.LayerVersionArn
"""
HANDLER = """
import greeting, plain

def handler(event, context):
    return {"greeting": greeting.TEXT, "plain": plain.TEXT, "file": greeting.__file__}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("sam-layers-data")) as proc:
        yield proc


def write_project(root: Path, greeting: str) -> Path:
    (root / "template.yaml").write_text(textwrap.dedent(TEMPLATE))
    for folder in ("shared", "plain/python", "fn"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "shared" / "greeting.py").write_text(f"TEXT = {greeting!r}\n")
    (root / "plain" / "python" / "plain.py").write_text("TEXT = 'plain'\n")
    (root / "fn" / "app.py").write_text(HANDLER)
    return root / "template.yaml"


def invoke(server: LaminaProcess, name: str) -> dict[str, str]:
    out = server.lambda_client().invoke(FunctionName=name, Payload=b"{}")
    body = out["Payload"].read()
    assert "FunctionError" not in out, body
    result: dict[str, str] = json.loads(body)
    return result


def test_up_publishes_layers_and_republishes_only_what_changed(
    server: LaminaProcess, tmp_path: Path
) -> None:
    lam = server.lambda_client()
    template = write_project(tmp_path, "hello")
    code, report = up(server, template, "--stack-name", "lay")
    assert code == 0, report
    shared = "arn:aws:lambda:us-east-1:000000000000:layer:shared-lib:1"
    plain = "arn:aws:lambda:us-east-1:000000000000:layer:plain-lib:1"
    assert report["outputs"] == {
        "SharedArn": shared,
        "PlainArn": plain,
        "LogGroup": "/aws/lambda/lay-Fn",
    }
    # The template's log group is made with its retention, on Lamina's CloudWatch Logs.
    logs = boto3.client(
        "logs",
        endpoint_url=server.endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIDLAMINA",
        aws_secret_access_key="lamina-secret",
    )
    group = logs.describe_log_groups(logGroupNamePrefix="/aws/lambda/lay-Fn")["logGroups"]
    assert [(g["logGroupName"], g.get("retentionInDays")) for g in group] == [
        ("/aws/lambda/lay-Fn", 7)
    ]
    cfg = lam.get_function_configuration(FunctionName="lay-Fn")
    assert [layer["Arn"] for layer in cfg["Layers"]] == [shared, plain]
    # BuildMethod python3.12 put the module under python/, where Python finds it in /opt.
    assert invoke(server, "lay-Fn") == {
        "greeting": "hello",
        "plain": "plain",
        "file": "/opt/python/greeting.py",
    }

    # Nothing changed: no new layer version, nothing to do for the function.
    code, report = up(server, template, "--stack-name", "lay")
    assert code == 0 and nothing_done(report), report
    assert [
        v["Version"] for v in lam.list_layer_versions(LayerName="shared-lib")["LayerVersions"]
    ] == [1]
    assert report["outputs"]["SharedArn"] == shared

    # The layer's content changed: version 2, and the function moves to it.
    write_project(tmp_path, "bonjour")
    code, report = up(server, template, "--stack-name", "lay")
    assert code == 0, report
    assert report["outputs"]["SharedArn"] == shared[:-1] + "2"
    assert report["outputs"]["PlainArn"] == plain
    assert invoke(server, "lay-Fn")["greeting"] == "bonjour"
    versions = lam.list_layer_versions(LayerName="shared-lib")["LayerVersions"]
    assert [v["Version"] for v in versions] == [2, 1]
