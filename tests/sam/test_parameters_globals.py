from __future__ import annotations

import pytest

from lamina.sam.errors import TemplateError
from lamina.sam.globals import apply_globals
from lamina.sam.parameters import parse_overrides, resolve_parameters

DECLARED = {
    "Stage": {"Type": "String", "Default": "dev", "AllowedValues": ["dev", "prod"]},
    "Memory": {"Type": "Number", "Default": 256, "MinValue": 128, "MaxValue": 10240},
    "Subnets": {"Type": "CommaDelimitedList", "Default": "a,b"},
    "Secret": {"Type": "String", "NoEcho": True},
}


def test_defaults_and_overrides() -> None:
    values = resolve_parameters(DECLARED, {"Secret": "s3", "Stage": "prod"})
    assert values == {"Stage": "prod", "Memory": "256", "Subnets": ["a", "b"], "Secret": "s3"}


def test_missing_values_and_constraints_are_reported() -> None:
    with pytest.raises(TemplateError, match="Secret"):
        resolve_parameters(DECLARED, {})
    with pytest.raises(TemplateError, match="AllowedValues"):
        resolve_parameters(DECLARED, {"Secret": "x", "Stage": "qa"})
    with pytest.raises(TemplateError, match="MaxValue"):
        resolve_parameters(DECLARED, {"Secret": "x", "Memory": "20000"})
    with pytest.raises(TemplateError, match="not declared"):
        resolve_parameters(DECLARED, {"Secret": "x", "Typo": "1"})


def test_override_syntaxes() -> None:
    assert parse_overrides(["A=1 B='two words'", "ParameterKey=C,ParameterValue=3"]) == {
        "A": "1",
        "B": "two words",
        "C": "3",
    }
    with pytest.raises(TemplateError):
        parse_overrides(["novalue"])


def test_globals_merge_like_sam() -> None:
    resources = apply_globals(
        {
            "Function": {
                "Runtime": "python3.12",
                "Timeout": 10,
                "Environment": {"Variables": {"A": "global", "B": "global"}},
                "Layers": ["l1"],
                "Tags": {"team": "x"},
            }
        },
        {
            "F": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Timeout": 30,
                    "Environment": {"Variables": {"B": "local"}},
                    "Layers": ["l2"],
                    "Tags": {"Ref": "TagsParam"},
                },
            },
            "Q": {"Type": "AWS::SQS::Queue"},
        },
    )
    props = resources["F"]["Properties"]
    assert props["Runtime"] == "python3.12" and props["Timeout"] == 30
    assert props["Environment"] == {"Variables": {"A": "global", "B": "local"}}
    assert props["Layers"] == ["l1", "l2"]
    assert props["Tags"] == {"Ref": "TagsParam"}  # intrinsics are not merged
    assert resources["Q"] == {"Type": "AWS::SQS::Queue"}


def test_unknown_globals_section_is_an_error() -> None:
    with pytest.raises(TemplateError, match="Queue"):
        apply_globals({"Queue": {}}, {})
