"""Lambda-style request validation messages, shared by the event sources' operations.

Lambda reports model-constraint failures as one message listing every violation::

    2 validation errors detected: Value '3' at 'maximumRetryAttempts' failed to satisfy
    constraint: Member must have value less than or equal to 2; Value ...

:class:`Violations` collects them and raises one :class:`InvalidParameterValue` at the end.
"""

from __future__ import annotations

from typing import Any

from lamina.errors import InvalidParameterValue


def _camel(field: str) -> str:
    return field[:1].lower() + field[1:]


class Violations:
    """Collects constraint violations of one request."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, field: str, value: object, constraint: str) -> None:
        self.messages.append(
            f"Value '{_render(value)}' at '{_camel(field)}' failed to satisfy constraint: "
            f"{constraint}"
        )

    def integer(
        self, body: dict[str, Any], field: str, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        """Read an optional integer member, recording type and range violations."""
        value = body.get(field)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidParameterValue(f"{field} must be an integer, not {value!r}")
        if lo is not None and value < lo:
            self.add(field, value, f"Member must have value greater than or equal to {lo}")
        elif hi is not None and value > hi:
            self.add(field, value, f"Member must have value less than or equal to {hi}")
        return value

    def raise_if_any(self) -> None:
        n = len(self.messages)
        if n:
            noun = "error" if n == 1 else "errors"
            raise InvalidParameterValue(
                f"{n} validation {noun} detected: " + "; ".join(self.messages)
            )


def _render(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def string_member(body: dict[str, Any], field: str) -> str | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidParameterValue(f"{field} must be a string, not {type(value).__name__}")
    return value


def object_member(body: dict[str, Any], field: str) -> dict[str, Any] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidParameterValue(f"{field} must be an object")
    return value
