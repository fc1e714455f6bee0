"""State machine resources → specs, and what an update of one must do (pure)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from lamina.sam.model import LOGICAL_ID_TAG, STACK_TAG, StackSpec, StateMachineSpec
from lamina.sam.plan import state_machine_change
from lamina.sam.state_machines import substitute
from lamina.sam.template import load_template
from lamina.sam.translate import Translation, translate
from tests.sam.test_translate import FIXTURES, load, skipped

ACCOUNT = "000000000000"


def spec_of(
    tmp: Path, body: str, files: dict[str, str] | None = None
) -> tuple[StackSpec, Translation]:
    for name, text in (files or {}).items():
        (tmp / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp / name).write_text(text)
    (tmp / "template.yaml").write_text(
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
        + textwrap.dedent(body)
    )
    return translate(
        load_template(tmp / "template.yaml"),
        stack="app",
        region="us-east-1",
        account=ACCOUNT,
        endpoint_host="127.0.0.1:9000",
    )


def test_the_stock_trader_template(tmp_path: Path) -> None:
    project = tmp_path / "p"
    (project / "statemachine").mkdir(parents=True)
    template = FIXTURES / "sam-cli-app-templates/python3.12-step-func/template.yaml"
    (project / "template.yaml").write_text(template.read_text())
    (project / "statemachine" / "stock_trader.asl.json").write_text(
        '{"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": '
        '"${StockCheckerFunctionArn}", "Parameters": {"T": "${DDBTable}", "U": "${DDBPutItem}",'
        ' "K": "${Unknown}"}, "End": true}}}'
    )
    spec, t = load(project / "template.yaml", "stocks")
    sm = spec.state_machines["StockTradingStateMachine"]
    assert (sm.name, sm.type) == ("stocks-StockTradingStateMachine", "STANDARD")
    assert sm.role_arn == f"arn:aws:iam::{ACCOUNT}:role/stocks-StockTradingStateMachineRole"
    assert sm.tags == {STACK_TAG: "stocks", LOGICAL_ID_TAG: "StockTradingStateMachine"}
    state = json.loads(sm.definition)["States"]["A"]
    assert state["Resource"] == (
        f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:stocks-StockCheckerFunction"
    )
    # A substitution the map does not name stays: Step Functions never reads ${...} itself.
    assert state["Parameters"] == {
        "T": "stocks-TransactionTable",
        "U": "arn:aws:states:::dynamodb:putItem",
        "K": "${Unknown}",
    }
    [rule] = spec.rules
    assert (rule.name, rule.schedule, rule.enabled) == (
        "stocks-StockTradingStateMachine-HourlyTradingSchedule",
        "rate(1 hour)",
        False,
    )
    assert rule.targets[0].arn == sm.arn("us-east-1", ACCOUNT)
    assert skipped(spec)["StockTradingStateMachine.Policies"].startswith("Lamina's workflows")
    outputs = t.outputs()
    assert outputs["StockTradingStateMachineArn"] == sm.arn("us-east-1", ACCOUNT)


def test_cloudformation_state_machine_with_a_sub_definition_string(tmp_path: Path) -> None:
    spec, t = spec_of(
        tmp_path,
        """
        Resources:
          Fn:
            Type: AWS::Serverless::Function
            Properties: {InlineCode: "x", Handler: index.h, Runtime: python3.12}
          Flow:
            Type: AWS::StepFunctions::StateMachine
            Properties:
              StateMachineName: orders
              StateMachineType: EXPRESS
              RoleArn: arn:aws:iam::000000000000:role/flow
              DefinitionString: !Sub '{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"${Fn.Arn}","Next":"B"},"B":{"Type":"Pass","Result":"${!Stage}","End":true}}}'
              DefinitionSubstitutions: {Stage: prod}
              TracingConfiguration: {Enabled: true}
              Tags: [{Key: team, Value: orders}]
        Outputs:
          Arn: {Value: !Ref Flow}
          Name: {Value: !GetAtt Flow.Name}
        """,
    )
    sm = spec.state_machines["Flow"]
    assert (sm.name, sm.type, sm.role_arn) == (
        "orders",
        "EXPRESS",
        "arn:aws:iam::000000000000:role/flow",
    )
    states = json.loads(sm.definition)["States"]
    assert states["A"]["Resource"].endswith(":function:app-Fn")
    assert states["B"]["Result"] == "prod"
    assert sm.tags["team"] == "orders"
    assert skipped(spec)["Flow.TracingConfiguration"].startswith("X-Ray")
    assert t.outputs() == {
        "Arn": f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orders",
        "Name": "orders",
    }


@pytest.mark.parametrize(
    ("props", "reason"),
    [
        ("{Definition: {StartAt: A}, DefinitionUri: x.json}", "exactly one of"),
        ("{}", "exactly one of"),
        ("{DefinitionUri: s3://b/k.json}", "must be a local file"),
        ("{DefinitionUri: missing.json}", "missing.json"),
        ("{Type: LONG, Definition: {StartAt: A}}", "STANDARD or EXPRESS"),
        (
            '{Definition: {StartAt: "${X}"}, DefinitionSubstitutions: {X: "a\\"b"}}',
            "not JSON after substitution",
        ),
    ],
)
def test_bad_state_machines_are_listed_with_the_reason(
    tmp_path: Path, props: str, reason: str
) -> None:
    spec, _ = spec_of(
        tmp_path,
        f"""
        Resources:
          Flow:
            Type: AWS::Serverless::StateMachine
            Properties: {props}
        """,
    )
    assert not spec.state_machines
    assert reason in skipped(spec)["Flow (AWS::Serverless::StateMachine)"]


def test_yaml_definition_file_and_events(tmp_path: Path) -> None:
    spec, _ = spec_of(
        tmp_path,
        """
        Resources:
          Flow:
            Type: AWS::Serverless::StateMachine
            Properties:
              DefinitionUri: sm/flow.yaml
              Events:
                Nightly:
                  Type: ScheduleV2
                  Properties: {ScheduleExpression: "cron(0 3 * * ? *)", Input: '{"a": 1}'}
                Web:
                  Type: Api
                  Properties: {Path: /go, Method: post, Auth: {ApiKeyRequired: true}}
                Named:
                  Type: Api
                  Properties: {Path: "/orders/{id}", Method: PUT, RestApiId: !Ref Orders}
          Orders:
            Type: AWS::Serverless::Api
            Properties: {StageName: live}
        """,
        {"sm/flow.yaml": "StartAt: A\nStates:\n  A: {Type: Succeed}\n"},
    )
    sm = spec.state_machines["Flow"]
    assert json.loads(sm.definition) == {"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}
    [schedule] = spec.schedules
    assert (schedule.expression, schedule.target_arn, schedule.input) == (
        "cron(0 3 * * ? *)",
        sm.arn("us-east-1", ACCOUNT),
        '{"a": 1}',
    )
    # Api events are routes that start an execution (SAM's StartExecution integration).
    web, named = sorted(spec.routes, key=lambda r: r.key)[::-1]
    arn = sm.arn("us-east-1", ACCOUNT)
    assert (web.key, web.api, web.api_kind, web.stage) == (
        "Flow.Web", "ServerlessRestApi", "rest", "Prod")  # fmt: skip
    assert web.entry() == {"route": "POST /go", "stateMachine": arn}
    assert (named.api, named.stage) == ("Orders", "live")
    assert named.entry() == {"route": "PUT /orders/{id}", "stateMachine": arn}
    left_out = skipped(spec)
    assert "Flow.Events.Web.Auth" in left_out
    assert not any(k.startswith("Flow.Events.Named") for k in left_out)


def test_substitute_leaves_unknown_keys() -> None:
    assert substitute("${A}-${B}-$A", {"A": "1"}) == "1-${B}-$A"


def test_an_update_compares_definitions_as_json() -> None:
    want = StateMachineSpec("F", "f", '{"StartAt": "A"}', "arn:r", "STANDARD", {"k": "v"})
    have = {"definition": '{\n  "StartAt":"A"\n}', "roleArn": "arn:r", "type": "STANDARD",
            "tags": {"k": "v"}}  # fmt: skip
    assert state_machine_change(want, have) is None
    found = state_machine_change(want, {**have, "type": "EXPRESS", "tags": {"old": "1"}})
    assert found is not None
    change, summary = found
    assert summary == ["type EXPRESS → STANDARD (replaced)", "tags"]
    assert (change.replace, change.tags_set, change.tags_removed) == (True, {"k": "v"}, ("old",))
