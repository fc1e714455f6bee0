"""Where a node agent's :class:`~lamina.cluster.codecache.CodeCache` gets packages from.

Each source is a callable ``fetch(sha256) -> chunks`` that streams the bytes (1 MiB at a
time) and raises :class:`~lamina.errors.ResourceNotFound` when it has no such digest; the
cache verifies the hash, so a source is trusted for availability, never for integrity.

- :class:`ControlPlaneSource`: ``GET /lamina/v1/cluster/code/{sha256}`` on the control
  plane, signed with SigV4 like every other ``/lamina/v1`` call (the agent holds one of
  the control plane's access keys; there is no unauthenticated code port).
- :class:`S3Source`: ``s3://<bucket>/<prefix><sha256>.zip`` through any S3-compatible
  endpoint (AWS S3, MinIO, Lamina's own embedded S3), with boto3. :meth:`S3Source.publish`
  puts a package there (the control plane does it when a bucket is configured).
- :func:`first_of`: try sources in order (a bucket first, the control plane as fallback).
"""

from __future__ import annotations

import http.client
import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lamina.api.signed_endpoint import SignedEndpoint
from lamina.cluster.codecache import Chunks, CodeFetchError, Fetch, check_digest
from lamina.errors import ResourceNotFound

__all__ = ["CODE_ROUTE", "ControlPlaneSource", "S3Source", "first_of"]

log = logging.getLogger("lamina.cluster.codesource")

CODE_ROUTE = "/lamina/v1/cluster/code/"
CHUNK = 1024 * 1024


class ControlPlaneSource:
    """Packages from the control plane at ``endpoint`` (``http://host:port``)."""

    def __init__(
        self,
        endpoint: str,
        credentials: tuple[str, str],
        region: str,
        *,
        timeout_s: float = 60.0,
    ) -> None:
        self._endpoint = SignedEndpoint.parse(endpoint, credentials, region)
        self.endpoint = endpoint
        self._timeout_s = timeout_s

    def __call__(self, sha256: str) -> Chunks:
        path = CODE_ROUTE + check_digest(sha256)
        headers = self._endpoint.signed("GET", path)
        conn = self._endpoint.connection(self._timeout_s)
        try:
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
        except OSError as exc:
            conn.close()
            raise CodeFetchError(
                f"Could not reach the control plane at {self.endpoint} for code package "
                f"{sha256}: {exc}"
            ) from exc
        if resp.status == 404:
            conn.close()
            raise ResourceNotFound(f"Code package not found on the control plane: {sha256}")
        if resp.status != 200:
            body = resp.read(4096).decode("utf-8", "replace")
            conn.close()
            raise CodeFetchError(
                f"The control plane answered {resp.status} for code package {sha256}: {body}"
            )
        return _stream(resp, conn)


def _stream(resp: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> Iterator[bytes]:
    try:
        while chunk := resp.read(CHUNK):
            yield chunk
    finally:
        conn.close()


class S3Source:
    """Packages stored as ``<prefix><sha256>.zip`` in ``bucket`` of an S3-compatible
    endpoint (``endpoint_url`` None means AWS's own, found by boto3 as usual)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str = "us-east-1",
        credentials: tuple[str, str] | None = None,
        client: Any = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix
        if client is None:
            # boto3 is a dependency of Lamina, but slow to import: only when configured.
            import boto3
            from botocore.config import Config

            keys = (
                {}
                if credentials is None
                else {"aws_access_key_id": credentials[0], "aws_secret_access_key": credentials[1]}
            )
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
                **keys,
            )
        self._client = client

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> S3Source:
        """A source for ``s3://bucket/prefix/`` (the prefix ends with ``/`` if not empty)."""
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"a code bucket is s3://bucket[/prefix/], not {url!r}")
        prefix = parts.path.lstrip("/")
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return cls(parts.netloc, prefix, **kwargs)

    def key(self, sha256: str) -> str:
        return f"{self.prefix}{check_digest(sha256)}.zip"

    def __call__(self, sha256: str) -> Chunks:
        key = self.key(sha256)
        try:
            answer = self._client.get_object(Bucket=self.bucket, Key=key)
        except self._client.exceptions.NoSuchKey:
            raise ResourceNotFound(
                f"Code package not found in s3://{self.bucket}/{key}: {sha256}"
            ) from None
        except Exception as exc:
            raise CodeFetchError(
                f"Could not get code package {sha256} from s3://{self.bucket}/{key}: {exc}"
            ) from exc
        body = answer["Body"]
        return _s3_stream(body)

    def publish(self, sha256: str, path: Path) -> bool:
        """Upload the package at ``path`` unless the bucket has it; True if uploaded."""
        key = self.key(sha256)
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
            return False
        except self._client.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey"):
                raise
        with path.open("rb") as data:
            self._client.put_object(
                Bucket=self.bucket, Key=key, Body=data, ContentType="application/zip"
            )
        return True


def _s3_stream(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK)
    finally:
        body.close()


def first_of(sources: Sequence[Fetch]) -> Fetch:
    """A source asking each of ``sources`` in turn until one has the digest.

    Only "not found" moves on; a source that fails otherwise fails the fetch (a broken
    bucket should be seen, not hidden behind a slower fallback)."""
    if not sources:
        raise ValueError("first_of needs at least one source")

    def fetch(sha256: str) -> Chunks:
        missing: list[str] = []
        for source in sources:
            try:
                return source(sha256)
            except ResourceNotFound as exc:
                missing.append(exc.message)
        raise ResourceNotFound("; ".join(missing))

    return fetch
