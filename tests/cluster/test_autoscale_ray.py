"""Lamina's demand reaches a real Ray cluster's autoscaler request (on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from lamina.cluster.autoscale import RayDemand
from lamina.cluster.demand import MIB, Demand, NodeLoad

pytestmark = pytest.mark.slow
ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    # Ray gives its raylet a fixed 30 s to come up; on a loaded 2-core machine the first start
    # (cold imports, a fresh session directory) has missed that once, so try a second time.
    for attempt in (1, 2):
        try:
            ray.init(
                address="local",
                _node_ip_address="127.0.0.1",
                include_dashboard=False,
                num_cpus=1,
                log_to_driver=False,
            )
            break
        except Exception:
            ray.shutdown()
            if attempt == 2:
                raise
    try:
        yield
    finally:
        ray.shutdown()


def standing_request() -> list[dict[str, float]]:
    """The bundles Ray's autoscaler was asked to hold, read back from the GCS."""
    from ray.autoscaler.v2.utils import is_autoscaler_v2

    if is_autoscaler_v2():
        from ray.autoscaler.v2.sdk import get_cluster_resource_state
        from ray.experimental.internal_kv import internal_kv_get_gcs_client

        state = get_cluster_resource_state(internal_kv_get_gcs_client())  # type: ignore[no-untyped-call]
        return [
            dict(b.request.resources_bundle)
            for c in state.cluster_resource_constraints
            for b in c.resource_requests
            for _ in range(b.count)
        ]
    from ray._private.ray_constants import AUTOSCALER_RESOURCE_REQUEST_CHANNEL
    from ray.experimental.internal_kv import _internal_kv_get

    raw = _internal_kv_get(AUTOSCALER_RESOURCE_REQUEST_CHANNEL)
    return [] if raw is None else list(json.loads(raw))


def test_memory_in_use_and_refused_cold_starts_become_the_standing_request(
    local_ray: None,
) -> None:
    node = NodeLoad("n1", 4096, 1024, 2.0, 1, 0, True)
    publisher = RayDemand()
    assert publisher.publish(Demand((node,), 1, 512, (512,)))
    assert standing_request() == [{"memory": 1024.0 * MIB}, {"memory": 512.0 * MIB}]
    # The burst is over: the request shrinks back to what is in use.
    assert publisher.publish(Demand((node,), 0, 0))
    assert standing_request() == [{"memory": 1024.0 * MIB}]
