from __future__ import annotations

import json

import pytest

from lamina.scheduler.error_bodies import invoke_error_body
from lamina.wire.jsonbody import MAX_JSON_DEPTH, JsonTooDeep, json_depth, parse_json


def test_depth_counts_arrays_and_objects_but_not_brackets_in_strings() -> None:
    assert json_depth(b'{"a": [1, {"b": "[[[[{{{{\\"]]"}]}') == 3
    assert json_depth(b'"[[["') == 0
    assert json_depth(b"1") == 0


def test_the_limit_is_inclusive_and_a_deep_document_is_a_value_error() -> None:
    at_limit = b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH
    assert parse_json(at_limit) == json.loads(at_limit)
    with pytest.raises(JsonTooDeep, match=r"Document nesting depth \(100000\)") as info:
        parse_json(b"[" * 100_000 + b"]" * 100_000)
    assert isinstance(info.value, ValueError)


def test_many_shallow_brackets_are_fine() -> None:
    wide = json.dumps([{"k": [i, {"x": "]]]"}]} for i in range(5000)]).encode()
    assert parse_json(wide)[4999]["k"][0] == 4999


def test_a_functions_deep_error_post_is_kept_as_a_message_not_a_crash() -> None:
    deep = b'{"errorMessage": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    body = json.loads(invoke_error_body(deep, "Custom"))
    assert body["errorType"] == "Custom" and body["errorMessage"].startswith('{"errorMessage"')
