"""``compare`` on the paired examples: each at its best memory size, same answers, ratios."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lamina.billing.prices import load_prices
from lamina.billing.projection import parse_rate
from lamina.client.lambda_api import LambdaClient, payload_bytes
from lamina.tools.compare import Comparison, run_compare
from lamina.tools.compare_report import write_pairs
from lamina.tools.payloads import WeightedPayload
from lamina.tools.tuner import TunePlan
from lamina.tools.workloads import BY_KEY, PAIRS, orders_event
from tests.integration.harness import LaminaProcess, lamina_cli

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

TABLE = load_prices()


def deploy_pair(api: LambdaClient, zips: Path, key: str, prefix: str) -> tuple[str, str]:
    pair = BY_KEY[key]
    names = pair.function_names(prefix)
    for impl, name in zip((pair.python, pair.rust), names, strict=True):
        if api.exists(name):
            api.delete_function(name)
        api.create_function(name, (zips / impl.zip_name).read_bytes(), impl.runtime,
                            impl.handler, 128, timeout_s=60)  # fmt: skip
    return names


def test_compare_reports_the_paired_examples_ratios(api: LambdaClient, paired_zips: Path) -> None:
    rate = parse_rate("10/s")
    results: list[tuple[str, Comparison]] = []
    for pair in PAIRS:
        python, rust = deploy_pair(api, paired_zips, pair.key, "cmp")
        plan = TunePlan(python, sizes=(512, 1024, 1769), invocations=3,
                        payloads=(WeightedPayload(payload_bytes(pair.event())),))  # fmt: skip
        comparison = run_compare(api, plan, rust, TABLE, rate, progress=False)
        results.append((pair.key, comparison))
        assert comparison.same_answer is True
        for ratio in (comparison.cost_ratio, comparison.latency_ratio, comparison.init_ratio,
                      comparison.memory_ratio):  # fmt: skip
            assert ratio is not None and ratio > 0
        assert comparison.a.monthly is not None and comparison.b.monthly is not None
        assert comparison.a.result.restore.verified and comparison.b.result.restore.verified
        assert comparison.a.runtime == "python3.11"
        assert comparison.b.runtime == "provided.al2023"
    table = io.StringIO()
    write_pairs(results, table, rate.text)
    print("\n" + table.getvalue())


def test_cli_compare(
    tools_server: LaminaProcess, api: LambdaClient, paired_zips: Path, tmp_path: Path
) -> None:
    python, rust = deploy_pair(api, paired_zips, "orders", "cmp-cli")
    event = tmp_path / "orders.json"
    event.write_text(json.dumps(orders_event(count=100)))
    done = lamina_cli(
        "compare", python, rust, "--endpoint", tools_server.endpoint, "--payload", f"@{event}",
        "--memory", "512,1024", "-n", "2", "--rate", "2M/month", "--vs-server", "40$/month",
        "--json", "--html", str(tmp_path / "compare.html"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["same_answer"] is True
    assert report["rate"] == {"text": "2M/month", "per_month": 2_000_000}
    assert report["a"]["best_memory_mb"] in (512, 1024)
    assert report["ratios"]["cost"] > 0
    assert "per million invocations" in report["verdict"]
    assert "Power tuning: " + python in (tmp_path / "compare.html").read_text()
