"""EventBridge pattern rules in templates: function and state machine events, Events::Rule;
the message group of a rule or schedule target on a FIFO queue."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lamina.sam.current import CurrentRule
from lamina.sam.errors import TemplateError
from lamina.sam.patterns import rule_spec
from lamina.sam.plan import _rule_differences, schedule_differences
from lamina.sam.resources import schedule_spec
from tests.sam.test_translate import load, skipped

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Resources:
  Orders:
    Type: AWS::SQS::Queue
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: src/
      Handler: app.handler
      Runtime: python3.12
      Events:
        Placed:
          Type: EventBridgeRule
          Properties:
            Pattern: {source: [orders]}
            InputPath: $.detail
            RetryPolicy: {MaximumRetryAttempts: 2}
            DeadLetterConfig: {Arn: !GetAtt Orders.Arn}
            Target: {Id: placed}
        Old:
          Type: CloudWatchEvent
          Properties:
            Pattern: {source: [legacy]}
            Input: '{"old": true}'
            State: DISABLED
            RuleName: old-rule
        OtherBus:
          Type: EventBridgeRule
          Properties: {Pattern: {source: [x]}, EventBusName: custom}
        Bad:
          Type: EventBridgeRule
          Properties: {Pattern: {source: orders}}
  ToQueue:
    Type: AWS::Events::Rule
    Properties:
      EventPattern: {source: [orders], detail-type: [OrderPlaced]}
      Targets:
        - {Id: q, Arn: !GetAtt Orders.Arn, InputPath: $.detail}
        - {Id: fn, Arn: !GetAtt Fn.Arn}
  Machine:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: {StartAt: A, States: {A: {Type: Pass, End: true}}}
      Events:
        OnOrder:
          Type: EventBridgeRule
          Properties: {Pattern: {source: [orders]}}
"""


def test_pattern_events_and_rules_become_rules(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    (tmp_path / "src").mkdir()
    spec, _ = load(template)
    rules = {r.key: r for r in spec.rules}
    placed = rules["Fn.Placed"]
    assert (placed.name, placed.schedule, placed.enabled) == ("app-Fn-Placed", "", True)
    assert json.loads(placed.pattern or "") == {"source": ["orders"]}
    (t,) = placed.targets
    assert (t.id, t.input, t.input_path, t.max_retries, t.max_age_s) == (
        "placed",
        None,
        "$.detail",
        2,
        None,
    )
    assert t.arn == "arn:aws:lambda:us-east-1:000000000000:function:app-Fn"
    assert any("DeadLetterConfig" in n for n in spec.warnings), spec.warnings
    old = rules["Fn.Old"]
    assert (old.name, old.enabled, old.targets[0].input) == ("old-rule", False, '{"old": true}')
    reasons = skipped(spec)
    assert "only the default event bus" in reasons["Fn.Events.OtherBus (EventBridgeRule)"]
    assert "Event pattern is not valid" in reasons["Fn.Events.Bad (EventBridgeRule)"]
    to_queue = rules["ToQueue"]
    assert [(x.id, x.arn, x.input_path) for x in to_queue.targets] == [
        ("q", "arn:aws:sqs:us-east-1:000000000000:app-Orders", "$.detail"),
        ("fn", "arn:aws:lambda:us-east-1:000000000000:function:app-Fn", None),
    ]
    machine = rules["Machine.OnOrder"]
    assert machine.targets[0].arn.endswith(":stateMachine:app-Machine")


def test_a_rule_resource_is_refused_clearly() -> None:
    with pytest.raises(TemplateError, match="ScheduleExpression or an EventPattern"):
        rule_spec("R", "r", {"Targets": []})
    with pytest.raises(TemplateError, match="only the default event bus"):
        rule_spec("R", "r", {"EventPattern": {"source": ["a"]}, "EventBusName": "b"})
    with pytest.raises(TemplateError, match="not supported"):
        rule_spec(
            "R",
            "r",
            {
                "EventPattern": {"source": ["a"]},
                "Targets": [{"Id": "t", "Arn": "arn:aws:kinesis:us-east-1:0:stream/s"}],
            },
        )
    with pytest.raises(TemplateError, match="Input and InputPath"):
        rule_spec(
            "R",
            "r",
            {
                "EventPattern": {"source": ["a"]},
                "Targets": [
                    {
                        "Id": "t",
                        "Arn": "arn:aws:sqs:us-east-1:000000000000:q",
                        "Input": "{}",
                        "InputPath": "$",
                    }
                ],
            },
        )


def test_a_pattern_written_differently_is_no_change() -> None:
    want = rule_spec(
        "R",
        "r",
        {
            "EventPattern": {"source": ["a"]},
            "Targets": [{"Id": "t", "Arn": "arn:aws:sqs:us-east-1:000000000000:q"}],
        },
    )
    targets = tuple(t.compared() for t in want.targets)
    same = CurrentRule("r", "", True, "", targets, '{"source":["a"]}')
    assert _rule_differences(want, same) == []
    other = CurrentRule("r", "", True, "", targets, '{"source":["b"]}')
    assert _rule_differences(want, other) == ["event pattern"]


def test_a_fifo_queue_target_keeps_its_message_group() -> None:
    fifo = "arn:aws:sqs:us-east-1:000000000000:jobs.fifo"
    want = rule_spec(
        "R",
        "r",
        {
            "EventPattern": {"source": ["a"]},
            "Targets": [{"Id": "t", "Arn": fifo, "SqsParameters": {"MessageGroupId": "g"}}],
        },
    )
    (only,) = want.targets
    assert only.body() == {"Id": "t", "Arn": fifo, "SqsParameters": {"MessageGroupId": "g"}}
    # A changed group is a change to apply; the same one is none.
    same = CurrentRule("r", "", True, "", (only.compared(),), '{"source":["a"]}')
    assert _rule_differences(want, same) == []
    moved = replace(only, message_group_id="h").compared()
    assert _rule_differences(want, CurrentRule("r", "", True, "", (moved,), '{"source":["a"]}'))
    with pytest.raises(TemplateError, match="MessageGroupId"):
        rule_spec(
            "R",
            "r",
            {
                "EventPattern": {"source": ["a"]},
                "Targets": [{"Id": "t", "Arn": fifo, "SqsParameters": {"MessageGroupId": ""}}],
            },
        )


DEFAULT_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86_400}


def test_a_schedule_on_a_fifo_queue_keeps_its_message_group() -> None:
    fifo = "arn:aws:sqs:us-east-1:000000000000:ticks.fifo"
    props = {"ScheduleExpression": "rate(1 hour)"}
    target = {"Arn": fifo, "SqsParameters": {"MessageGroupId": "ticks"}}
    spec = schedule_spec("S", "s", props, target, [])
    body = spec.body("000000000000")
    assert body["Target"]["SqsParameters"] == {"MessageGroupId": "ticks"}
    # What GetSchedule answers for it is no change; another group is one.
    have = {**body, "Target": {**body["Target"], "RetryPolicy": dict(DEFAULT_POLICY)}}
    assert schedule_differences(body, have) == []
    other = {**have, "Target": {**have["Target"], "SqsParameters": {"MessageGroupId": "x"}}}
    assert schedule_differences(body, other) == ["Target"]
    with pytest.raises(TemplateError, match="MessageGroupId"):
        schedule_spec("S", "s", props, {"Arn": fifo, "SqsParameters": {}}, [])
