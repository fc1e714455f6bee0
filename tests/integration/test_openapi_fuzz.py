"""Fuzz the OpenAPI document against a real server with schemathesis, every check on.

Every request is signed with the dev key (``schemathesis_sigv4.py``), so the generated
requests reach the operations. The run must end with no server error and no response
that contradicts the document; the seed is fixed and the examples bounded so a failure
reproduces. ``schemathesis.toml`` holds the two deliberate settings, with their reasons.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, LaminaProcess

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    server = LaminaProcess(tmp_path_factory.mktemp("fuzz")).start()
    yield server
    server.stop()


def test_the_openapi_document_holds_under_fuzzing(server: LaminaProcess, tmp_path: Path) -> None:
    binary = Path(sys.executable).parent / "schemathesis"
    env = {
        **os.environ,
        "SCHEMATHESIS_HOOKS": "tests.integration.schemathesis_sigv4",
        "PYTHONPATH": str(ROOT),
    }
    run = subprocess.run(
        [
            str(binary),
            "--config-file",
            str(HERE / "schemathesis.toml"),
            "run",
            f"{server.endpoint}/lamina/v1/openapi.json",
            "--url",
            server.endpoint,
            "--checks",
            "all",
            "--max-examples",
            "25",
            "--seed",
            "20261205",
            "--workers",
            "1",
            "--max-failures",
            "50",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,  # schemathesis keeps a cache in its working directory
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-20_000:] + run.stderr[-5_000:]
    assert "No issues found" in run.stdout or " passed" in run.stdout, run.stdout[-3000:]
