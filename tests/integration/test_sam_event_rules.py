"""``lamina up`` deploys event-pattern rules; PutEvents (boto3) then reaches their targets.

A function's ``EventBridgeRule`` event runs the function for matching events only (seen
through its OnSuccess destination, a queue of the stack); an ``AWS::Events::Rule`` sends
the matching event's detail to a queue. Re-running ``up`` changes nothing; removing the
event deletes its rule.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.events.live import client, receive_all, wait_until
from tests.integration.harness import LaminaProcess, running_lamina
from tests.sam.upcli import kinds, nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

STACK = "shop"
TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Seen:
    Type: AWS::SQS::Queue
  Details:
    Type: AWS::SQS::Queue
  OnOrder:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      EventInvokeConfig:
        DestinationConfig:
          OnSuccess: {Type: SQS, Destination: !GetAtt Seen.Arn}
      Events:
        Orders:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [orders]}
  DetailsRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [orders], detail-type: [OrderPlaced]}
      Targets:
        - {Id: details, Arn: !GetAtt Details.Arn, InputPath: $.detail}
"""
HANDLER = """
def handler(event, context):
    return {"source": event["source"], "detail": event["detail"]}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    with running_lamina(tmp_path_factory.mktemp("sam-rules-data")) as proc:
        yield proc


def write_project(root: Path, *, with_event: bool = True) -> Path:
    text = textwrap.dedent(TEMPLATE)
    if not with_event:
        start = text.index("      Events:\n")
        text = text[:start] + text[text.index("  DetailsRule:") :]
    (root / "template.yaml").write_text(text)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "app.py").write_text(HANDLER)
    return root / "template.yaml"


def entry(source: str, order: int) -> dict[str, Any]:
    return {"Source": source, "DetailType": "OrderPlaced", "Detail": json.dumps({"order": order})}


def test_up_deploys_pattern_rules_that_put_events_reach(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = write_project(tmp_path)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert ("rule", "shop-OnOrder-Orders") in kinds(report, "created")
    assert ("rule", "shop-DetailsRule-rule") in kinds(report, "created"), report
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    rule = events.describe_rule(Name="shop-OnOrder-Orders")
    assert json.loads(rule["EventPattern"]) == {"source": ["orders"]}
    assert "ScheduleExpression" not in rule
    seen = sqs.get_queue_url(QueueName="shop-Seen")["QueueUrl"]
    details = sqs.get_queue_url(QueueName="shop-Details")["QueueUrl"]

    put = events.put_events(Entries=[entry("returns", 1), entry("orders", 2)])
    assert put["FailedEntryCount"] == 0
    records: list[dict[str, Any]] = []
    bodies: list[dict[str, Any]] = []

    def delivered() -> bool:
        records.extend(m["json"] for m in receive_all(sqs, seen, wait_s=1))
        bodies.extend(m["json"] for m in receive_all(sqs, details))
        return bool(records) and bool(bodies)

    wait_until(delivered, what="the matching event at the function and the queue")
    # A marker event after the others: once it arrived, the non-matching one had its chance.
    events.put_events(Entries=[entry("orders", 3)])

    def marker() -> bool:
        records.extend(m["json"] for m in receive_all(sqs, seen, wait_s=1))
        bodies.extend(m["json"] for m in receive_all(sqs, details))
        return len(records) >= 2 and len(bodies) >= 2

    wait_until(marker, what="the marker event")
    assert sorted(r["responsePayload"]["detail"]["order"] for r in records) == [2, 3]
    assert {r["responsePayload"]["source"] for r in records} == {"orders"}
    assert sorted(b["order"] for b in bodies) == [2, 3]

    # The same template again: nothing to do.
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0 and nothing_done(report), report

    # The event removed from the function: its rule is deleted, the other stays.
    write_project(tmp_path, with_event=False)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert kinds(report, "removed") == [("rule", "shop-OnOrder-Orders")]
    with pytest.raises(ClientError) as info:
        events.describe_rule(Name="shop-OnOrder-Orders")
    assert info.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert events.describe_rule(Name="shop-DetailsRule-rule")["State"] == "ENABLED"


MACHINE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: Done, States: {Done: {Type: Pass, End: true}}}
      Events:
        Shipped:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [shipping]}
            InputPath: $.detail
"""


def test_a_state_machines_pattern_rule_starts_executions(
    server: LaminaProcess, tmp_path: Path
) -> None:
    (tmp_path / "template.yaml").write_text(textwrap.dedent(MACHINE))
    code, report = up(server, tmp_path / "template.yaml", "--stack-name", "ship")
    assert code == 0, report
    assert ("rule", "ship-Flow-Shipped") in kinds(report, "created")
    events, sfn = client(server.endpoint, "events"), client(server.endpoint, "stepfunctions")
    machine = sfn.list_state_machines()["stateMachines"]
    (arn,) = [m["stateMachineArn"] for m in machine if m["name"] == "ship-Flow"]
    events.put_events(Entries=[entry("returns", 1), entry("shipping", 7)])
    runs: list[dict[str, Any]] = []

    def started() -> bool:
        runs[:] = sfn.list_executions(stateMachineArn=arn)["executions"]
        return bool(runs)

    wait_until(started, what="an execution started by the rule")
    (run,) = runs
    assert json.loads(sfn.describe_execution(executionArn=run["executionArn"])["input"]) == {
        "order": 7
    }
