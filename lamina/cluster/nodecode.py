"""A node worker's code: its code store, filled by pulling through a :class:`CodeCache`.

The worker unpacks packages from its own :class:`~lamina.store.code.CodeStore`
(``<node data>/code``); the cache writes into that store's ``zips/`` folder, so a package
pulled here is one the store can unpack. Before an invoke needs a package (or a layer)
the node does not have, :meth:`NodeCode.ensure` pulls the missing ones in parallel, off
the event loop, one fetch per digest however many invokes wait for it.

Where from is configured at the edge, once, by :class:`PullConfig` (environment of the
worker, as the agent starts it):

- ``LAMINA_CLUSTER_CODE_BUCKET``: ``s3://bucket/prefix/`` — asked first when set;
- ``LAMINA_CLUSTER_CODE_ENDPOINT``: the bucket's S3-compatible endpoint (default: AWS's);
- ``LAMINA_CLUSTER_CODE_CACHE_MB``: the cache's bound for idle packages (default 2048);
- the control plane's ``/lamina/v1/cluster/code`` route, always, as the fallback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping, Set
from dataclasses import dataclass

from lamina.cluster.codecache import DEFAULT_MAX_BYTES, CodeCache, Fetch
from lamina.cluster.codesource import ControlPlaneSource, S3Source, first_of
from lamina.errors import ConfigError
from lamina.store.code import CodeStore

__all__ = ["NodeCode", "PullConfig", "pull_sources"]

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class PullConfig:
    """Where a node pulls packages from (parsed once, at the worker's start)."""

    control_plane: str  # http://host:port of the control plane's API
    bucket_url: str = ""
    bucket_endpoint: str | None = None
    cache_bytes: int = DEFAULT_MAX_BYTES

    @classmethod
    def from_env(cls, environ: Mapping[str, str], control_plane: str) -> PullConfig:
        bucket = environ.get("LAMINA_CLUSTER_CODE_BUCKET", "")
        if bucket and not bucket.startswith("s3://"):
            raise ConfigError(
                f"LAMINA_CLUSTER_CODE_BUCKET must look like s3://bucket/prefix/, not {bucket!r}"
            )
        raw_mb = environ.get("LAMINA_CLUSTER_CODE_CACHE_MB", "")
        try:
            cache_mb = int(raw_mb) if raw_mb else DEFAULT_MAX_BYTES // MIB
        except ValueError:
            raise ConfigError(
                f"LAMINA_CLUSTER_CODE_CACHE_MB must be a number of MB, not {raw_mb!r}"
            ) from None
        return cls(
            control_plane,
            bucket,
            environ.get("LAMINA_CLUSTER_CODE_ENDPOINT") or None,
            cache_mb * MIB,
        )


def pull_sources(config: PullConfig, credentials: tuple[str, str], region: str) -> Fetch:
    """The bucket (when configured), then the control plane."""
    control = ControlPlaneSource(config.control_plane, credentials, region)
    if not config.bucket_url:
        return control
    bucket = S3Source.from_url(config.bucket_url, endpoint_url=config.bucket_endpoint)
    return first_of([bucket, control])


class NodeCode:
    """Pulls what a node's store lacks; ``in_use`` names digests never evicted."""

    def __init__(
        self,
        store: CodeStore,
        fetch: Fetch,
        *,
        cache_bytes: int = DEFAULT_MAX_BYTES,
        in_use: Callable[[], Set[str]] | None = None,
    ) -> None:
        self.store = store
        self.cache = CodeCache(store.root / "zips", fetch, max_bytes=cache_bytes, protect=in_use)

    def missing(self, digests: Iterable[str]) -> list[str]:
        return sorted({d for d in digests if not self.store.has(d)})

    async def ensure(self, digests: Iterable[str]) -> None:
        """Pull every digest the store lacks (in parallel); raises the first failure."""
        missing = self.missing(digests)
        if missing:
            await asyncio.gather(*(asyncio.to_thread(self.cache.ensure, d) for d in missing))
