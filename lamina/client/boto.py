"""boto3 clients for Lamina's services, signed the way the ``lamina`` CLI signs.

Credentials are the first pair of ``LAMINA_ACCESS_KEYS`` or the documented dev pair
(:meth:`Settings.credentials`, as :mod:`lamina.client.http` uses), the region is
``LAMINA_REGION``; every service is served on the one endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

from lamina.client.http import Client as LaminaClient
from lamina.config import Settings


@dataclass
class BotoClients:
    """One cached boto3 client per service name: ``clients("lambda")``."""

    endpoint: str
    region: str
    credentials: tuple[str, str]
    _cache: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def for_settings(cls, endpoint: str, settings: Settings) -> BotoClients:
        return cls(endpoint, settings.region, settings.credentials())

    def lamina(self) -> LaminaClient:
        """Lamina's own API (``/lamina/v1``: the APIs that serve a stack's routes)."""
        return LaminaClient(
            self.endpoint, timeout=300, credentials=self.credentials, region=self.region
        )

    def __call__(self, service: str) -> Any:
        client = self._cache.get(service)
        if client is None:
            config = Config(
                retries={"max_attempts": 2, "mode": "standard"},
                connect_timeout=10,
                read_timeout=300,
                s3={"addressing_style": "path"},
            )
            client = boto3.session.Session().client(
                service,
                endpoint_url=self.endpoint,
                region_name=self.region,
                aws_access_key_id=self.credentials[0],
                aws_secret_access_key=self.credentials[1],
                config=config,
            )
            self._cache[service] = client
        return client
