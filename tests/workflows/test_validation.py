"""Definitions are checked at create time; each problem is named with its location."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.workflows.definition import MapState, TaskState
from lamina.workflows.errors import InvalidDefinition
from lamina.workflows.parse import parse_definition

FN = "arn:aws:lambda:us-east-1:123456789012:function:f"


def problems(definition: Any) -> str:
    with pytest.raises(InvalidDefinition) as info:
        parse_definition(json.dumps(definition) if not isinstance(definition, str) else definition)
    return str(info.value)


def test_unknown_next_is_named_with_its_location() -> None:
    text = problems({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}})
    assert "MISSING_TRANSITION_TARGET: Missing 'Next' target: B at /States/A/Next" in text
    assert text.startswith("Invalid State Machine Definition: '")


def test_unreachable_state_and_missing_end() -> None:
    text = problems({
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "End": True}, "Lost": {"Type": "Pass", "End": True},
                   "NoWay": {"Type": "Pass"}},
    })  # fmt: skip
    assert "UNREACHABLE_STATE: State 'Lost' is not reachable at /States/Lost" in text
    assert "Exactly one of these fields is required: [Next, End] at /States/NoWay" in text


def test_bad_paths_unknown_fields_and_bad_intrinsics() -> None:
    text = problems({
        "StartAt": "A",
        "States": {"A": {"Type": "Task", "Resource": FN, "InputPath": "nope",
                         "ResultPath": "$.a[*]", "Paramaters": {},
                         "ResultSelector": {"x.$": "States.Nope(1)"}, "End": True}},
    })  # fmt: skip
    assert 'INVALID_JSON_PATH: Incorrect JSONPath: "nope" at /States/A/InputPath' in text
    assert "Incorrect reference path" in text and "/States/A/ResultPath" in text
    assert "Field 'Paramaters' is not supported at /States/A/Paramaters" in text
    assert "States.Nope is not an intrinsic function" in text


def test_jsonata_syntax_and_fields_of_the_other_language() -> None:
    text = problems({
        "QueryLanguage": "JSONata",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Output": "{% $states.input. + %}", "InputPath": "$",
                         "End": True}},
    })  # fmt: skip
    assert "INVALID_JSONATA" in text and "/States/A/Output" in text
    assert "Field 'InputPath' is not supported by JSONata states" in text


def test_retry_catch_choice_and_wait_shapes() -> None:
    text = problems({
        "StartAt": "A",
        "States": {
            "A": {"Type": "Task", "Resource": FN, "Next": "C",
                  "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"], "BackoffRate": 0.5}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Nowhere"}]},
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "Next": "W"}]},
            "W": {"Type": "Wait", "Seconds": 1, "Timestamp": "2024-01-01T00:00:00Z", "End": True},
        },
    })  # fmt: skip
    assert "States.ALL must appear alone and in the last retrier" in text
    assert "BackoffRate is out of range at /States/A/Retry[1]/BackoffRate" in text
    assert "Missing 'Next' target: Nowhere at /States/A/Catch[0]/Next" in text
    assert "exactly one comparison operator at /States/C/Choices[0]" in text
    assert "[Seconds, Timestamp, SecondsPath, TimestampPath] at /States/W" in text


def test_not_json_and_branch_problems() -> None:
    assert "INVALID_JSON_DESCRIPTION" in problems("{not json")
    text = problems({
        "StartAt": "P",
        "States": {"P": {"Type": "Parallel", "End": True,
                         "Branches": [{"StartAt": "X", "States": {"Y": {"Type": "Succeed"}}}]}},
    })  # fmt: skip
    assert "Missing 'Next' target: X at /States/P/Branches[0]/StartAt" in text


def test_a_valid_definition_parses_into_typed_states() -> None:
    machine = parse_definition(json.dumps({
        "StartAt": "T",
        "TimeoutSeconds": 30,
        "States": {
            "T": {"Type": "Task", "Resource": FN, "TimeoutSeconds": 5, "Next": "M",
                  "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 4, "JitterStrategy": "FULL"}]},
            "M": {"Type": "Map", "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"},
                  "StartAt": "S", "States": {"S": {"Type": "Succeed"}}}, "End": True},
        },
    }))  # fmt: skip
    task = machine.states["T"]
    assert isinstance(task, TaskState) and task.timeout == 5
    assert task.retry[0].max_attempts == 4 and task.retry[0].full_jitter
    assert isinstance(machine.states["M"], MapState) and machine.timeout_s == 30
