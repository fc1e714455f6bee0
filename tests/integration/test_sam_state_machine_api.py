"""``lamina up`` serves a state machine's ``Api`` event as SAM does on AWS: a REST API route
whose POST starts an execution with the body as its input and answers StartExecution's
``{executionArn, startDate}``; a second ``up`` changes nothing; a removal takes the route."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client
from tests.integration.harness import LaminaProcess
from tests.sam.upcli import kinds, nothing_done, up, wait_for

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition:
        StartAt: Echo
        States:
          Echo: {Type: Pass, End: true}
      Events:
        Go:
          Type: Api
          Properties: {Path: /go, Method: post}
%s
Outputs:
  GoUrl:
    Value: !Sub "https://${ServerlessRestApi}.execute-api.${AWS::Region}.amazonaws.com/Prod/go"
"""
FAST = """\
  Quick:
    Type: AWS::Serverless::StateMachine
    Properties:
      Type: EXPRESS
      Definition:
        StartAt: Done
        States:
          Done: {Type: Succeed}
      Events:
        Now:
          Type: Api
          Properties: {Path: /quick, Method: post}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path_factory.mktemp("sam-sfn-api")).start()
    yield proc
    proc.stop()


def post(url: str, body: bytes) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        url, data=body, method="POST", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_an_api_event_starts_an_execution_with_the_body_as_input(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE % FAST)
    code, report = up(server, template, "--stack-name", "flows")
    assert code == 0, report
    assert ("api", "ServerlessRestApi (2 route(s))") in kinds(report, "created")
    url = report["outputs"]["GoUrl"]
    port = report["apis"]["ServerlessRestApi"]["port"]
    assert url == f"http://127.0.0.1:{port}/Prod/go"

    status, started = post(url, b'{"order": 7, "items": ["a"]}')
    assert status == 200, started
    assert set(started) == {"executionArn", "startDate"}
    assert isinstance(started["startDate"], float)
    sfn = client(server.endpoint, "stepfunctions")
    described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["stateMachineArn"].endswith(":stateMachine:flows-Orders")
    assert json.loads(described["input"]) == {"order": 7, "items": ["a"]}
    deadline = time.monotonic() + 60
    while described["status"] == "RUNNING" and time.monotonic() < deadline:
        time.sleep(0.1)
        described = sfn.describe_execution(executionArn=started["executionArn"])
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"order": 7, "items": ["a"]}

    # An empty body is the input {} (API Gateway's $input.json('$') of nothing).
    status, started = post(url, b"")
    assert status == 200, started
    assert json.loads(sfn.describe_execution(executionArn=started["executionArn"])["input"]) == {}
    # A body that is not JSON: Step Functions' own refusal comes back through the route.
    status, refused = post(url, b"{not json")
    assert status == 400
    assert refused["__type"] == "InvalidExecutionInput", refused
    # An Express machine's route also answers StartExecution's answer.
    status, quick = post(url.replace("/go", "/quick"), b"{}")
    assert status == 200, quick
    assert ":express:flows-Quick:" in quick["executionArn"]

    code, report = up(server, template, "--stack-name", "flows")
    assert code == 0 and nothing_done(report), report
    # The text report names the machine a route starts.
    text = subprocess.run(
        [sys.executable, "-m", "lamina.cli.up", str(template), "--endpoint", server.endpoint,
         "--stack-name", "flows"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert text.returncode == 0, text.stderr
    assert "route  POST /go → state machine flows-Orders (StartExecution)" in text.stdout

    # The Express machine and its route leave; the other route stays on the same port.
    template.write_text(TEMPLATE % "")
    code, report = up(server, template, "--stack-name", "flows")
    assert code == 0, report
    assert ("api", "ServerlessRestApi (1 route(s))") in kinds(report, "changed")
    assert post(url.replace("/go", "/quick"), b"{}")[0] == 404
    assert post(url, b"{}")[0] == 200


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_routes_file_serves_a_state_machine_route_too(tmp_path: Path) -> None:
    routes = tmp_path / "routes.json"
    routes.write_text('{"routes": []}\n')
    port = free_port()
    env = {"LAMINA_HTTP_ROUTES_FILE": str(routes), "LAMINA_HTTP_ROUTES_PORT": str(port)}
    server = LaminaProcess(tmp_path / "data", env).start()
    try:
        template = tmp_path / "app" / "template.yaml"
        template.parent.mkdir()
        template.write_text(TEMPLATE % "")
        code, report = up(server, template, "--stack-name", "filed", "--routes-file", str(routes))
        assert code == 0, report
        [entry] = json.loads(routes.read_text())["routes"]
        assert entry["route"] == "POST /go"
        assert entry["stateMachine"].endswith(":stateMachine:filed-Orders")

        def started() -> bool:  # the server re-reads the file on its own (no restart)
            try:
                return post(f"http://127.0.0.1:{port}/go", b'{"n": 1}')[0] == 200
            except OSError:
                return False

        wait_for(started, 60, "the state machine route")
        sfn = client(server.endpoint, "stepfunctions")
        [execution] = sfn.list_executions(stateMachineArn=entry["stateMachine"])["executions"]
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        assert json.loads(described["input"]) == {"n": 1}
    finally:
        server.stop()
