"""The cold-start benchmark against a live Lamina: measured order, clean-up, CLI output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from lamina.client.lambda_api import LambdaClient
from lamina.errors import InvalidParameterValue
from lamina.tools.coldstart import function_name, resolve_runtimes, run_coldstart
from lamina.tools.coldstart_report import ranking_lines
from tests.integration.harness import EXAMPLES, LaminaProcess, lamina_cli

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_rust_starts_before_python_before_node(api: LambdaClient) -> None:
    specs = resolve_runtimes(["node", "python", "rust"])
    # Python's and Node's starts are within 2x of each other here; a burst of other work
    # on a shared 2-core machine can swap them for a run, so the order must hold in one of
    # three runs of 12 interleaved cold starts each.
    orders = []
    for _ in range(3):
        bench = run_coldstart(api, specs, [128], 12, EXAMPLES, prefix="t-cold", progress=False)
        for s in bench.series:
            assert (len(s.init_ms), s.not_cold, s.failures) == (12, 0, []), s
            assert s.memory is not None and s.memory.max > 0
        for line in ranking_lines(bench):
            print(line)
        orders.append([s.spec.key for s in bench.ranking(128)])
        assert not any(api.exists(function_name("t-cold", s.spec, 128)) for s in bench.series)
        if orders[-1] == ["rust", "python", "node"]:
            break
    assert orders[-1] == ["rust", "python", "node"], orders
    assert "the same order as lambda-perf on AWS" in ranking_lines(bench)[0]


def test_cli_writes_json_charts_and_a_report(tools_server: LaminaProcess, tmp_path: Path) -> None:
    done = lamina_cli(
        "bench", "coldstart", "--endpoint", tools_server.endpoint, "--runtimes", "rust,python",
        "--memory", "128,512", "-n", "2", "--prefix", "t-cold-cli", "--json",
        "--png", str(tmp_path / "cold.png"), "--html", str(tmp_path / "cold.html"), timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["count"] == 2
    assert {(s["runtime_key"], s["memory_mb"]) for s in report["series"]} == {
        ("rust", 128),
        ("rust", 512),
        ("python", 128),
        ("python", 512),
    }
    assert all(s["cold_starts"] == 2 for s in report["series"])
    rust = next(s for s in report["series"] if s["runtime_key"] == "rust")
    assert rust["aws"] == {"runtime": "Rust (provided.al2023)", "init_avg_ms": 15.5,
                           "max_memory_mb": 15.6}  # fmt: skip
    with Image.open(tmp_path / "cold.png") as image:
        image.load()
    assert "Cold starts" in (tmp_path / "cold.html").read_text()


def test_a_function_it_did_not_make_is_left_alone(api: LambdaClient) -> None:
    (spec,) = resolve_runtimes(["rust"])
    mine = function_name("t-owned", spec, 128)
    if not api.exists(mine):
        api.create_function(mine, (EXAMPLES / spec.zip_name).read_bytes(), spec.runtime,
                            spec.handler, 128, description="someone's production function")  # fmt: skip
    with pytest.raises(InvalidParameterValue, match="was not made by this benchmark"):
        run_coldstart(api, [spec], [128], 1, EXAMPLES, prefix="t-owned", progress=False)
    assert api.get_configuration(mine)["Description"] == "someone's production function"
