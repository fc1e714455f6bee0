"""The console's page loads with many functions and a large ledger: 100 functions and 10⁶
ledger rows (spread over the last 24 hours, so the rollups hold ~144 000 minutes), on a
real server, measured in Debian's Chromium through Playwright — first contentful paint and
the navigation's response end of each page, warm (after one load), median of N loads.

    PYTHONPATH=. .venv/bin/python -m bench.console [rows] [functions] [loads]

The ledger is filled in process (``Ledger.record``, the invoke path's own call, then one
flush), before the server starts; the functions are created through the Lambda API.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from lamina.billing.ledger import Ledger
from lamina.billing.prices import load_prices
from lamina.models.invocation import InvocationRecord, Outcome
from tests.integration.harness import LaminaProcess, aws_client, python_zip

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
CODE = "def handler(event, context):\n    return 1\n"
PAINT = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  return [fcp ? fcp.startTime : null, nav.responseEnd];
}"""


def fill_ledger(data: Path, rows: int, names: list[str], span_s: float) -> float:
    """``rows`` records of ``names`` spread over the last ``span_s`` seconds; seconds taken."""
    rng = random.Random(16)
    now = time.time()
    started = time.perf_counter()
    ledger = Ledger.open(data, load_prices(), batch_size=5000)
    for i in range(rows):
        duration = rng.lognormvariate(3.0, 0.8)
        cold = rng.random() < 0.02
        outcome = Outcome.ERROR if rng.random() < 0.01 else Outcome.SUCCESS
        ledger.record(
            InvocationRecord(
                request_id=str(uuid.UUID(int=rng.getrandbits(128))),
                function_name=names[i % len(names)],
                version="$LATEST",
                started_at=now - span_s * rng.random(),
                duration_ms=duration,
                billed_ms=max(1, int(duration + 0.999)),
                memory_mb=128,
                max_memory_used_mb=40,
                init_ms=150.0 if cold else None,
                architecture="x86_64",
                outcome=outcome,
            )
        )
        if i % 50_000 == 0:
            ledger.flush(600)  # keep the queue (memory) bounded
    ledger.flush(600)
    ledger.close()
    return time.perf_counter() - started


def measure(endpoint: str, paths: list[str], loads: int) -> dict[str, tuple[float, float]]:
    """Median (first contentful paint, response end) in ms per path, after one warm load."""
    from playwright.sync_api import sync_playwright

    out: dict[str, tuple[float, float]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(300_000)
            for path in paths:
                page.goto(endpoint + path)  # warm: assets cached, pages' code paths run
                samples: list[Any] = []
                for _ in range(loads):
                    page.goto(endpoint + path, wait_until="load")
                    page.wait_for_function(
                        "() => performance.getEntriesByName('first-contentful-paint').length"
                    )
                    samples.append(page.evaluate(PAINT))
                out[path] = (
                    statistics.median(s[0] for s in samples),
                    statistics.median(s[1] for s in samples),
                )
        finally:
            browser.close()
    return out


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    functions = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    loads = int(sys.argv[3]) if len(sys.argv) > 3 else 7
    names = [f"fn-{i:03d}" for i in range(functions)]
    with tempfile.TemporaryDirectory(prefix="lamina-bench-console-") as tmp:
        data = Path(tmp) / "data"
        filled = fill_ledger(data, rows, names, 86_400.0)
        print(f"ledger: {rows} rows over 24 h for {functions} functions in {filled:.0f} s")
        server = LaminaProcess(data).start()
        try:
            lam = aws_client(server, "lambda")
            zipped = python_zip(CODE)
            for name in names:
                lam.create_function(
                    FunctionName=name,
                    Runtime="python3.12",
                    Handler="app.handler",
                    Role="arn:aws:iam::000000000000:role/r",
                    Code={"ZipFile": zipped},
                )
            paths = [
                "/console",
                f"/console/functions/{names[0]}",
                "/console/cost",
                "/console/cost?by=day&days=7&rate=10/s",
                "/console/workflows",
            ]
            results = measure(server.endpoint, paths, loads)
        finally:
            server.stop()
    print(f"load average {os.getloadavg()[0]:.2f}; median of {loads} warm loads, Chromium")
    print(f"{'page':<42} {'first paint (ms)':>17} {'response end (ms)':>18}")
    for path, (fcp, end) in results.items():
        print(f"{path:<42} {fcp:>17.0f} {end:>18.0f}")


if __name__ == "__main__":
    main()
