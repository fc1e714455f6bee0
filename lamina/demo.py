"""``python -m lamina.demo`` — Lamina's main job on embedded defaults, end to end.

Starts a Lamina server on a fresh data directory, deploys the same hello function in
Python, Node.js and Rust (plus the two built on AWS's own runtime clients), invokes each
cold and then warm, prints the REPORT lines Lambda would write and the bill the ledger
kept. Then it answers "what would a Rust rewrite save?" for the paired examples
(``examples/paired``): each workload's Python and Rust functions are power-tuned briefly,
each is taken at its cheapest memory size, and the demo ends with the comparison table.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from lamina.billing.meter import gb_seconds
from lamina.billing.prices import load_prices
from lamina.billing.projection import parse_rate
from lamina.client.http import Client, fn_path
from lamina.client.lambda_api import LambdaClient, payload_bytes
from lamina.terminal import paint, table
from lamina.tools.compare import Comparison, run_compare
from lamina.tools.compare_report import write_pairs
from lamina.tools.payloads import WeightedPayload
from lamina.tools.tuner import TunePlan
from lamina.tools.workloads import PAIRS, loglines_event, orders_event, thumbnail_event

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"


@dataclass(frozen=True)
class Example:
    name: str
    zip_name: str
    runtime: str
    handler: str


EXAMPLES = [
    Example("hello-python", "hello-python.zip", "python3.11", "app.handler"),
    Example("hello-node", "hello-node.zip", "nodejs20.x", "index.handler"),
    Example("hello-rust", "hello-rust.zip", "provided.al2023", "bootstrap"),
    Example("ric-python", "ric-python.zip", "provided.al2023", "app.handler"),
    Example("ric-node", "ric-node.zip", "provided.al2023", "index.handler"),
]

# The paired comparison, kept short: three sizes around one vCPU, four warm invokes each,
# and events a little smaller than the examples' defaults.
PAIRED_SIZES = (512, 1024, 1769)
PAIRED_INVOKES = 4
# 100 ms apart, as one environment sees 10 requests a second (the rate priced below):
# back-to-back invokes would share the CPU quota's 100 ms periods and measure a function
# running flat out instead.
PAIRED_SLEEP_MS = 100
PAIRED_RATE = "10/s"
PAIRED_EVENTS = {
    "thumbnail": lambda: thumbnail_event(640, 480),
    "orders": lambda: orders_event(200),
    "loglines": lambda: loglines_event(5000),
}

_REPORT = re.compile(r"REPORT RequestId: \S+\t(.*)")
_FIELD = re.compile(r"([A-Za-z ]+): ([\d.]+) (ms|MB)")


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lamina.cli.main",
            "serve",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        m = re.search(r"Lamina serving on (http://\S+)", line)
        if m:
            return proc, m.group(1)
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("the Lamina server did not start; run `lamina serve` to see why")


def build_paired() -> None:
    """Build the paired examples' zips (incremental: quick when they are up to date)."""
    print(paint("Building the paired examples (the first time takes a minute or two)", "dim"))
    pip = ROOT / ".venv" / "bin" / "pip"
    env = {**os.environ, "PIP": os.environ.get("PIP", str(pip))}
    script = ROOT / "scripts" / "build-examples.sh"
    done = subprocess.run(["bash", str(script), "--paired"], env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"building the paired examples failed: see {BUILD / 'logs'}")


def report_fields(tail: str) -> dict[str, float]:
    for line in tail.splitlines():
        m = _REPORT.search(line)
        if m:
            return {k.strip(): float(v) for k, v, _ in _FIELD.findall(m.group(1))}
    return {}


def main() -> int:
    data_dir = BUILD / "demo-data"
    shutil.rmtree(data_dir, ignore_errors=True)
    missing = [e.zip_name for e in EXAMPLES if not (BUILD / "examples" / e.zip_name).is_file()]
    if missing:
        print(f"missing example packages {missing}: run `make examples` first", file=sys.stderr)
        return 2
    build_paired()
    proc, endpoint = start_server(data_dir)
    client = Client(endpoint)
    print(paint(f"Lamina is serving on {endpoint}", "bold"))
    rows = []
    try:
        for ex in EXAMPLES:
            data = (BUILD / "examples" / ex.zip_name).read_bytes()
            client.call(
                "POST",
                "/2015-03-31/functions",
                {
                    "FunctionName": ex.name,
                    "Runtime": ex.runtime,
                    "Handler": ex.handler,
                    "MemorySize": 128,
                    "Code": {"ZipFile": base64.b64encode(data).decode()},
                },
                ok=(201,),
            )
            print(f"\n{paint(ex.name, 'cyan')} ({ex.runtime}, 128 MB, {len(data):,} bytes)")
            for phase in ("cold", "warm"):
                answer = client.request(
                    "POST",
                    fn_path(ex.name) + "/invocations",
                    json.dumps({"name": "Lamina"}).encode(),
                    {"X-Amz-Log-Type": "Tail"},
                )
                tail = base64.b64decode(answer.headers["x-amz-log-result"]).decode()
                report = next((ln for ln in tail.splitlines() if ln.startswith("REPORT")), "")
                print(f"  {phase}: {answer.body.decode()}")
                print(paint(f"  {report}", "dim"))
                f = report_fields(tail)
                rows.append((ex.name, phase, f))
        pairs = _paired(client)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
    _summary(rows)
    _bill(data_dir)
    _pairs_table(pairs)
    return 0


def _paired(client: Client) -> list[tuple[str, Comparison]]:
    """Deploy each paired workload in Python and Rust, tune both briefly, compare them."""
    api = LambdaClient(client)
    prices = load_prices()
    rate = parse_rate(PAIRED_RATE)
    print("\n" + paint("What would a Rust rewrite save? The paired examples", "bold"))
    out = []
    for pair in PAIRS:
        names = pair.function_names()
        for impl, name in zip((pair.python, pair.rust), names, strict=True):
            code = (BUILD / "examples" / impl.zip_name).read_bytes()
            api.create_function(name, code, impl.runtime, impl.handler, 128, timeout_s=60)
        event = payload_bytes(PAIRED_EVENTS[pair.key]())
        print(f"  {paint(pair.title, 'cyan')}: {names[0]} vs {names[1]}, {len(event):,}-byte event")
        plan = TunePlan(
            names[0],
            sizes=PAIRED_SIZES,
            invocations=PAIRED_INVOKES,
            payloads=(WeightedPayload(event),),
            discard=0.25,  # of 4 invokes, keep the middle 2: one hiccup does not decide
            sleep_ms=PAIRED_SLEEP_MS,
        )
        out.append((pair.key, run_compare(api, plan, names[1], prices, rate)))
    return out


def _pairs_table(pairs: list[tuple[str, Comparison]]) -> None:
    """The demo's last words: Python (A) against Rust (B) for each paired workload."""
    sizes = "/".join(str(s) for s in PAIRED_SIZES)
    title = (
        f"Python (A) vs Rust (B), each at its cheapest memory size ({sizes} MB tried, "
        f"{PAIRED_INVOKES} warm invokes {PAIRED_SLEEP_MS} ms apart, the middle two kept, x86_64)"
    )
    print("\n" + paint(title, "bold"))
    print(
        "A / B COST: how many times more A costs per invocation, each at its cheapest size; "
        "A / B TIME @ MB: how many times longer A runs at the same memory (so the same CPU).\n"
        "More: lamina compare <A> <B> --payload @event.json --html report.html"
    )
    write_pairs(pairs, sys.stdout, PAIRED_RATE)


def _summary(rows: list[tuple[str, str, dict[str, float]]]) -> None:
    prices = load_prices()
    per_gb_s = prices.tiers("x86_64")[0].price_per_gb_s
    request = prices.request_price
    print("\n" + paint("Cold and warm starts (128 MB, x86_64)", "bold"))
    out = []
    for name, phase, f in rows:
        billed = int(f.get("Billed Duration", 0))
        cost_m = (gb_seconds(128, billed) * per_gb_s + request) * 1_000_000
        out.append(
            [
                name,
                phase,
                f"{f['Init Duration']:.2f}" if "Init Duration" in f else "-",
                f"{f.get('Duration', 0):.2f}",
                billed,
                int(f.get("Max Memory Used", 0)),
                f"${cost_m:.2f}",
            ]
        )
    table(
        [
            "FUNCTION",
            "START",
            "INIT MS",
            "DURATION MS",
            "BILLED MS",
            "MAX MB",
            "$ PER 1M LIKE THIS",
        ],
        out,
    )


def _bill(data_dir: Path) -> None:
    from lamina.billing.ledger import Ledger

    ledger = Ledger.open(data_dir, load_prices())
    try:
        totals = ledger.totals()
    finally:
        ledger.close()
    print("\n" + paint("The ledger: what these invocations would cost on Lambda", "bold"))
    table(
        ["FUNCTION", "INVOCATIONS", "COLD", "BILLED MS", "GB-S", "TOTAL $"],
        [
            [
                t.function,
                t.invocations,
                t.cold_starts,
                t.billed_ms,
                f"{t.gb_s:.6f}",
                f"${t.total_cost:.10f}",
            ]
            for t in totals
        ],
    )
    total = sum((t.total_cost for t in totals), Decimal(0))
    print(f"total: ${total:.10f}")


if __name__ == "__main__":
    raise SystemExit(main())
