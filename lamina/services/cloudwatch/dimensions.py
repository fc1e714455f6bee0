"""Lambda's metric dimensions and the rollups they select (pure): shared by the API's
operations and the metric sources, so neither imports the other back."""

from __future__ import annotations

from collections.abc import Callable

from lamina.billing.rollups import Minute, RollupKey

RollupReader = Callable[
    [str | None, str | None, float | None, float | None], list[tuple[RollupKey, Minute]]
]
LATEST = "$LATEST"
Dimension = dict[str, str]


def select(dims: list[Dimension]) -> tuple[str | None, str | None] | None:
    """The (function, version) a metric's dimensions name; None when they name no data."""
    values = {d["Name"]: d.get("Value") for d in dims}
    if len(values) != len(dims) or any(v is None for v in values.values()):
        return None
    if not values:
        return None, None
    if not set(values) <= {"FunctionName", "Resource", "ExecutedVersion"}:
        return None
    function = values.get("FunctionName")
    if function is None:
        return None
    version: str | None = None
    resource = values.get("Resource")
    if resource is not None:
        name, _, qualifier = resource.partition(":")
        if name != function:
            return None
        version = qualifier or LATEST
    executed = values.get("ExecutedVersion")
    if executed is not None:
        # Resource may name an alias (resolved per invoke, not stored): ExecutedVersion wins,
        # but a Resource naming another numbered version selects nothing.
        if version is not None and version.isdigit() and version != executed:
            return None
        version = executed
    return function, version
