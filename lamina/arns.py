"""ARNs and function references, built and parsed in one place (pure).

Every ARN Lamina writes or reads — functions, queues, buckets, rules, roles, state machines —
is built and parsed here, so the format lives in one module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lamina.errors import InvalidParameterValue

_FULL = re.compile(
    r"^arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
_PARTIAL = re.compile(
    r"^(?P<account>\d{12}):function:(?P<name>[a-zA-Z0-9-_]{1,64})"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)
_NAME = re.compile(
    r"^(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?$"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    name: str
    qualifier: str | None


def parse_function_ref(raw: str, qualifier: str | None = None) -> FunctionRef:
    """Accept ``name``, ``name:qual``, ``account:function:name`` or a full ARN."""
    for pattern in (_NAME, _PARTIAL, _FULL):
        m = pattern.match(raw)
        if m:
            inline = m.group("qualifier")
            if inline and qualifier and inline != qualifier:
                raise InvalidParameterValue(
                    "The derived qualifier from the function name does not match the "
                    "specified qualifier."
                )
            return FunctionRef(m.group("name"), qualifier or inline)
    raise InvalidParameterValue(
        f"1 validation error detected: Value '{raw}' at 'functionName' failed to satisfy "
        "constraint: Member must satisfy regular expression pattern: "
        "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?(\\d{12}:)?"
        "(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
    )


def function_arn(region: str, account: str, name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{region}:{account}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base
