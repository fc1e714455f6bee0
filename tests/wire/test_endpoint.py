"""The one rule for an API endpoint's address, and both of its readers keeping to it."""

from __future__ import annotations

import pytest

from lamina.api.signed_endpoint import SignedEndpoint
from lamina.cluster.api_relay import api_address
from lamina.wire.endpoint import host_and_port


def test_an_endpoint_is_a_host_and_a_port_that_defaults_to_80() -> None:
    assert host_and_port("http://10.0.0.1:9000") == ("10.0.0.1", 9000, "10.0.0.1:9000")
    assert host_and_port("http://control.internal") == ("control.internal", 80, "control.internal")
    assert host_and_port("http://[::1]:9000/") == ("::1", 9000, "[::1]:9000")


@pytest.mark.parametrize(
    "url", ["", "https://10.0.0.1:9000", "http://", "10.0.0.1:9000", "http://10.0.0.1:port"]
)
def test_anything_else_is_refused_by_both_readers(url: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        host_and_port(url)
    with pytest.raises(ValueError, match="endpoint"):
        SignedEndpoint.parse(url, ("AKID", "secret"), "us-east-1")
    assert api_address(url) is None


def test_both_readers_agree_on_a_good_endpoint() -> None:
    endpoint = SignedEndpoint.parse("http://127.0.0.1:8080", ("AKID", "secret"), "us-east-1")
    assert (endpoint.host, endpoint.port, endpoint.netloc) == ("127.0.0.1", 8080, "127.0.0.1:8080")
    assert api_address(endpoint.url) == (endpoint.host, endpoint.port)
