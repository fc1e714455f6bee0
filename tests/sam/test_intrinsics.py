from __future__ import annotations

from typing import Any

import pytest

from lamina.sam.errors import TemplateError
from lamina.sam.intrinsics import Resolver


def resolver(**conditions: Any) -> Resolver:
    def ref(name: str) -> str:
        if name == "Bucket":
            return "my-bucket"
        raise TemplateError(f"Ref {name}: no such resource")

    def getatt(resource: str, attribute: str) -> str:
        return f"arn:{resource}:{attribute}"

    return Resolver(
        {"Stage": "prod", "Sizes": ["128", "256"]},
        {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::StackName": "app"},
        mappings={"Mem": {"prod": {"size": 1024}}},
        conditions={
            "IsProd": {"Fn::Equals": [{"Ref": "Stage"}, "prod"]},
            "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]},
            "Both": {"Fn::And": [{"Condition": "IsProd"}, {"Fn::Equals": ["a", "a"]}]},
            "Either": {"Fn::Or": [{"Condition": "NotProd"}, {"Fn::Equals": ["1", 1]}]},
            **conditions,
        },
        ref=ref,
        getatt=getatt,
    )


def test_ref_parameters_pseudo_and_resources() -> None:
    r = resolver()
    assert r.resolve({"Ref": "Stage"}) == "prod"
    assert r.resolve({"Ref": "AWS::Region"}) == "eu-west-1"
    assert r.resolve({"Ref": "Bucket"}) == "my-bucket"
    with pytest.raises(TemplateError, match="Nope"):
        r.resolve({"Ref": "Nope"})


def test_sub_string_and_list_forms() -> None:
    r = resolver()
    assert (
        r.resolve({"Fn::Sub": "${AWS::StackName}-${Stage}-${Bucket}-${Q.Arn}-${!Literal}"})
        == "app-prod-my-bucket-arn:Q:Arn-${Literal}"
    )
    assert r.resolve({"Fn::Sub": ["${A}/${AWS::AccountId}", {"A": {"Ref": "Stage"}}]}) == (
        "prod/123456789012"
    )


def test_conditions_and_if_with_no_value() -> None:
    r = resolver()
    assert r.condition("IsProd") and not r.condition("NotProd")
    assert r.condition("Both") and r.condition("Either")
    value = r.resolve(
        {
            "Mem": {"Fn::If": ["IsProd", 1024, 128]},
            "Gone": {"Fn::If": ["NotProd", "x", {"Ref": "AWS::NoValue"}]},
            "List": ["a", {"Fn::If": ["NotProd", "b", {"Ref": "AWS::NoValue"}]}],
        }
    )
    assert value == {"Mem": 1024, "List": ["a"]}


def test_condition_cycles_are_errors() -> None:
    r = resolver(Loop={"Fn::Not": [{"Condition": "Loop"}]})
    with pytest.raises(TemplateError, match="itself"):
        r.condition("Loop")


def test_join_select_split_findinmap_base64() -> None:
    r = resolver()
    assert r.resolve({"Fn::Join": ["-", ["a", {"Ref": "Stage"}]]}) == "a-prod"
    assert r.resolve({"Fn::Select": [1, {"Ref": "Sizes"}]}) == "256"
    assert r.resolve({"Fn::Select": [1, {"Fn::Split": [",", "x,y"]}]}) == "y"
    assert r.resolve({"Fn::FindInMap": ["Mem", {"Ref": "Stage"}, "size"]}) == 1024
    assert r.resolve({"Fn::Base64": "hi"}) == "aGk="


def test_unsupported_functions_are_named() -> None:
    with pytest.raises(TemplateError, match="Fn::ImportValue"):
        resolver().resolve({"Fn::ImportValue": "x"}, "Resources.F")
