"""``lamina compare orders-py orders-rs`` as the README writes it: deployed when asked."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from lamina.tools.workloads import BY_KEY, paired_example
from tests.integration.harness import LaminaProcess, lamina_cli


@pytest.mark.parametrize(
    ("name", "key", "language"),
    [
        ("orders-py", "orders", "python"),
        ("orders-rs", "orders", "rust"),
        ("paired-thumbnail-python", "thumbnail", "python"),
        ("loglines-rust", "loglines", "rust"),
    ],
)
def test_paired_example_names_people_use(name: str, key: str, language: str) -> None:
    found = paired_example(name)
    assert found is not None
    pair, impl = found
    assert pair is BY_KEY[key]
    assert impl is (pair.python if language == "python" else pair.rust)


@pytest.mark.parametrize("name", ["orders", "orders-go", "hello-py", "my-orders-rs"])
def test_other_names_are_not_paired_examples(name: str) -> None:
    assert paired_example(name) is None


def compare(server: LaminaProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return lamina_cli("compare", *args, "--endpoint", server.endpoint, "--no-progress", timeout=600)


@pytest.mark.privileged
@pytest.mark.slow
def test_compare_says_how_to_deploy_the_paired_examples_then_deploys_them(
    tools_server: LaminaProcess, paired_zips: Path, tmp_path: Path
) -> None:
    # paired_zips builds them as make demo does (a fresh clone's make test has not yet).
    for zip_name in ("paired-orders-python.zip", "paired-orders-rust.zip"):
        assert (paired_zips / zip_name).is_file()
    refused = compare(tools_server, "orders-py", "orders-rs")
    assert refused.returncode == 2
    assert "orders-py and orders-rs do not exist on" in refused.stderr
    assert "--deploy-examples" in refused.stderr
    assert "bash scripts/build-examples.sh --paired" in refused.stderr

    missing = compare(tools_server, "orders-py", "nope-fn")
    assert missing.returncode == 2 and "function nope-fn does not exist" in missing.stderr

    done = compare(
        tools_server, "orders-py", "orders-rs", "--deploy-examples", "--memory", "512",
        "-n", "2", "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "deployed orders-py" in done.stderr and "deployed orders-rs" in done.stderr
    assert "payload: the orders example's own event" in done.stderr
    report = json.loads(done.stdout)
    assert report["same_answer"] is True
    assert (report["a"]["runtime"], report["b"]["runtime"]) == ("python3.11", "provided.al2023")
    verdict = report["verdict"]
    assert "per million invocations" in verdict
    # Not the degenerate "0% below" of a verdict that compares nothing ("20% below" is fine).
    assert re.search(r"(?<![0-9])0% below", verdict) is None, verdict
    # Deployed once: a second run finds them.
    again = compare(tools_server, "orders-py", "orders-rs", "--memory", "512", "-n", "1")
    assert again.returncode == 0, again.stderr
    assert "deployed" not in again.stderr
