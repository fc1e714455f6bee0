"""Which public layer ARNs ``lamina up`` knows how to rebuild (pure)."""

from __future__ import annotations

import pytest

from lamina.sam.public_layers import public_layer

PT = "arn:aws:lambda:eu-west-1:017000801446:layer:"


@pytest.mark.parametrize(
    ("arn", "requirement", "python"),
    [
        (PT + "AWSLambdaPowertoolsPython:3", ">=1,<2", None),
        (PT + "AWSLambdaPowertoolsPythonV2:48", ">=2,<3", None),
        (PT + "AWSLambdaPowertoolsPythonV3-python312-x86_64:3", ">=3,<4", "python3.12"),
        (PT + "AWSLambdaPowertoolsPythonV3-python313-arm64:7", ">=3,<4", "python3.13"),
    ],
)
def test_powertools_layers_are_rebuilt_from_pypi(
    arn: str, requirement: str, python: str | None
) -> None:
    known = public_layer(arn)
    assert known is not None
    assert known.requirements == f"aws-lambda-powertools[tracer]{requirement}\n"
    assert known.python == python
    assert known.name == arn.split(":")[6]


@pytest.mark.parametrize(
    "arn",
    [
        PT + "AWSLambdaPowertoolsTypeScriptV2:1",  # Node.js: not rebuilt (yet)
        "arn:aws:lambda:us-east-1:175033217214:layer:graphicsmagick:2",
        "arn:aws:lambda:us-east-1:000000000000:layer:AWSLambdaPowertoolsPythonV3:1",
        PT + "AWSLambdaPowertoolsPythonV3",  # no version
    ],
)
def test_other_layers_are_not(arn: str) -> None:
    assert public_layer(arn) is None
