"""Human-friendly output: aligned tables, colours only when writing to a terminal."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any, TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, style: str, stream: TextIO = sys.stdout) -> str:
    if not use_colour(stream):
        return text
    return f"\033[{_CODES[style]}m{text}\033[0m"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[object]], stream: TextIO = sys.stdout
) -> None:
    cells = [[str(c) for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, c in enumerate(row):
            widths[i] = max(widths[i], len(c))

    def numeric(text: str) -> bool:
        return text.replace(".", "", 1).replace("$", "", 1).replace(",", "").isdigit()

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if numeric(c) else c.ljust(widths[i]) for i, c in enumerate(row)
        ).rstrip()

    print(paint(fmt(list(headers)), "bold", stream), file=stream)
    for row in cells:
        print(fmt(row), file=stream)


def dump_json(value: Any, stream: TextIO = sys.stdout) -> None:
    print(json.dumps(value, indent=2, sort_keys=True), file=stream)
