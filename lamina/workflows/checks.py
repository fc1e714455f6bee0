"""The collector of a definition's problems, and the checks shared by the parse modules.

Every problem is kept (not raised at the first), as ``CODE: message at /path``, so
``InvalidDefinition`` names them all at once the way Step Functions does.
"""

from __future__ import annotations

import json
from typing import Any

from lamina.workflows.intrinsics import IntrinsicSyntaxError, parse_intrinsic
from lamina.workflows.jsonata_lang import (
    JsonataSyntaxError,
    compile_expression,
    template_expressions,
)
from lamina.workflows.jsonpath import is_path, is_reference_path


class Checker:
    """Collects every problem of one definition."""

    def __init__(self) -> None:
        self.problems: list[str] = []

    def add(self, code: str, message: str, where: str) -> None:
        self.problems.append(f"{code}: {message} at {where or '/'}")

    def path(self, value: Any, where: str, *, reference: bool = False, null: bool = True) -> None:
        if value is None and null:
            return
        ok = isinstance(value, str) and (is_reference_path(value) if reference else is_path(value))
        if not ok:
            kind = "reference path" if reference else "JSONPath"
            self.add("INVALID_JSON_PATH", f"Incorrect {kind}: {json.dumps(value)}", where)

    def template(self, value: Any, where: str) -> None:
        """A JSONPath payload template: ``.$`` values must be paths or intrinsics."""
        if isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str) and key.endswith(".$"):
                    if not isinstance(item, str):
                        self.add("SCHEMA_VALIDATION_FAILED", "A '.$' field needs a string",
                                 f"{where}/{key}")  # fmt: skip
                    elif item.startswith("States."):
                        try:
                            parse_intrinsic(item)
                        except IntrinsicSyntaxError as exc:
                            self.add("INVALID_INTRINSIC_FUNCTION", str(exc), f"{where}/{key}")
                    else:
                        self.path(item, f"{where}/{key}")
                else:
                    self.template(item, f"{where}/{key}")
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.template(item, f"{where}[{i}]")

    def jsonata(self, value: Any, where: str) -> None:
        for text in template_expressions(value):
            try:
                compile_expression(text)
            except JsonataSyntaxError as exc:
                self.add("INVALID_JSONATA", f"Invalid JSONata expression {exc}", where)
