"""EventBridge event patterns: AWS's documented examples as a table (pure)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lamina.errors import AwsServiceError
from lamina.services.eventbridge.pattern import matches, parse_pattern

# The EC2 state-change event AWS's content-filtering examples use.
EC2 = {
    "version": "0",
    "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "111122223333",
    "time": "2017-12-22T18:43:48Z",
    "region": "us-west-1",
    "resources": ["arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0"],
    "detail": {
        "instance-id": "i-1234567890abcdef0",
        "state": "terminated",
        "c-count": 5,
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.123",
        "location": "us-east-1",
        "filename": "image.PNG",
        "null-field": None,
        "empty": "",
        "tags": ["prod", "web"],
        "items": [{"id": 1, "kind": "a"}, {"id": 2, "kind": "b"}],
    },
}


def p(detail: dict[str, Any], **top: Any) -> str:
    return json.dumps({**top, "detail": detail})


CASES: list[tuple[str, str, bool]] = [
    ("exact source", json.dumps({"source": ["aws.ec2"]}), True),
    ("exact source, other", json.dumps({"source": ["aws.s3"]}), False),
    ("array is OR", json.dumps({"source": ["aws.s3", "aws.ec2"]}), True),
    ("AND across fields", json.dumps({"source": ["aws.ec2"], "region": ["eu-west-1"]}), False),
    ("nested exact", p({"state": ["terminated"]}), True),
    ("number equals", p({"c-count": [5.0]}), True),
    ("number is not a string", p({"c-count": ["5"]}), False),
    ("null matches null", p({"null-field": [None]}), True),
    ("null does not match missing", p({"nope": [None]}), False),
    ("empty string", p({"empty": [""]}), True),
    ("event list: any element", p({"tags": ["web"]}), True),
    ("event list: none", p({"tags": ["dev"]}), False),
    ("resources list", json.dumps({"resources": [EC2["resources"][0]]}), True),  # type: ignore[index]
    ("prefix", p({"state": [{"prefix": "term"}]}), True),
    ("prefix miss", p({"state": [{"prefix": "run"}]}), False),
    ("prefix ignore case", p({"filename": [{"prefix": {"equals-ignore-case": "IMAGE"}}]}), True),
    ("suffix", p({"filename": [{"suffix": ".PNG"}]}), True),
    ("suffix is case-sensitive", p({"filename": [{"suffix": ".png"}]}), False),
    ("suffix ignore case", p({"filename": [{"suffix": {"equals-ignore-case": ".png"}}]}), True),
    ("equals-ignore-case", p({"state": [{"equals-ignore-case": "TERMINATED"}]}), True),
    ("anything-but value", p({"state": [{"anything-but": "initializing"}]}), True),
    ("anything-but same", p({"state": [{"anything-but": "terminated"}]}), False),
    ("anything-but list", p({"state": [{"anything-but": ["stopped", "terminated"]}]}), False),
    ("anything-but number", p({"c-count": [{"anything-but": [1, 2, 3]}]}), True),
    ("anything-but prefix", p({"state": [{"anything-but": {"prefix": "init"}}]}), True),
    ("anything-but prefix hit", p({"state": [{"anything-but": {"prefix": "term"}}]}), False),
    ("anything-but suffix", p({"filename": [{"anything-but": {"suffix": ".PNG"}}]}), False),
    (
        "anything-but nocase",
        p({"state": [{"anything-but": {"equals-ignore-case": "TERMINATED"}}]}),
        False,
    ),
    ("anything-but: missing field", p({"nope": [{"anything-but": "x"}]}), False),
    ("anything-but on a list: all elements", p({"tags": [{"anything-but": "web"}]}), False),
    ("numeric range", p({"c-count": [{"numeric": [">", 0, "<=", 5]}]}), True),
    ("numeric range miss", p({"d-count": [{"numeric": ["<", 3]}]}), False),
    ("numeric equals", p({"x-limit": [{"numeric": ["=", 301.8]}]}), True),
    ("numeric on a string", p({"state": [{"numeric": [">", 0]}]}), False),
    ("exists true", p({"state": [{"exists": True}]}), True),
    ("exists true, missing", p({"nope": [{"exists": True}]}), False),
    ("exists false, missing", p({"nope": [{"exists": False}]}), True),
    ("exists false, present", p({"state": [{"exists": False}]}), False),
    ("exists false under a missing object", p({"a": {"b": [{"exists": False}]}}), True),
    ("exact under a missing object", p({"a": {"b": ["x"]}}), False),
    ("wildcard", p({"filename": [{"wildcard": "im*.PNG"}]}), True),
    ("wildcard miss", p({"filename": [{"wildcard": "*.png"}]}), False),
    ("wildcard literal star", p({"filename": [{"wildcard": "image\\*"}]}), False),
    ("list of objects", p({"items": {"kind": ["b"]}}), True),
    ("list of objects miss", p({"items": {"kind": ["c"]}}), False),
    (
        "$or one side",
        p({"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["terminated"]}]}),
        True,
    ),
    (
        "$or neither",
        p({"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["running"]}]}),
        False,
    ),
    (
        "$or at the top",
        json.dumps({"$or": [{"source": ["x"]}, {"detail-type": [{"prefix": "EC2"}]}]}),
        True,
    ),
    ("mixed OR in one list", p({"state": ["running", {"prefix": "term"}]}), True),
]


@pytest.mark.parametrize(("pattern", "expected"), [(c[1], c[2]) for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_documented_matching(pattern: str, expected: bool) -> None:
    assert matches(parse_pattern(pattern), EC2) is expected


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        "{}",
        json.dumps({"source": "aws.ec2"}),  # a leaf must be a list
        json.dumps({"source": []}),
        json.dumps({"detail": {}}),
        json.dumps({"source": [{"prefix": 1}]}),
        json.dumps({"source": [{"nope": "x"}]}),
        json.dumps({"source": [{"prefix": "a", "suffix": "b"}]}),
        json.dumps({"n": [{"numeric": [">", "1"]}]}),
        json.dumps({"n": [{"numeric": ["<", 1, ">", 5]}]}),
        json.dumps({"n": [{"numeric": ["!", 1]}]}),
        json.dumps({"n": [{"exists": "yes"}]}),
        json.dumps({"n": [{"anything-but": {"wildcard": "x"}}]}),
        json.dumps({"n": [{"anything-but": [{"a": 1}]}]}),
        json.dumps({"$or": [{"a": ["x"]}]}),
    ],
)
def test_invalid_patterns_are_refused(text: str) -> None:
    with pytest.raises(AwsServiceError) as err:
        parse_pattern(text)
    assert err.value.code == "InvalidEventPatternException"
    assert err.value.message.startswith("Event pattern is not valid")


def test_cidr_matches_addresses_in_the_block_of_their_own_version() -> None:
    pattern = parse_pattern(json.dumps({"detail": {"ip": [{"cidr": "10.0.0.0/24"}]}}))
    assert matches(pattern, {"detail": {"ip": "10.0.0.255"}})
    assert not matches(pattern, {"detail": {"ip": "10.0.1.0"}})
    assert not matches(pattern, {"detail": {"ip": "::ffff:10.0.0.1"}})
    assert not matches(pattern, {"detail": {"ip": 10}})
    with pytest.raises(AwsServiceError):
        parse_pattern(json.dumps({"ip": [{"cidr": "10.0.0/8x"}]}))
