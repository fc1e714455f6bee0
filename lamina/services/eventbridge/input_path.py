"""A target's ``InputPath`` (``$`` or ``$.a.b``): checked when set, applied when fired (pure)."""

from __future__ import annotations

from typing import Any

from lamina.errors import InvalidParameterValue


def check_input_path(path: str) -> None:
    if not (path == "$" or path.startswith("$.")) or any(
        not part for part in path[2:].split(".") if path != "$"
    ):
        raise InvalidParameterValue(f"InputPath {path!r} is not a valid JSON path like $.detail")


def select(event: dict[str, Any], path: str | None) -> Any:
    """The part of ``event`` that ``path`` names (None where a member is missing)."""
    value: Any = event
    if path and path != "$":
        for part in path[2:].split("."):
            value = value.get(part) if isinstance(value, dict) else None
    return value
