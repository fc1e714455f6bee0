"""CloudWatch Logs filter patterns: terms, phrases, OR, exclusion and JSON expressions."""

from __future__ import annotations

import pytest

from lamina.errors import InvalidParameterValue
from lamina.services.logs.filter import compile_pattern

LINES = [
    "START RequestId: 1 Version: $LATEST",
    "ERROR Out of memory in worker",
    "WARN retrying request",
    "INFO all good",
    '{"level": "ERROR", "latency": 250, "user": {"id": 7}, "tags": ["a", "b"], "ok": false}',
    '{"level": "INFO", "latency": 12.5, "user": {"id": 8}, "tags": ["b"], "ok": true, "x": null}',
]


def matching(pattern: str) -> list[int]:
    match = compile_pattern(pattern)
    return [i for i, line in enumerate(LINES) if match(line)]


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("", [0, 1, 2, 3, 4, 5]),
        ("ERROR", [1, 4]),
        ("error", []),  # case-sensitive, as CloudWatch is
        ("ERROR memory", [1]),
        ('"Out of memory"', [1]),
        ('"of memory" worker', [1]),
        ("?ERROR ?WARN", [1, 2, 4]),
        ("request -START", [2]),
        ("-INFO", [0, 1, 2, 4]),
    ],
)
def test_term_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern) == expected


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.level = "ERROR" }', [4]),
        ("{ $.level = ERROR }", [4]),
        ('{ $.level != "ERROR" }', [5]),
        ('{ $.level = "ERR*" }', [4]),
        ("{ $.latency > 100 }", [4]),
        ("{ $.latency <= 12.5 }", [5]),
        ("{ $.user.id = 8 }", [5]),
        ('{ $.tags[1] = "b" }', [4]),
        ('{ $.level = "ERROR" && $.latency > 1000 }', []),
        ('{ ($.level = "INFO") || ($.latency > 100) }', [4, 5]),
        ('{ $.level = "INFO" && ($.user.id = 7 || $.user.id = 8) }', [5]),
        ("{ $.ok IS TRUE }", [5]),
        ("{ $.ok IS FALSE }", [4]),
        ("{ $.x IS NULL }", [5]),
        ("{ $.x NOT EXISTS }", [4]),
    ],
)
def test_json_patterns(pattern: str, expected: list[int]) -> None:
    assert matching(pattern) == expected


@pytest.mark.parametrize(
    "pattern",
    [
        "{ $.level = }",
        "{ level = 1 }",
        '{ $.level > "x" }',
        "{ $.a = 1 && }",
        "{ ($.a = 1 }",
        "[ip, user]",
        "%ERR.*%",
        'ERR"OR',
    ],
)
def test_malformed_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameterValue):
        compile_pattern(pattern)


def test_a_json_pattern_skips_lines_that_nest_too_deep_for_the_parser() -> None:
    match = compile_pattern('{ $.level = "ERROR" }')
    assert match("[" * 100_000 + "]" * 100_000) is False
    assert match('  {"level": "ERROR"}') is True
