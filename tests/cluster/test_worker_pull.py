"""A worker that pulls: the control plane sends it no package; it fetches what it lacks
from the control plane's code route (a real ``lamina serve`` and a real worker process,
over loopback), verifies it, and runs the function."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lamina.cluster.placement import Placement
from lamina.cluster.router import ClusterRouter
from lamina.cluster.worker import pull_config
from lamina.errors import ApiError
from lamina.logs.store import LogStore
from lamina.models.function import FunctionConfig
from lamina.models.invocation import InvocationRecord
from lamina.scheduler.driver import InvokeRequest
from tests.cluster.workers import TOKEN, start_worker, stop_worker
from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

SOURCE = """
def handler(event, context):
    return {"pulled": event}
"""


@pytest.fixture
def control(tmp_path: Path) -> Iterator[LaminaProcess]:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    proc = LaminaProcess(tmp_path / "control", {}).start()
    try:
        yield proc
    finally:
        proc.stop()


def start_pulling_worker(root: Path, endpoint: str) -> tuple[subprocess.Popen[str], int]:
    env = {
        "LAMINA_CLUSTER_CODE_PULL": "1",
        # The dev-mode control plane accepts any key pair (docs/cluster.md).
        "LAMINA_CLUSTER_CODE_ACCESS_KEY_ID": "AKIDNODE",
        "LAMINA_CLUSTER_CODE_SECRET_ACCESS_KEY": "node-secret",
    }
    return start_worker(root, "puller", cpus=1, env=env, args=("--api-endpoint", endpoint))


def test_pulling_is_configured_from_the_environment() -> None:
    assert pull_config({}, "http://127.0.0.1:1") == (None, ("", ""))
    config, creds = pull_config(
        {"LAMINA_CLUSTER_CODE_PULL": "1", "LAMINA_CLUSTER_CODE_ACCESS_KEY_ID": "K"},
        "http://127.0.0.1:1",
    )
    assert config is not None and config.control_plane == "http://127.0.0.1:1"
    assert creds == ("K", "")
    bucket, _ = pull_config({"LAMINA_CLUSTER_CODE_BUCKET": "s3://b/p/"}, "http://h:1")
    assert bucket is not None and bucket.bucket_url == "s3://b/p/"


def test_a_pulling_node_fetches_the_package_the_control_plane_never_sent(
    tmp_path: Path, control: LaminaProcess
) -> None:
    package = python_zip(SOURCE)
    control.create("pulled", package)
    sha = hashlib.sha256(package).hexdigest()
    cfg = FunctionConfig("pulled", "python3.11", "app.handler", sha, len(package), revision_id="r1")
    worker, port = start_pulling_worker(tmp_path, control.endpoint)
    shipped: list[str] = []

    def package_of(digest: str) -> Path:  # the push path: must not be taken
        shipped.append(digest)
        raise AssertionError("a pulling node was sent a package")

    async def scenario() -> None:
        records: list[InvocationRecord] = []
        logs = LogStore(tmp_path / "logs")
        router = ClusterRouter(Placement(), TOKEN, records.append, logs, package_of)
        try:
            await router.attach("127.0.0.1", port)
            assert router.connections["puller"].pulls
            first = await router.invoke(InvokeRequest(cfg, b'{"n":1}', "arn:test"))
            second = await router.invoke(InvokeRequest(cfg, b'{"n":2}', "arn:test"))
            assert json.loads(first.payload) == {"pulled": {"n": 1}}, first.payload
            assert json.loads(second.payload) == {"pulled": {"n": 2}}
            assert first.node == "puller" and first.function_error is None
            # A digest the control plane does not have fails the invoke, Lambda-shaped.
            missing = FunctionConfig("pulled", "python3.11", "app.handler", "0" * 64, 1,
                                     revision_id="r2")  # fmt: skip
            with pytest.raises(ApiError) as failed:
                await router.invoke(InvokeRequest(missing, b"{}", "arn:test"))
            assert failed.value.error_type == "ResourceNotFoundException", failed.value
        finally:
            await router.close()

    try:
        asyncio.run(scenario())
    finally:
        stop_worker(worker)
    assert shipped == []
    # The pulled package sits in the node's code store, verified by its digest.
    stored = tmp_path / "puller" / "code" / "zips" / f"{sha}.zip"
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == sha
