from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess


@pytest.fixture(scope="session")
def lamina(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    """One server for the suite: short idle times so lifecycle tests need little waiting."""
    data: Path = tmp_path_factory.mktemp("lamina-data")
    server = LaminaProcess(
        data, {"LAMINA_FREEZE_GRACE_S": "0.05", "LAMINA_IDLE_RECLAIM_S": "120"}
    ).start()
    yield server
    server.stop()
