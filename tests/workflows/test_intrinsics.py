"""``States.*`` intrinsic functions, with the examples of AWS's intrinsic-functions page."""

from __future__ import annotations

import random
from typing import Any

import pytest

from lamina.workflows.errors import StatesError
from lamina.workflows.intrinsics import evaluate_intrinsic
from lamina.workflows.jsonpath import Scope

SCOPE = Scope({"Execution": {"Name": "exec-1"}}, {"myVar": [1, 2]})


def call(text: str, data: Any = None) -> Any:
    return evaluate_intrinsic(text, data if data is not None else {}, SCOPE, random.Random(1))


@pytest.mark.parametrize(
    ("text", "data", "expected"),
    [
        ("States.Array($.Id)", {"Id": 123456}, [123456]),
        ("States.ArrayPartition($.inputArray, 4)", {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]},
         [[1, 2, 3, 4], [5, 6, 7, 8], [9]]),
        ("States.ArrayContains($.inputArray, $.lookingFor)",
         {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5}, True),
        ("States.ArrayRange(1, 9, 2)", None, [1, 3, 5, 7, 9]),
        ("States.ArrayGetItem($.inputArray, $.index)",
         {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5}, 6),
        ("States.ArrayLength($.inputArray)", {"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]}, 9),
        ("States.ArrayUnique($.inputArray)", {"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]},
         [1, 2, 3, 4]),
        ("States.Base64Encode($.input)", {"input": "Data to encode"}, "RGF0YSB0byBlbmNvZGU="),
        ("States.Base64Decode($.base64)", {"base64": "RGF0YSB0byBlbmNvZGU="}, "Data to encode"),
        ("States.Hash($.Data, $.Algorithm)", {"Data": "input data", "Algorithm": "SHA-1"},
         "aaff4a450a104cd177d28d18d74485e8cae074b7"),
        ("States.JsonMerge($.json1, $.json2, false)",
         {"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}},
         {"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}),
        ("States.StringToJson($.escapedJsonString)", {"escapedJsonString": '{"foo": "bar"}'},
         {"foo": "bar"}),
        ("States.JsonToString($.unescapedJson)", {"unescapedJson": {"foo": "bar"}},
         '{"foo":"bar"}'),
        ("States.MathAdd($.value1, $.step)", {"value1": 111, "step": -1}, 110),
        ("States.StringSplit($.inputString, $.splitter)",
         {"inputString": "1,2,3,4,5", "splitter": ","}, ["1", "2", "3", "4", "5"]),
        ("States.StringSplit($.inputString, $.splitter)",
         {"inputString": "This.is+a,test=string", "splitter": ".+,="},
         ["This", "is", "a", "test", "string"]),
        ("States.Format('Hello, my name is {}.', $.name)", {"name": "Arnav"},
         "Hello, my name is Arnav."),
        ("States.Format('{} {}', $$.Execution.Name, States.ArrayLength($myVar))", None, "exec-1 2"),
        ("States.ArrayLength(States.Array(1, 'two', null, true))", None, 4),
        ("States.Format('it\\'s {}', 3)", None, "it's 3"),
    ],
)  # fmt: skip
def test_intrinsic_matches_the_documented_result(text: str, data: Any, expected: Any) -> None:
    assert call(text, data) == expected


def test_math_random_stays_in_range_and_a_seed_repeats() -> None:
    values = {call("States.MathRandom(1, 999)") for _ in range(20)}
    assert all(1 <= v < 999 for v in values)
    assert call("States.MathRandom(1, 999, 42)") == call("States.MathRandom(1, 999, 42)")


def test_uuid_is_a_version_4_uuid() -> None:
    value = call("States.UUID()")
    assert len(value) == 36 and value[14] == "4"


@pytest.mark.parametrize(
    "text",
    [
        "States.ArrayGetItem(States.Array(1), 5)",
        "States.StringToJson('{nope')",
        "States.Format('{} {}', 1)",
        "States.MathAdd(1.5, 1)",
        "States.Hash('x', 'SHA-3')",
        "States.JsonMerge(States.StringToJson('{}'), States.StringToJson('{}'), true)",
        "States.Nope(1)",
    ],
)
def test_misuse_is_an_intrinsic_failure(text: str) -> None:
    with pytest.raises(StatesError) as info:
        call(text)
    assert info.value.error == "States.IntrinsicFailure"
