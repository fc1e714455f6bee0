"""Markdown tables and the number formats the bench prints (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence


def markdown_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1
) -> str:
    """A GitHub-flavoured table; columns from ``numeric_from`` on are right-aligned."""
    if any(len(row) != len(headers) for row in rows):
        raise ValueError("every row needs one cell per header")
    align = ["---" if i < numeric_from else "---:" for i in range(len(headers))]
    lines = [_row(headers), _row(align)]
    lines.extend(_row(row) for row in rows)
    return "\n".join(lines)


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"


def ms(value: float | None) -> str:
    """Milliseconds with precision that suits the magnitude: 0.123, 12.3, 1,234."""
    if value is None:
        return "—"
    if value < 1:
        return f"{value:.3f}"
    if value < 100:
        return f"{value:.1f}"
    return f"{value:,.0f}"


def rate(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def times(value: float | None) -> str:
    """A ratio as ``4.2x``."""
    if value is None:
        return "—"
    return f"{value:.2f}x" if value < 10 else f"{value:,.0f}x"


def mb(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f}"
