"""One line per function: the rate at which a flat-priced server becomes cheaper."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from lamina.billing.prices import PriceTable
from lamina.billing.projection import ServerPrice, Workload, break_even
from lamina.tools.formatting import count, money, per_second


def write_break_even(
    rows: Sequence[tuple[str, Workload | None]],
    server: ServerPrice,
    prices: PriceTable,
    stream: TextIO,
) -> None:
    """``name: Lambda costs more than <server> above N/s (M requests a month)``."""
    for name, workload in rows:
        if workload is None:
            continue
        even = break_even(workload, server, prices)
        if even.requests_per_month is None:
            print(f"{name}: cheaper on Lambda than a {money(server.per_month)}/month server "
                  "at any rate", file=stream)  # fmt: skip
            continue
        print(
            f"{name}: Lambda costs more than a {money(server.per_month)}/month server above "
            f"{per_second(even.per_second)} ({count(even.requests_per_month)} requests a month)",
            file=stream,
        )
