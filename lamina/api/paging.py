"""Marker/MaxItems paging over sorted lists, as Lambda's List* operations do it (pure)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import TypeVar

from lamina.errors import InvalidParameterValue

T = TypeVar("T")


def max_items(raw: str | None, *, default: int = 50, most: int = 10_000) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameterValue(f"MaxItems must be a number, not {raw!r}") from None
    if not 1 <= value <= most:
        bound = "greater than or equal to 1" if value < 1 else f"less than or equal to {most}"
        raise InvalidParameterValue.constraint("maxItems", f"Member must have value {bound}", value)
    return value


def encode_marker(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode("ascii")


def decode_marker(marker: str) -> str:
    try:
        return base64.b64decode(marker.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameterValue(f"Invalid marker: {marker}") from None


def page(
    items: Sequence[T], key: Callable[[T], str], marker: str | None, limit: int
) -> tuple[list[T], str | None]:
    """Items after ``marker`` (the last key of the previous page), at most ``limit`` of them.

    ``items`` must be sorted by ``key``, and keys must sort like the items (pad numbers).
    """
    after = decode_marker(marker) if marker else None
    rest = [item for item in items if after is None or key(item) > after]
    chunk = rest[:limit]
    next_marker = encode_marker(key(chunk[-1])) if len(rest) > limit else None
    return chunk, next_marker
