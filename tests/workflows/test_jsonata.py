"""JSONata states: Arguments, Output, Assign, Condition, Items and Step Functions' functions."""

from __future__ import annotations

from typing import Any

from lamina.workflows.steps import Fail, Ok, Outcome, RunTask, Succeed
from tests.workflows.helpers import run

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def test_arguments_output_and_assign_follow_the_documented_flow() -> None:
    seen: list[Any] = []

    async def price(rt: RunTask) -> Outcome:
        seen.append(rt.payload)
        return Ok({"Payload": {"total": sum(rt.payload["Payload"]["prices"])}})

    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "Price",
        "States": {
            "Price": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Arguments": {"FunctionName": "pricer",
                              "Payload": {"prices": "{% $states.input.items.price %}"}},
                "Assign": {"orderTotal": "{% $states.result.Payload.total %}",
                           "inputCount": "{% $count($states.input.items) %}"},
                "Output": {"total": "{% $states.result.Payload.total %}"},
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Condition": "{% $orderTotal > 100 %}", "Next": "Big",
                             "Output": {"big": True, "n": "{% $inputCount %}"}}],
                "Default": "Small",
            },
            "Big": {"Type": "Succeed"},
            "Small": {"Type": "Fail", "Error": "TooSmall",
                      "Cause": "{% 'total was ' & $string($orderTotal) %}"},
        },
    }  # fmt: skip
    end, events = run(definition, {"items": [{"price": 60}, {"price": 70}]}, price)
    assert seen == [{"FunctionName": "pricer", "Payload": {"prices": [60, 70]}}]
    assert isinstance(end, Succeed) and end.output == {"big": True, "n": 2}
    end, _ = run(definition, {"items": [{"price": 6}, {"price": 7}]}, price)
    assert isinstance(end, Fail) and (end.error, end.cause) == ("TooSmall", "total was 13")
    assert events[0].type == "TaskStateEntered"


def test_step_functions_functions_and_map_items() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "M",
        "States": {
            "M": {
                "Type": "Map",
                "Items": "{% $partition($range(1, 5, 1), 2) %}",
                "ItemSelector": {"chunk": "{% $states.context.Map.Item.Value %}",
                                 "i": "{% $states.context.Map.Item.Index %}"},
                "ItemProcessor": {"StartAt": "Sum", "States": {"Sum": {
                    "Type": "Pass", "Output": "{% $sum($states.input.chunk) * 10 + $states.input.i %}",
                    "End": True}}},
                "Output": {"sums": "{% $states.result %}",
                           "hash": "{% $hash('input data', 'SHA-1') %}",
                           "parsed": "{% $parse('{\"a\": [1]}') %}"},
                "End": True,
            }
        },
    }  # fmt: skip
    end, _ = run(definition, {})
    assert isinstance(end, Succeed)
    assert end.output == {
        "sums": [30, 71, 52],
        "hash": "aaff4a450a104cd177d28d18d74485e8cae074b7",
        "parsed": {"a": [1]},
    }


def test_a_failing_expression_is_a_query_evaluation_error_that_catch_sees() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "T",
        "States": {
            "T": {"Type": "Task", "Resource": FN, "Arguments": "{% $parse('{nope') %}",
                  "Catch": [{"ErrorEquals": ["States.QueryEvaluationError"], "Next": "H",
                             "Output": "{% $states.errorOutput.Error %}"}],
                  "End": True},
            "H": {"Type": "Pass", "End": True},
        },
    }  # fmt: skip
    end, _ = run(definition, {})
    assert isinstance(end, Succeed) and end.output == "States.QueryEvaluationError"


def test_wait_seconds_from_an_expression_and_pass_output() -> None:
    definition = {
        "QueryLanguage": "JSONata",
        "StartAt": "W",
        "States": {
            "W": {"Type": "Wait", "Seconds": "{% $states.input.delay * 2 %}", "Next": "P"},
            "P": {"Type": "Pass", "Output": {"uuid": "{% $uuid() %}", "r": "{% $random() %}"},
                  "End": True},
        },
    }  # fmt: skip
    end, events = run(definition, {"delay": 1})
    assert isinstance(end, Succeed)
    assert len(end.output["uuid"]) == 36 and 0 <= end.output["r"] < 1
    assert [e.type for e in events][:2] == ["WaitStateEntered", "WaitStateExited"]
