"""``lamina up`` APIs on a real server: a REST API with its stage, live route changes,
stacks kept apart, Outputs with Lamina's URLs, a dead-letter queue, a layer, a restart."""

from __future__ import annotations

import json
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client
from tests.integration.harness import LaminaProcess
from tests.sam.upcli import kinds, nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

APP = """
import json

def hello(event, context):
    import greeting  # from the stack's layer, under /opt/python (ByeFunction has none)

    body = {"path": event["path"], "stage": event["requestContext"]["stage"],
            "resource": event["resource"], "who": greeting.WHO}
    return {"statusCode": 200, "body": json.dumps(body)}

def bye(event, context):
    return {"statusCode": 200, "body": "bye from %s"}
"""
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Failed:
    Type: AWS::SQS::Queue
  Greeting:
    Type: AWS::Serverless::LayerVersion
    Properties:
      ContentUri: layer/
      CompatibleRuntimes: [python3.12]
  HelloFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.hello
      Runtime: python3.12
      Layers: [!Ref Greeting]
      DeadLetterQueue:
        Type: SQS
        TargetArn: !GetAtt Failed.Arn
      Events:
        Hello:
          Type: Api
          Properties:
            Path: /hello
            Method: get
  Nightly:
    Type: AWS::Scheduler::Schedule
    Properties:
      ScheduleExpression: cron(0 3 * * ? *)
      FlexibleTimeWindow: {Mode: FLEXIBLE, MaximumWindowInMinutes: 30}
      Target:
        Arn: !GetAtt HelloFunction.Arn
        RoleArn: !GetAtt SchedulerRole.Arn
        Input: '{"path": "/nightly"}'
        RetryPolicy: {MaximumRetryAttempts: 3, MaximumEventAgeInSeconds: 600}
  SchedulerRole:
    Type: AWS::IAM::Role
%s
Outputs:
  HelloApi:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
  FailedArn:
    Value: !GetAtt Failed.Arn
"""
BYE = """
  ByeFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.bye
      Runtime: python3.12
      Events:
        Bye:
          Type: Api
          Properties:
            Path: /bye
            Method: get
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("sam-apis")).start()
    yield proc
    proc.stop()


def project(root: Path, who: str, *, with_bye: bool = False) -> Path:
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "app.py").write_text(textwrap.dedent(APP % who))
    (root / "layer" / "python").mkdir(parents=True, exist_ok=True)
    (root / "layer" / "python" / "greeting.py").write_text(f"WHO = {who!r}\n")
    (root / "template.yaml").write_text(TEMPLATE % (BYE if with_bye else ""))
    return root / "template.yaml"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=60) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def api_of(report: dict[str, Any]) -> dict[str, Any]:
    api: dict[str, Any] = report["apis"]["ServerlessRestApi"]
    return api


def test_a_rest_api_serves_its_stage_and_takes_new_routes_without_a_restart(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = project(tmp_path / "one", "one")
    code, report = up(server, template, "--stack-name", "one")
    assert code == 0, report
    assert ("api", "ServerlessRestApi (1 route(s))") in kinds(report, "created")
    cfg = client(server.endpoint, "lambda").get_function_configuration(
        FunctionName="one-HelloFunction"
    )
    assert [layer["Arn"].split(":")[-2:] for layer in cfg["Layers"]] == [["one-Greeting", "1"]]
    api = api_of(report)
    assert (api["kind"], api["stage"]) == ("rest", "Prod")
    base = f"http://127.0.0.1:{api['port']}"
    assert api["url"] == base + "/Prod"
    # Outputs name Lamina's URL, not execute-api's.
    assert report["outputs"]["HelloApi"] == base + "/Prod/hello/"
    assert report["outputs"]["FailedArn"] == "arn:aws:sqs:us-east-1:000000000000:one-Failed"

    status, body = get(base + "/Prod/hello")
    assert status == 200
    assert json.loads(body) == {
        "path": "/hello",
        "stage": "Prod",
        "resource": "/hello",
        "who": "one",
    }
    assert get(base + "/hello")[0] == 403  # no stage: outside every deployed stage
    assert get(base + "/Prod/bye")[0] == 404

    # A second `up` adds a route: served at once, on the same port, no restart.
    project(tmp_path / "one", "one", with_bye=True)
    code, report = up(server, template, "--stack-name", "one")
    assert code == 0, report
    assert ("api", "ServerlessRestApi (2 route(s))") in kinds(report, "changed")
    assert api_of(report)["port"] == api["port"]
    assert get(base + "/Prod/bye") == (200, "bye from one")
    code, report = up(server, template, "--stack-name", "one")
    assert code == 0 and nothing_done(report), report


def test_each_stack_has_its_own_api_and_port(server: LaminaProcess, tmp_path: Path) -> None:
    reports = {}
    for who in ("left", "right"):
        code, reports[who] = up(server, project(tmp_path / who, who), "--stack-name", who)
        assert code == 0, reports[who]
    left, right = api_of(reports["left"]), api_of(reports["right"])
    assert left["port"] != right["port"] and left["apiId"] != right["apiId"]
    for who, api in (("left", left), ("right", right)):
        status, body = get(f"http://127.0.0.1:{api['port']}/Prod/hello")
        assert status == 200 and json.loads(body)["who"] == who


def test_the_function_gets_the_dead_letter_queue(server: LaminaProcess, tmp_path: Path) -> None:
    code, report = up(server, project(tmp_path / "dlq", "dlq"), "--stack-name", "dlq")
    assert code == 0, report
    cfg = client(server.endpoint, "lambda").get_function_configuration(
        FunctionName="dlq-HelloFunction"
    )
    assert cfg["DeadLetterConfig"] == {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq-Failed"}


def test_a_scheduler_schedule_runs_on_laminas_scheduler(
    server: LaminaProcess, tmp_path: Path
) -> None:
    code, report = up(server, project(tmp_path / "sched", "sched"), "--stack-name", "sched")
    assert code == 0, report
    assert ("schedule", "default/sched-Nightly") in kinds(report, "created")
    got = client(server.endpoint, "scheduler").get_schedule(Name="sched-Nightly")
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 30}
    assert got["Target"]["Arn"] == (
        "arn:aws:lambda:us-east-1:000000000000:function:sched-HelloFunction"
    )
    assert got["Target"]["RetryPolicy"] == {
        "MaximumRetryAttempts": 3,
        "MaximumEventAgeInSeconds": 600,
    }
    code, report = up(server, tmp_path / "sched" / "template.yaml", "--stack-name", "sched")
    assert code == 0 and nothing_done(report), report


def test_apis_keep_their_ports_across_a_restart_and_leave_with_their_stack(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = project(tmp_path / "kept", "kept")
    code, report = up(server, template, "--stack-name", "kept")
    assert code == 0, report
    port = api_of(report)["port"]
    server.stop()
    server.start()
    assert get(f"http://127.0.0.1:{port}/Prod/hello")[0] == 200
    # The routes leave the template: the API is deleted and its port closed.
    (tmp_path / "kept" / "template.yaml").write_text(
        TEMPLATE.replace(
            """      Events:
        Hello:
          Type: Api
          Properties:
            Path: /hello
            Method: get
""",
            "",
        ).replace(
            """  HelloApi:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/hello/"
""",
            "",
        )
        % ""
    )
    code, report = up(server, template, "--stack-name", "kept")
    assert code == 0, report
    assert ("api", "ServerlessRestApi") in kinds(report, "removed")
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/Prod/hello", timeout=10)
