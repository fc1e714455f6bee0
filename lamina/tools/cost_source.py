"""Where ``lamina cost`` reads from: the server's ledger file, or its HTTP totals.

The ledger file has everything (versions, days, months, INIT, billed-duration
percentiles) but only on the server's machine; the API's ``/lamina/v1/cost`` has
per-function totals from anywhere. The rule:

1. Ask the server (if reachable) for its totals: that also makes it flush its ledger
   buffer, so a file read right after sees every invoke so far.
2. With ``--data-dir``, read that ledger.
3. Otherwise read the default data directory's ledger if it is *this server's*: its
   per-function totals must equal the server's, exactly. If the server is not running, the
   file is all there is, so read it.
4. Otherwise use the server's totals (function rows only).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from lamina.billing.ledger import LEDGER_FILE
from lamina.billing.ledger_reader import LedgerReader
from lamina.cli.client import Client, ClientError
from lamina.errors import InvalidParameterValue


@dataclass(frozen=True, slots=True)
class CostSource:
    reader: LedgerReader | None
    api_rows: list[dict[str, Any]] | None
    note: str = ""


def _fingerprint_api(rows: list[dict[str, Any]]) -> set[tuple[str, int, Decimal]]:
    return {(str(r["function"]), int(r["invocations"]), Decimal(r["total_cost"])) for r in rows}


def _fingerprint_ledger(reader: LedgerReader) -> set[tuple[str, int, Decimal]]:
    return {(g.function, g.invocations, g.total_cost) for g in reader.groups("function")}


def open_source(
    client: Client | None, data_dir: Path, explicit_dir: bool, function: str | None = None
) -> CostSource:
    rows: list[dict[str, Any]] | None = None
    unreachable = ""
    if client is not None:
        query = f"?function={function}" if function else ""
        try:
            rows = client.call("GET", f"/lamina/v1/cost{query}")["functions"]
        except ClientError as exc:
            if exc.status:  # the server answered with an error: that is worth seeing
                raise
            unreachable = str(exc)
    ledger = data_dir / LEDGER_FILE
    if explicit_dir:
        return CostSource(LedgerReader(ledger), rows)
    if ledger.is_file():
        reader = LedgerReader(ledger)
        if rows is None:
            return CostSource(reader, None, "the server is not reachable; read its ledger file")
        if function is None and _fingerprint_ledger(reader) == _fingerprint_api(rows):
            return CostSource(reader, rows)
        if function is not None:
            mine = {g for g in _fingerprint_ledger(reader) if g[0] == function}
            if mine == _fingerprint_api(rows):
                return CostSource(reader, rows)
    if rows is None:
        raise ClientError(f"{unreachable}; and there is no ledger at {ledger} (--data-dir?)")
    return CostSource(None, rows)


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
