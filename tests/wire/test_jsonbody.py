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


PAYLOADS = [
    b"{}",
    b' {"a": [1, 2.5, "\\u00e9"]}',
    b'"\xe2\x82\xac"',
    b'"\xed\xa0\x80"',  # a lone surrogate, as json.loads lets through
    b"\xc3(",
    b"\xff{}",
    b"\xfe{}",
    b"\xef\xbb\xbf{}",
    b"\x00",
    b"1\x00",
    b"7",
    b"nope",
    '{"é": 1}'.encode("utf-16"),
    '{"é": 1}'.encode("utf-16-le"),
    '{"é": 1}'.encode("utf-16-be"),
    '{"é": 1}'.encode("utf-32"),
    '{"é": 1}'.encode("utf-32-le"),
    "[1]".encode("utf-8-sig"),
]


@pytest.mark.parametrize("payload", PAYLOADS)
def test_bytes_parse_as_json_loads_parses_them(payload: bytes) -> None:
    """The UTF-8 shortcut gives json.loads's value, or its error with its message."""
    try:
        expected: object = json.loads(payload)
    except ValueError as exc:
        with pytest.raises(type(exc)) as raised:
            parse_json(payload)
        assert str(raised.value) == str(exc)
        return
    assert parse_json(payload) == expected
