"""Filter policies: SNS's operators over attributes and bodies, its limits and refusals."""

from __future__ import annotations

import json

import pytest

from lamina.errors import AwsServiceError
from lamina.services.sns.filter import (
    ATTRIBUTES,
    BODY,
    Attribute,
    FilterPolicy,
    accepts,
    parse_filter_policy,
)


def policy(value: object, scope: str = ATTRIBUTES) -> FilterPolicy | None:
    return parse_filter_policy(json.dumps(value), scope)


def s(value: str) -> Attribute:
    return Attribute("String", value)


def n(value: str) -> Attribute:
    return Attribute("Number", value)


@pytest.mark.parametrize(
    ("condition", "attribute", "expected"),
    [
        (["red"], s("red"), True),
        (["red"], s("Red"), False),
        ([{"prefix": "eu-"}], s("eu-west-1"), True),
        ([{"suffix": ".png"}], s("a.jpg"), False),
        ([{"anything-but": ["red", "blue"]}], s("green"), True),
        ([{"anything-but": ["red", "blue"]}], s("red"), False),
        ([{"anything-but": {"prefix": "test-"}}], s("test-1"), False),
        ([{"equals-ignore-case": "RED"}], s("red"), True),
        ([{"numeric": [">=", 100, "<", 200]}], n("150"), True),
        ([{"numeric": [">=", 100, "<", 200]}], n("200"), False),
        ([{"numeric": [">", 1]}], s("5"), False),  # a String is never numeric
        ([100], n("100.0"), True),
        ([{"exists": True}], s("x"), True),
        (["red"], Attribute("String.Array", '["blue", "red"]'), True),
        (["red"], Attribute("String.Array", '["blue"]'), False),
        ([{"exists": True}], Attribute("Binary", "AAE="), False),  # never compared
        ([{"cidr": "10.0.0.0/24"}], s("10.0.0.7"), True),
        ([{"cidr": "10.0.0.0/24"}], s("10.0.1.7"), False),
        ([{"cidr": "2001:db8::/32"}], s("2001:db8::1"), True),
        ([{"cidr": "10.0.0.0/24"}], s("not an address"), False),
    ],
)
def test_operators_on_attributes(
    condition: list[object], attribute: Attribute, expected: bool
) -> None:
    assert accepts(policy({"a": condition}), "body", {"a": attribute}) is expected


def test_a_missing_attribute_matches_only_exists_false() -> None:
    assert accepts(policy({"a": [{"exists": False}]}), "m", {}) is True
    assert accepts(policy({"a": ["x"]}), "m", {}) is False


def test_or_and_and() -> None:
    p = policy({"a": ["x"], "$or": [{"b": ["1"]}, {"c": ["2"]}]})
    assert accepts(p, "m", {"a": s("x"), "c": s("2")})
    assert not accepts(p, "m", {"a": s("x"), "c": s("3")})
    assert not accepts(p, "m", {"a": s("y"), "b": s("1")})


def test_body_scope_matches_nested_json_and_refuses_other_bodies() -> None:
    p = policy({"order": {"status": ["paid"]}}, BODY)
    assert accepts(p, json.dumps({"order": {"status": "paid"}}), {})
    assert not accepts(p, json.dumps({"order": {"status": "draft"}}), {})
    assert not accepts(p, "not json", {})
    assert not accepts(p, "[1, 2]", {})


def test_no_policy_and_empty_policy_accept_everything() -> None:
    assert parse_filter_policy("", ATTRIBUTES) is None
    assert parse_filter_policy("{}", ATTRIBUTES) is None
    assert accepts(None, "m", {})


@pytest.mark.parametrize(
    ("text", "scope", "reason"),
    [
        (json.dumps({"a": {"b": ["c"]}}), ATTRIBUTES, "nested"),
        (json.dumps({k: ["v"] for k in "abcdef"}), ATTRIBUTES, "5 keys"),
        (json.dumps({"a": list(range(13)), "b": list(range(12))}), ATTRIBUTES, "complex"),
        (json.dumps({"a": [{"wildcard": "x*"}]}), ATTRIBUTES, "wildcard"),
        (json.dumps({"a": [{"cidr": "10.0.0.0/33"}]}), ATTRIBUTES, "cidr"),
        (json.dumps({"a": [{"numeric": [">", 2e9]}]}), ATTRIBUTES, "between"),
        (json.dumps({"a": [2e9]}), ATTRIBUTES, "between"),
        ("{not json", ATTRIBUTES, "FilterPolicy"),
        (json.dumps({"a": "not a list"}), BODY, "FilterPolicy"),
        (json.dumps({"a": ["x"]}), "Elsewhere", "FilterPolicyScope"),
        (json.dumps({"a": ["x" * 300_000]}), ATTRIBUTES, "too large"),
    ],
)
def test_refused_policies(text: str, scope: str, reason: str) -> None:
    with pytest.raises(AwsServiceError) as err:
        parse_filter_policy(text, scope)
    assert err.value.code == "InvalidParameter"
    assert reason in err.value.message


def test_nesting_is_allowed_on_the_body() -> None:
    p = policy({"a": {"b": ["c"]}}, BODY)
    assert p is not None and p.scope == BODY
