"""Provisioned concurrency in ``lamina cost``: each configuration's configured concurrency.

The configured concurrency is billed per GB-s while a configuration is READY, rounded up
to 5 minutes per span (:mod:`lamina.billing.provisioned`). Ended spans come from the
ledger; the server adds the spans going on now, as if they ended at the report. The
invokes provisioned environments served are in the ledger's rows already, priced at the
provisioned duration price (spillover invokes at the on-demand price).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from lamina.billing.prices import PriceTable
from lamina.billing.provisioned import ProvisionedSpan, span_charge
from lamina.tools.formatting import plain


@dataclass(frozen=True, slots=True)
class ProvisionedRow:
    span: ProvisionedSpan
    billed_s: int
    gb_s: Decimal
    cost: Decimal


def provisioned_rows(spans: list[ProvisionedSpan], table: PriceTable) -> list[ProvisionedRow]:
    """One row per span, by function, qualifier and start (an unpriced architecture's
    spans are left out: the table cannot price them)."""
    out = []
    for s in sorted(spans, key=lambda s: (s.function, s.qualifier, s.ready_at)):
        if s.architecture not in table.provisioned:
            continue
        charge = span_charge(s, table)
        out.append(ProvisionedRow(s, charge.billed_s, charge.gb_s, charge.cost))
    return out


def provisioned_row(row: ProvisionedRow) -> dict[str, Any]:
    """``lamina cost --json``: a provisioned concurrency row (``"kind": "provisioned"``)."""
    s = row.span
    return {
        "kind": "provisioned",
        "function": s.function,
        "qualifier": s.qualifier,
        "version": s.version,
        "architecture": s.architecture,
        "memory_mb": s.memory_mb,
        "concurrency": s.concurrency,
        "ready_at": s.ready_at,
        "ended_at": s.ended_at,
        "billed_seconds": row.billed_s,
        "gb_s": plain(row.gb_s),
        "cost": plain(row.cost),
    }
