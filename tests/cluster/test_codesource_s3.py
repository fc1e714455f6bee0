"""Code packages from an S3-compatible bucket: Lamina's own S3 service on a loopback port."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lamina.cluster.codecache import CodeCache, CodeHashMismatch
from lamina.cluster.codesource import S3Source, first_of
from lamina.errors import ResourceNotFound
from lamina.events.s3.dispatch import Notifier
from lamina.services.s3.service import S3Service
from lamina.services.s3.store import ObjectStore
from tests.events.servers import LoopThread

KEYS = ("AKIDLAMINA", "lamina-secret")


async def _no_enqueue(name: str, qualifier: str | None, payload: bytes) -> str:
    raise AssertionError("no notifications are configured")


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[str]:
    loop = LoopThread()
    store = ObjectStore(tmp_path / "s3")
    service = S3Service(store, Notifier(_no_enqueue, None), "us-east-1", "000000000000")
    server, url = loop.serve(service.handle)
    yield url
    loop.call(server.close)
    loop.stop()
    store.close()


def s3_client(endpoint: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEYS[0],
        aws_secret_access_key=KEYS[1],
        config=Config(s3={"addressing_style": "path"}),
    )


def package(tmp_path: Path, size: int) -> tuple[str, Path]:
    data = os.urandom(size)
    path = tmp_path / "package.zip"
    path.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), path


def test_a_published_package_is_fetched_by_digest_and_verified(
    endpoint: str, tmp_path: Path
) -> None:
    s3_client(endpoint).create_bucket(Bucket="lamina-code")
    source = S3Source.from_url("s3://lamina-code/packages", endpoint_url=endpoint, credentials=KEYS)
    assert source.key("a" * 64) == f"packages/{'a' * 64}.zip"
    digest, path = package(tmp_path, 3 * 1024 * 1024 + 17)  # more than one 1 MiB chunk
    assert source.publish(digest, path) is True
    assert source.publish(digest, path) is False  # already there: not uploaded again
    cache = CodeCache(tmp_path / "cache", source)
    assert cache.ensure(digest).read_bytes() == path.read_bytes()
    listed = s3_client(endpoint).list_objects_v2(Bucket="lamina-code")["Contents"]
    assert [o["Key"] for o in listed] == [f"packages/{digest}.zip"]


def test_a_missing_key_is_not_found(endpoint: str, tmp_path: Path) -> None:
    s3_client(endpoint).create_bucket(Bucket="lamina-code")
    cache = CodeCache(tmp_path, S3Source("lamina-code", endpoint_url=endpoint, credentials=KEYS))
    with pytest.raises(ResourceNotFound, match="s3://lamina-code/"):
        cache.ensure("b" * 64)


def test_a_tampered_object_is_refused(endpoint: str, tmp_path: Path) -> None:
    s3 = s3_client(endpoint)
    s3.create_bucket(Bucket="lamina-code")
    digest, _path = package(tmp_path, 1000)
    s3.put_object(Bucket="lamina-code", Key=f"{digest}.zip", Body=b"not those bytes")
    cache = CodeCache(
        tmp_path / "cache", S3Source("lamina-code", endpoint_url=endpoint, credentials=KEYS)
    )
    with pytest.raises(CodeHashMismatch):
        cache.ensure(digest)
    assert list((tmp_path / "cache").iterdir()) == []


def test_sources_are_asked_in_order_until_one_has_the_digest(endpoint: str, tmp_path: Path) -> None:
    s3_client(endpoint).create_bucket(Bucket="lamina-code")
    first = S3Source("lamina-code", "first/", endpoint_url=endpoint, credentials=KEYS)
    second = S3Source("lamina-code", "second/", endpoint_url=endpoint, credentials=KEYS)
    digest, path = package(tmp_path, 2000)
    second.publish(digest, path)
    cache = CodeCache(tmp_path / "cache", first_of([first, second]))
    assert cache.ensure(digest).read_bytes() == path.read_bytes()
    with pytest.raises(ResourceNotFound, match=r"first/.*second/"):
        cache.ensure("c" * 64)


def test_a_bucket_url_must_be_s3() -> None:
    with pytest.raises(ValueError, match="s3://bucket"):
        S3Source.from_url("http://example.invalid/bucket", client=object())
