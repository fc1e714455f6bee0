"""Lamina's hello example for the python3.11 runtime (handler ``app.handler``).

Behaviour, identical in the Python, Node.js and Rust hello examples:

* ``{"name": "X"}`` -> ``{"message": "Hello, X!", "runtime": "python", "requestId": ...,
  "coldStart": <first invoke of this environment>, "invocations": <count>}``;
  without a name, "World".
* ``{"fail": true}`` -> the handler raises ``HelloError("asked to fail")``.
* ``HELLO_FAIL_INIT=1`` in the environment -> the module fails to import (init error).
"""

from __future__ import annotations

import os
from typing import Any

RUNTIME = "python"


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
