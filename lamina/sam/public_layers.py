"""Well-known public layers that ``lamina up`` rebuilds from their packages (pure).

Lamina cannot fetch a layer of another AWS account, and most public layers are only a
pip or npm package laid out under ``/opt``. The commonest by far is Powertools for AWS
Lambda (Python): its examples, the SAM ``hello-pt`` templates and many serverless-patterns
name ``arn:aws:lambda:<region>:017000801446:layer:AWSLambdaPowertoolsPython...:<n>``. For
those, ``up`` builds a layer of the same name from PyPI's ``aws-lambda-powertools`` (the
major version the layer name says, with the tracer extra the public layer carries),
publishes it to Lamina and mounts it where the public one would be. The layer version
number is not mapped to a package release: the newest release of that major is used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina import arns

POWERTOOLS_ACCOUNT = "017000801446"
# AWSLambdaPowertoolsPythonV2, AWSLambdaPowertoolsPythonV3-python312-x86_64, ... (the
# V1 layer is plain AWSLambdaPowertoolsPython).
_POWERTOOLS = re.compile(
    r"^AWSLambdaPowertoolsPython(?:V(?P<major>\d+))?"
    r"(?:-python(?P<py>3)(?P<minor>\d+)-(?:x86_64|arm64))?$"
)


@dataclass(frozen=True, slots=True)
class PublicLayer:
    """How to rebuild one public layer: a Python layer of ``requirements``."""

    name: str  # the public layer's name, kept for the Lamina layer
    requirements: str  # requirements.txt content
    python: str | None  # the runtime the layer was built for, when its name says (python3.12)
    source: str  # what it is built from, for the report


def public_layer(arn: str) -> PublicLayer | None:
    """The rebuild recipe of a known public layer version ARN, else None."""
    if not arns.is_layer_version_arn(arn):
        return None
    ref = arns.parse_layer_version_arn(arn)
    if ref.account != POWERTOOLS_ACCOUNT:
        return None
    m = _POWERTOOLS.match(ref.name)
    if m is None:
        return None
    major = int(m.group("major") or 1)
    spec = f"aws-lambda-powertools[tracer]>={major},<{major + 1}"
    python = f"python3.{m.group('minor')}" if m.group("minor") else None
    return PublicLayer(ref.name, spec + "\n", python, f"PyPI's {spec}")
