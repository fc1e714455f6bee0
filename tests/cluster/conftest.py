"""The worker rig the worker-connection and worker-views tests share."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster.workers import WorkerRig


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[WorkerRig]:
    """A started worker ``n1`` with the echo function (root only: it makes real sandboxes)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    with WorkerRig.started(tmp_path) as started:
        yield started
