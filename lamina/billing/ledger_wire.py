"""The ledger's report views as JSON, both ways: the server sends, ``lamina cost`` reads.

``GET /lamina/v1/ledger`` answers with the same three views a :class:`LedgerReader` gives
on the server's machine — groups (per function, version or day), month usage, and
workloads with their billed-duration histograms — so a report built from the server's
answer is the report built from its file, from anywhere. Money and GB-s travel as decimal
strings, so nothing is rounded on the way.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from decimal import Decimal
from typing import Any

from lamina.billing.ledger_reader import GroupBy, GroupTotals, LedgerReader, MonthUsage
from lamina.billing.projection import Workload
from lamina.errors import InvalidParameterValue

BY_VALUES: tuple[GroupBy, ...] = ("function", "version", "day", "node", "trigger")


def views(
    reader: LedgerReader,
    by: GroupBy,
    function: str | None,
    since: float | None,
    until: float | None,
) -> dict[str, list[dict[str, Any]]]:
    """The three views of ``reader`` for one query, as JSON-ready dicts."""
    return {
        "groups": [group_json(g) for g in reader.groups(by, function, since, until)],
        "months": [month_json(m) for m in reader.months(function, since, until)],
        "workloads": [
            workload_json(name, w) for name, w in reader.workloads(function, since, until)
        ],
    }


def parse_by(raw: str | None) -> GroupBy:
    for by in BY_VALUES:
        if raw in (None, "", by):
            return by
    raise InvalidParameterValue(f"by must be one of {', '.join(BY_VALUES)}, not {raw!r}")


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def group_json(g: GroupTotals) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(g).items()}


def group_from_json(raw: dict[str, Any]) -> GroupTotals:
    return GroupTotals(
        function=str(raw["function"]),
        version=None if raw.get("version") is None else str(raw["version"]),
        day=None if raw.get("day") is None else date.fromisoformat(str(raw["day"])),
        invocations=int(raw["invocations"]),
        cold_starts=int(raw["cold_starts"]),
        errors=int(raw["errors"]),
        timeouts=int(raw["timeouts"]),
        duration_ms=float(raw["duration_ms"]),
        init_ms=float(raw["init_ms"]),
        billed_ms=int(raw["billed_ms"]),
        mb_ms=int(raw["mb_ms"]),
        ephemeral_gb_s=Decimal(str(raw["ephemeral_gb_s"])),
        request_cost=Decimal(str(raw["request_cost"])),
        duration_cost=Decimal(str(raw["duration_cost"])),
        ephemeral_cost=Decimal(str(raw["ephemeral_cost"])),
        p50_duration_ms=_float_or_none(raw.get("p50_duration_ms")),
        p90_duration_ms=_float_or_none(raw.get("p90_duration_ms")),
        # An older server sends no SnapStart counts.
        restores=int(raw.get("restores") or 0),
        restored_mb=int(raw.get("restored_mb") or 0),
        node=None if raw.get("node") is None else str(raw["node"]),
        trigger=None if raw.get("trigger") is None else str(raw["trigger"]),
    )


def month_json(m: MonthUsage) -> dict[str, Any]:
    return {k: _plain(v) for k, v in asdict(m).items()}


def month_from_json(raw: dict[str, Any]) -> MonthUsage:
    return MonthUsage(
        month=str(raw["month"]),
        architecture=str(raw["architecture"]),
        requests=int(raw["requests"]),
        mb_ms=int(raw["mb_ms"]),
        ephemeral_gb_s=Decimal(str(raw["ephemeral_gb_s"])),
        provisioned_mb_ms=int(raw.get("provisioned_mb_ms") or 0),  # none from an older server
    )


def workload_json(function: str, w: Workload) -> dict[str, Any]:
    return {
        "function": function,
        "architecture": w.architecture,
        "invocations": w.invocations,
        "mb_ms": w.mb_ms,
        "ephemeral_gb_s": str(w.ephemeral_gb_s),
        "histogram": [list(pair) for pair in w.histogram],
    }


def workload_from_json(raw: dict[str, Any]) -> tuple[str, Workload]:
    return str(raw["function"]), Workload(
        architecture=str(raw["architecture"]),
        invocations=int(raw["invocations"]),
        mb_ms=int(raw["mb_ms"]),
        ephemeral_gb_s=Decimal(str(raw["ephemeral_gb_s"])),
        histogram=tuple((int(b), int(n)) for b, n in raw.get("histogram") or ()),
    )


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
