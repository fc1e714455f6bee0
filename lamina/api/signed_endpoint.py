"""Lamina's API as a client reaches it: ``http://host:port``, every request signed with
SigV4 as ``lambda`` (:func:`~lamina.api.sigv4.sign_headers`).

The ``lamina`` commands' :class:`~lamina.client.http.Client` and a node agent fetching code
from the control plane (:class:`~lamina.cluster.codesource.ControlPlaneSource`) both speak
through one.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass

from lamina.api.sigv4 import sign_headers
from lamina.wire.endpoint import host_and_port


@dataclass(frozen=True, slots=True)
class SignedEndpoint:
    url: str
    host: str
    port: int
    netloc: str
    credentials: tuple[str, str]  # (access key id, secret)
    region: str

    @classmethod
    def parse(cls, url: str, credentials: tuple[str, str], region: str) -> SignedEndpoint:
        """The endpoint at ``url``; ValueError unless it looks like ``http://host[:port]``."""
        host, port, netloc = host_and_port(url)
        return cls(url, host, port, netloc, credentials, region)

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        """A new connection (not yet open) for one request."""
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def signed(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> dict[str, str]:
        """``headers`` with ``Host`` and the SigV4 headers for this request, signed now."""
        key_id, secret = self.credentials
        out = {**(headers or {}), "Host": self.netloc}
        out.update(
            sign_headers(
                method,
                path,
                out,
                body,
                access_key=key_id,
                secret=secret,
                region=self.region,
                service="lambda",
                amz_date=time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
            )
        )
        return out
