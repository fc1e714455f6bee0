"""Reading CloudFormation / SAM templates: YAML with the short-form intrinsic tags, or JSON.

``!Ref X`` becomes ``{"Ref": "X"}``, ``!GetAtt A.B`` becomes ``{"Fn::GetAtt": ["A", "B"]}``,
``!Sub``, ``!If``, ``!Join``, ... become their ``Fn::`` long forms, so the rest of
:mod:`lamina.sam` sees one shape. Timestamps stay strings (``AWSTemplateFormatVersion:
2010-09-09`` unquoted is a date to YAML, a string to CloudFormation).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lamina.sam.errors import TemplateError

# Short tag → long key. Ref and Condition are not "Fn::" functions.
_TAGS = {
    "Ref": "Ref",
    "Condition": "Condition",
    "GetAtt": "Fn::GetAtt",
    "Sub": "Fn::Sub",
    "If": "Fn::If",
    "Join": "Fn::Join",
    "Select": "Fn::Select",
    "Split": "Fn::Split",
    "Equals": "Fn::Equals",
    "And": "Fn::And",
    "Or": "Fn::Or",
    "Not": "Fn::Not",
    "FindInMap": "Fn::FindInMap",
    "Base64": "Fn::Base64",
    "GetAZs": "Fn::GetAZs",
    "ImportValue": "Fn::ImportValue",
    "Cidr": "Fn::Cidr",
    "Length": "Fn::Length",
    "ToJsonString": "Fn::ToJsonString",
    "Transform": "Fn::Transform",
}


class TemplateLoader(yaml.SafeLoader):
    """A safe YAML loader that knows CloudFormation's short-form tags and keeps dates as text."""


# Drop the timestamp resolver: CloudFormation reads 2010-09-09 as the string it is.
TemplateLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct(long_key: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        value: Any
        if isinstance(node, yaml.ScalarNode):
            value = loader.construct_scalar(node)
            if long_key == "Fn::GetAtt":
                # "Resource.Attribute" (the attribute may itself contain dots).
                resource, dot, attribute = str(value).partition(".")
                if not dot or not resource or not attribute:
                    raise TemplateError(
                        f"!GetAtt {value!r} must look like LogicalId.Attribute "
                        f"(line {node.start_mark.line + 1})"
                    )
                value = [resource, attribute]
            elif long_key == "Fn::GetAZs" and value == "":
                value = ""
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        elif isinstance(node, yaml.MappingNode):
            value = loader.construct_mapping(node, deep=True)
        else:
            raise TemplateError(f"unexpected YAML node for !{long_key}")
        return {long_key: value}

    return construct


for _short, _long in _TAGS.items():
    TemplateLoader.add_constructor(f"!{_short}", _construct(_long))


def parse_template_text(text: str, source: str = "<template>") -> dict[str, Any]:
    """Parse template text (YAML or JSON) into plain Python values; a mapping at the top."""
    try:
        data = yaml.load(text, Loader=TemplateLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TemplateError(f"{source}: not valid YAML{where}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise TemplateError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise TemplateError(f"{source}: a template is a mapping with a Resources section")
    return data


def read_template(path: Path) -> dict[str, Any]:
    """Read and parse a template file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise TemplateError(f"{path}: a template must be UTF-8 text") from None
    return parse_template_text(text, str(path))
