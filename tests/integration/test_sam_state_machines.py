"""``lamina up`` deploys state machines: AWS's SAM "stock trader" app template (the
``python3.12/step-func`` app template, stored as published) plus a CloudFormation
``AWS::StepFunctions::StateMachine``; executions through boto3 run the template's Lambda
functions; a second ``up`` changes nothing, an edit updates, a removal deletes."""

from __future__ import annotations

import json
import shutil
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.harness import LaminaProcess, aws_client
from tests.sam.upcli import FIXTURES, kinds, nothing_done, up

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

STACK = "stocks"
# The app template's functions, made deterministic: the price comes from the input.
CHECKER = """
def lambda_handler(event, context):
    return {"stock_price": event.get("price", 42)}
"""
TRADER = """
def lambda_handler(event, context):
    return {{"id": "t-1", "price": event["stock_price"], "type": "{kind}", "qty": 7}}
"""
# Lamina's own definition in the shape of the app template's: the Lambda tasks in both
# forms (a plain function ARN and lambda:invoke), the table name through a substitution
# (Lamina has no DynamoDB: the record step is a Pass state).
ASL = {
    "Comment": "A state machine that does mock stock trading.",
    "StartAt": "Check Stock Value",
    "States": {
        "Check Stock Value": {
            "Type": "Task",
            "Resource": "${StockCheckerFunctionArn}",
            "Next": "Buy or Sell?",
        },
        "Buy or Sell?": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.stock_price", "NumericLessThanEquals": 50, "Next": "Buy Stock"}
            ],
            "Default": "Sell Stock",
        },
        "Sell Stock": {
            "Type": "Task",
            "Resource": "arn:aws:states:::lambda:invoke",
            "Parameters": {"FunctionName": "${StockSellerFunctionArn}", "Payload.$": "$"},
            "OutputPath": "$.Payload",
            "Next": "Record Transaction",
        },
        "Buy Stock": {
            "Type": "Task",
            "Resource": "${StockBuyerFunctionArn}",
            "Next": "Record Transaction",
        },
        "Record Transaction": {
            "Type": "Pass",
            "Parameters": {"TableName": "${DDBTable}", "Item.$": "$"},
            "End": True,
        },
    },
}
QUOTE = """
  QuoteRole:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {{}}
  Quote:
    Type: AWS::StepFunctions::StateMachine
    Properties:
      StateMachineType: {kind}
      RoleArn: !GetAtt QuoteRole.Arn
      DefinitionString: !Sub |
        {{"StartAt": "Price", "States": {{"Price": {{"Type": "Task",
          "Resource": "${{StockCheckerFunction.Arn}}", "End": true}}}}}}
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    s = LaminaProcess(tmp_path_factory.mktemp("sam-sfn")).start()
    yield s
    s.stop()


def client(server: LaminaProcess, service: str) -> Any:
    return aws_client(server, service, "test", "test", read_timeout=120, inject_host_prefix=False)


def project(root: Path, asl: dict[str, Any], quote: str | None) -> Path:
    shutil.copy(FIXTURES / "sam-cli-app-templates/python3.12-step-func/template.yaml", root)
    for name, source in (
        ("stock_checker", CHECKER),
        ("stock_buyer", TRADER.format(kind="buy")),
        ("stock_seller", TRADER.format(kind="sell")),
    ):
        (root / "functions" / name).mkdir(parents=True, exist_ok=True)
        (root / "functions" / name / "app.py").write_text(textwrap.dedent(source))
    (root / "statemachine").mkdir(exist_ok=True)
    (root / "statemachine" / "stock_trader.asl.json").write_text(json.dumps(asl, indent=2))
    template = root / "template.yaml"
    if quote is not None:
        text = template.read_text()
        head, _, outputs = text.partition("\nOutputs:")
        template.write_text(f"{head}{QUOTE.format(kind=quote)}\nOutputs:{outputs}")
    return template


def finished(sfn: Any, arn: str) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:
        got: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if got["status"] != "RUNNING":
            return got
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.1)


def test_the_stock_trader_app_deploys_runs_updates_and_is_removed(
    server: LaminaProcess, tmp_path: Path
) -> None:
    template = project(tmp_path, ASL, "EXPRESS")
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    machine, quote = f"{STACK}-StockTradingStateMachine", f"{STACK}-Quote"
    assert {("statemachine", machine), ("statemachine", quote)} <= set(kinds(report, "created"))
    account = report["stateMachines"]["Quote"]["arn"].split(":")[4]
    arn = f"arn:aws:states:us-east-1:{account}:stateMachine:{machine}"
    assert report["outputs"]["StockTradingStateMachineArn"] == arn
    assert report["outputs"]["StockTradingStateMachineRoleArn"] == (
        f"arn:aws:iam::{account}:role/{STACK}-StockTradingStateMachineRole"
    )
    ignored = {i["what"] for i in report["ignored"]}
    assert "StockTradingStateMachine.Policies" in ignored
    assert any("TransactionTable" in u["what"] for u in report["unsupported"])

    sfn = client(server, "stepfunctions")
    described = sfn.describe_state_machine(stateMachineArn=arn)
    assert described["type"] == "STANDARD"
    assert f"function:{STACK}-StockBuyerFunction" in described["definition"]
    table = f"{STACK}-TransactionTable"  # the value !Ref has on AWS (Lamina makes no table)
    for price, kind in ((42, "buy"), (80, "sell")):
        started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"price": price}))
        done = finished(sfn, started["executionArn"])
        assert done["status"] == "SUCCEEDED", done
        assert json.loads(done["output"]) == {
            "TableName": table,
            "Item": {"id": "t-1", "price": price, "type": kind, "qty": 7},
        }
    quote_arn = report["stateMachines"]["Quote"]["arn"]
    sync = sfn.start_sync_execution(stateMachineArn=quote_arn, input='{"price": 9}')
    assert (sync["status"], json.loads(sync["output"])) == ("SUCCEEDED", {"stock_price": 9})

    events = client(server, "events")
    rule_name = f"{STACK}-StockTradingStateMachine-HourlyTradingSchedule"
    rule = events.describe_rule(Name=rule_name)
    assert (rule["ScheduleExpression"], rule["State"]) == ("rate(1 hour)", "DISABLED")
    assert [t["Arn"] for t in events.list_targets_by_rule(Rule=rule_name)["Targets"]] == [arn]

    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0 and nothing_done(report), report

    # An edit of the definition file and of the type: one updated, one replaced.
    edited = json.loads(json.dumps(ASL))
    edited["States"]["Buy or Sell?"]["Choices"][0]["NumericLessThanEquals"] = 90
    project(tmp_path, edited, "STANDARD")
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    changed = {c["name"]: c["changes"] for c in report["changed"]}
    assert changed[machine] == ["definition"]
    assert changed[quote] == ["type EXPRESS → STANDARD (replaced)"]
    assert sfn.describe_state_machine(stateMachineArn=quote_arn)["type"] == "STANDARD"
    started = sfn.start_execution(stateMachineArn=arn, input=json.dumps({"price": 80}))
    assert json.loads(finished(sfn, started["executionArn"])["output"])["Item"]["type"] == "buy"

    # Removed from the template: deleted from Lamina.
    project(tmp_path, edited, None)
    code, report = up(server, template, "--stack-name", STACK)
    assert code == 0, report
    assert kinds(report, "removed") == [("statemachine", quote)]
    with pytest.raises(ClientError) as caught:
        sfn.describe_state_machine(stateMachineArn=quote_arn)
    assert caught.value.response["Error"]["Code"] == "StateMachineDoesNotExist"
    assert sfn.describe_state_machine(stateMachineArn=arn)["name"] == machine
