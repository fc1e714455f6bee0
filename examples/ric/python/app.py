"""Lamina's hello example run by AWS's own Python runtime client (awslambdaric).

Deployed as a ``provided.al2023`` function: ``bootstrap`` starts
``python3 -m awslambdaric app.handler`` with the vendored client on PYTHONPATH.
Behaviour is that of the hello examples, with its own runtime name:

* ``{"name": "X"}`` -> ``{"message": "Hello, X!", "runtime": "python-awslambdaric",
  "requestId": ..., "coldStart": <first invoke of this environment>, "invocations": <count>}``;
  without a name, "World".
* ``{"fail": true}`` -> the handler raises ``HelloError("asked to fail")``.
* ``HELLO_FAIL_INIT=1`` in the environment -> the module fails to import (init error).
"""

from __future__ import annotations

import os
from typing import Any

RUNTIME = "python-awslambdaric"


class HelloError(Exception):
    """Raised when the event asks the function to fail."""


if os.environ.get("HELLO_FAIL_INIT"):
    raise HelloError("asked to fail at init")

# Module state lives as long as the execution environment: warm invokes see it.
_invocations = 0


def handler(event: Any, context: Any) -> dict[str, Any]:
    global _invocations
    _invocations += 1
    if not isinstance(event, dict):
        event = {}
    if event.get("fail") is True:
        raise HelloError("asked to fail")
    name = event.get("name")
    if not isinstance(name, str):
        name = "World"
    return {
        "message": f"Hello, {name}!",
        "runtime": RUNTIME,
        "requestId": context.aws_request_id,
        "coldStart": _invocations == 1,
        "invocations": _invocations,
    }
