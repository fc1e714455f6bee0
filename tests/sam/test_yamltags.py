from __future__ import annotations

import pytest

from lamina.sam.errors import TemplateError
from lamina.sam.yamltags import parse_template_text


def test_short_forms_become_long_forms() -> None:
    data = parse_template_text(
        """
A: !Ref Bucket
B: !GetAtt Queue.Arn
C: !Sub "${AWS::Region}-x"
D: !Sub
  - "${A}-${B}"
  - A: 1
    B: !Ref X
E: !If [Cond, !Ref A, !Ref "AWS::NoValue"]
F: !Join ["", [a, !Ref B]]
G: !Select [0, !Split [",", "a,b"]]
H: !GetAtt Fn.SnapStartResponse.ApplyOn
I: !Equals [!Ref P, prod]
J: !Not [!Condition C]
K: !FindInMap [M, !Ref "AWS::Region", key]
L: !Base64 text
"""
    )
    assert data["A"] == {"Ref": "Bucket"}
    assert data["B"] == {"Fn::GetAtt": ["Queue", "Arn"]}
    assert data["C"] == {"Fn::Sub": "${AWS::Region}-x"}
    assert data["D"] == {"Fn::Sub": ["${A}-${B}", {"A": 1, "B": {"Ref": "X"}}]}
    assert data["E"] == {"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]}
    assert data["F"] == {"Fn::Join": ["", ["a", {"Ref": "B"}]]}
    assert data["G"] == {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}
    assert data["H"] == {"Fn::GetAtt": ["Fn", "SnapStartResponse.ApplyOn"]}
    assert data["I"] == {"Fn::Equals": [{"Ref": "P"}, "prod"]}
    assert data["J"] == {"Fn::Not": [{"Condition": "C"}]}
    assert data["K"] == {"Fn::FindInMap": ["M", {"Ref": "AWS::Region"}, "key"]}
    assert data["L"] == {"Fn::Base64": "text"}


def test_dates_stay_strings() -> None:
    data = parse_template_text("AWSTemplateFormatVersion: 2010-09-09\nResources: {}\n")
    assert data["AWSTemplateFormatVersion"] == "2010-09-09"


def test_json_templates_parse() -> None:
    data = parse_template_text('{"Resources": {"Q": {"Type": "AWS::SQS::Queue"}}}')
    assert data["Resources"]["Q"]["Type"] == "AWS::SQS::Queue"


def test_bad_yaml_names_the_line() -> None:
    with pytest.raises(TemplateError, match="line 2"):
        parse_template_text("A: 1\nB: {x: [1}\nC: 2\n")


def test_getatt_without_attribute_is_an_error() -> None:
    with pytest.raises(TemplateError, match=r"LogicalId\.Attribute"):
        parse_template_text("A: !GetAtt Queue\n")


def test_a_template_must_be_a_mapping() -> None:
    with pytest.raises(TemplateError, match="mapping"):
        parse_template_text("- a\n- b\n")
