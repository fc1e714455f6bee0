"""A node pulls the packages its store lacks: from a bucket, else from the control plane."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lamina.api.cluster_code import serve_code
from lamina.cluster.codesource import CODE_ROUTE
from lamina.cluster.nodecode import MIB, NodeCode, PullConfig, pull_sources
from lamina.errors import ConfigError, ResourceNotFound
from lamina.events.s3.dispatch import Notifier
from lamina.services.s3.service import S3Service
from lamina.services.s3.store import ObjectStore
from lamina.store.code import CodeStore
from lamina.wire.http import Request
from lamina.wire.server import HttpConnection, Response
from tests.events.servers import LoopThread
from tests.integration.harness import python_zip

KEYS = ("AKIDLAMINA", "lamina-secret")


async def _no_enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
    raise AssertionError("no notifications are configured")


class Servers:
    """Lamina's S3 service and the control plane's code route, each on a loopback port."""

    def __init__(self, tmp_path: Path) -> None:
        self.loop = LoopThread()
        self.objects = ObjectStore(tmp_path / "s3")
        s3 = S3Service(self.objects, Notifier(_no_enqueue, None), "us-east-1", "000000000000")
        self.s3_server, self.s3_url = self.loop.serve(s3.handle)
        self.control_store = CodeStore(tmp_path / "control" / "code")
        self.code_server, self.control_url = self.loop.serve(self._code)

    def _code(self, req: Request, conn: HttpConnection) -> Any:
        # The route's own handler; the API's authentication is tested in test_code_route.
        sha = req.path.removeprefix(CODE_ROUTE)
        try:
            return serve_code(self.control_store, req, {"Sha256": sha}, conn)
        except ResourceNotFound:
            return Response(404, b'{"message":"not found"}')

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name="us-east-1",
            aws_access_key_id=KEYS[0],
            aws_secret_access_key=KEYS[1],
            config=Config(s3={"addressing_style": "path"}),
        )

    def close(self) -> None:
        self.loop.call(self.s3_server.close)
        self.loop.call(self.code_server.close)
        self.loop.stop()
        self.objects.close()


@pytest.fixture
def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Servers]:
    # The bucket source finds its keys as boto3 does, in the environment.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEYS[0])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", KEYS[1])
    s = Servers(tmp_path)
    yield s
    s.close()


def test_a_node_pulls_from_the_bucket_then_the_control_plane_and_unpacks(
    servers: Servers, tmp_path: Path
) -> None:
    in_bucket = python_zip("def handler(e, c):\n    return 'bucket'\n")
    on_control = python_zip("def handler(e, c):\n    return 'control'\n")
    a = servers.control_store.put_zip(in_bucket).sha256_hex
    b = servers.control_store.put_zip(on_control).sha256_hex
    s3 = servers.s3()
    s3.create_bucket(Bucket="code")
    s3.put_object(Bucket="code", Key=f"lamina/{a}.zip", Body=in_bucket)
    config = PullConfig(servers.control_url, "s3://code/lamina/", servers.s3_url)
    node_store = CodeStore(tmp_path / "node" / "code")
    node = NodeCode(node_store, pull_sources(config, KEYS, "us-east-1"))
    assert node.missing([a, b, a]) == sorted({a, b})
    asyncio.run(node.ensure([a, b]))
    assert node.missing([a, b]) == []
    assert node_store.zip_path(a).read_bytes() == in_bucket
    assert (node_store.unpacked(b) / "app.py").read_text().endswith("return 'control'\n")
    assert node.cache.fetches == 2
    asyncio.run(node.ensure([a, b]))  # nothing missing: nothing fetched
    assert node.cache.fetches == 2


def test_a_digest_nobody_has_fails_the_pull(servers: Servers, tmp_path: Path) -> None:
    node = NodeCode(
        CodeStore(tmp_path / "node" / "code"),
        pull_sources(PullConfig(servers.control_url), KEYS, "us-east-1"),
    )
    with pytest.raises(ResourceNotFound):
        asyncio.run(node.ensure(["e" * 64]))


def test_pull_settings_come_from_the_environment() -> None:
    config = PullConfig.from_env(
        {
            "LAMINA_CLUSTER_CODE_BUCKET": "s3://code/lamina/",
            "LAMINA_CLUSTER_CODE_ENDPOINT": "http://127.0.0.1:9000",
            "LAMINA_CLUSTER_CODE_CACHE_MB": "512",
        },
        "http://127.0.0.1:9001",
    )
    assert config == PullConfig(
        "http://127.0.0.1:9001", "s3://code/lamina/", "http://127.0.0.1:9000", 512 * MIB
    )
    assert PullConfig.from_env({}, "http://cp:1").bucket_url == ""
    with pytest.raises(ConfigError, match="s3://"):
        PullConfig.from_env({"LAMINA_CLUSTER_CODE_BUCKET": "code"}, "http://cp:1")
    with pytest.raises(ConfigError, match="MB"):
        PullConfig.from_env({"LAMINA_CLUSTER_CODE_CACHE_MB": "lots"}, "http://cp:1")
