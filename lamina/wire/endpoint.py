"""Where an ``http://host[:port]`` endpoint is: the one rule for Lamina's API addresses.

A client of Lamina's API (:class:`~lamina.api.signed_endpoint.SignedEndpoint`) and a node's
relay to the control plane (:mod:`lamina.cluster.api_relay`) both read an endpoint URL
the same way: plain HTTP, a host, a port that defaults to 80.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["host_and_port"]


def host_and_port(url: str) -> tuple[str, int, str]:
    """``(host, port, netloc)`` of ``url``; ValueError unless it looks like
    ``http://host[:port]`` with a numeric port."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError(f"endpoint must look like http://host:port, not {url!r}")
    try:
        port = parts.port or 80
    except ValueError:  # urlsplit's own message names no URL
        raise ValueError(f"endpoint's port is not a number: {url!r}") from None
    return parts.hostname, port, parts.netloc
