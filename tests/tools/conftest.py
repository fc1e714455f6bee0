from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.client.http import Client
from lamina.client.lambda_api import LambdaClient
from tests.integration.harness import EXAMPLES, ROOT, LaminaProcess


@pytest.fixture(scope="session")
def tools_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    """One server for the cost tools' integration tests."""
    data: Path = tmp_path_factory.mktemp("tools-data")
    server = LaminaProcess(data, {"LAMINA_FREEZE_GRACE_S": "0.05"}).start()
    yield server
    server.stop()


@pytest.fixture
def api(tools_server: LaminaProcess) -> LambdaClient:
    # A bounded wait: a request the server never answers fails the test, not the suite.
    return LambdaClient(Client(tools_server.endpoint, timeout=120))


@pytest.fixture(scope="session")
def paired_zips() -> Path:
    """The paired examples' zips, built (incrementally) as ``make demo`` builds them."""
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "build-examples.sh"), "--paired"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PIP": os.environ.get("PIP", str(ROOT / ".venv" / "bin" / "pip"))},
    )
    assert done.returncode == 0, f"paired build failed:\n{done.stdout}\n{done.stderr}"
    return EXAMPLES
