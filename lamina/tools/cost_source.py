"""Where ``lamina cost`` reads from: the server's ledger views, or a ledger file.

The server answers ``GET /lamina/v1/ledger`` with the same views a ledger file gives
(per function / version / day, per month, billed-duration histograms; INIT included), so
``lamina cost`` needs no ``--data-dir``, on the server's machine or another. The rule:

1. With ``--data-dir``, read that data directory's ledger file.
2. With ``--offline``, read the default data directory's ledger file.
3. Otherwise ask the server; if it cannot be reached, read the default data directory's
   ledger file when there is one (and say so).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from lamina.billing.ledger import LEDGER_FILE
from lamina.billing.ledger_reader import GroupBy, GroupTotals, LedgerReader, MonthUsage
from lamina.billing.ledger_wire import group_from_json, month_from_json, workload_from_json
from lamina.billing.projection import Workload
from lamina.billing.provisioned import ProvisionedSpan
from lamina.billing.snapstart import SnapStartVersion
from lamina.client.http import Client, ClientError
from lamina.errors import InvalidParameterValue
from lamina.services.stepfunctions.usage import WorkflowUsage, read_usage
from lamina.tools.cost_report import LedgerViews

Span = tuple[str | None, float | None, float | None]


@dataclass(slots=True)
class ServerLedger:
    """The server's ledger views over HTTP; one request per query, whatever is asked of it."""

    client: Client
    _answers: dict[tuple[GroupBy, Span], dict[str, Any]] = field(default_factory=dict)

    @property
    def source(self) -> str:
        return f"the server's ledger ({self.client.endpoint})"

    def fetch(self, by: GroupBy, span: Span) -> dict[str, Any]:
        """Ask once per (grouping, span); raises :class:`ClientError` as the client does."""
        known = self._answers.get((by, span))
        if known is None:
            function, since, until = span
            query = {"by": by, "function": function, "since": since, "until": until}
            params = urlencode({k: v for k, v in query.items() if v is not None})
            known = self.client.call("GET", f"/lamina/v1/ledger?{params}")
            self._answers[(by, span)] = known
        return known

    def _any(self, span: Span) -> dict[str, Any]:
        for (_, known_span), answer in self._answers.items():
            if known_span == span:
                return answer
        return self.fetch("function", span)

    def groups(
        self,
        by: GroupBy = "function",
        function: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[GroupTotals]:
        answer = self.fetch(by, (function, since, until))
        return [group_from_json(g) for g in answer["groups"]]

    def months(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[MonthUsage]:
        return [month_from_json(m) for m in self._any((function, since, until))["months"]]

    def workloads(
        self, function: str | None = None, since: float | None = None, until: float | None = None
    ) -> list[tuple[str, Workload]]:
        answer = self._any((function, since, until))
        return [workload_from_json(w) for w in answer["workloads"]]

    def snapstart_versions(self, span: Span) -> list[SnapStartVersion] | None:
        """The server's published SnapStart versions (None from an older server)."""
        rows = self._any(span).get("snapstartVersions")
        return None if rows is None else [SnapStartVersion.from_json(r) for r in rows]

    def provisioned_spans(self, span: Span) -> list[ProvisionedSpan]:
        """Provisioned concurrency's READY spans (ended and going on; none from an older
        server)."""
        rows = self._any(span).get("provisionedSpans") or []
        return [ProvisionedSpan.from_json(r) for r in rows]

    def workflow_usage(self, span: Span) -> list[WorkflowUsage]:
        """The workflows' usage the server sent with the ledger (none from an older one)."""
        rows = self._any(span).get("workflows") or []
        return [WorkflowUsage.from_json(r) for r in rows]


@dataclass(frozen=True, slots=True)
class CostSource:
    views: LedgerViews
    note: str = ""
    # State machines' usage over the span, read beside the ledger (none for one function).
    workflows: list[WorkflowUsage] = field(default_factory=list)
    # Published SnapStart versions (for their cache fee); None: unknown (a ledger file).
    snapstart: list[SnapStartVersion] | None = None
    # Provisioned concurrency's READY spans over the span (a ledger file: ended ones only).
    provisioned: list[ProvisionedSpan] = field(default_factory=list)


def open_source(
    client: Client | None,
    data_dir: Path,
    explicit_dir: bool,
    by: str = "function",
    span: Span = (None, None, None),
) -> CostSource:
    """Where the report reads from (see the module docstring).

    The server is asked at once for the report's own query (``by``, ``span``), so a
    report from the server costs one request.
    """
    ledger = data_dir / LEDGER_FILE
    function, since, until = span
    if explicit_dir or client is None:
        local = [] if function else read_usage(data_dir, since, until)
        reader = LedgerReader(ledger)
        return CostSource(
            reader, workflows=local, provisioned=reader.provisioned_spans(function, since, until)
        )
    server = ServerLedger(client)
    groupings: dict[str, GroupBy] = {"version": "version", "day": "day", "node": "node"}
    grouping = groupings.get(by, "function")
    try:
        server.fetch(grouping, span)
    except ClientError as exc:
        if exc.status:  # the server answered with an error: that is worth seeing
            raise
        if ledger.is_file():
            reader = LedgerReader(ledger)
            return CostSource(
                reader,
                f"the server is not reachable ({exc}); read {ledger}",
                [] if function else read_usage(data_dir, since, until),
                provisioned=reader.provisioned_spans(function, since, until),
            )
        raise ClientError(f"{exc}; and there is no ledger at {ledger} (--data-dir?)") from None
    return CostSource(
        server,
        workflows=server.workflow_usage(span),
        snapstart=server.snapstart_versions(span),
        provisioned=server.provisioned_spans(span),
    )


_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(m|min|h|d|w)\s*$")
_SECONDS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(text: str, now: float | None = None) -> float:
    """``7d``, ``24h``, ``30min`` ago; or a UTC date/time ``2026-05-01[T12:00]``; epoch s."""
    now = time.time() if now is None else now
    m = _RELATIVE.match(text)
    if m:
        return now - float(m.group(1)) * _SECONDS[m.group(2)]
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidParameterValue(
            f"{text!r} is not a time: use 7d, 24h, 30min, 2026-05-01 or 2026-05-01T12:00"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()
