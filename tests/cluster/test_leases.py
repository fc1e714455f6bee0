"""Leases: each node with environments holds Ray resources sized to them (pure decisions;
the Ray calls are recorded). Ray's own view of them is tested on the 3-node cluster
(tests/cluster/test_ray_cluster.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from lamina.cluster.autoscale import RayDemand, publish_forever
from lamina.cluster.demand import MIB, Demand, DemandMonitor, NodeLoad
from lamina.cluster.leases import NodeLeases, lease_mb, wanted
from tests.cluster.test_demand import FakePlacement, View


def load(node: str, capacity_mb: int, used_mb: int, alive: bool = True) -> NodeLoad:
    return NodeLoad(node, capacity_mb, used_mb, 2.0, 0, 0, alive)


class Ray:
    """Records the leases taken and released, as Ray's calls would make them."""

    def __init__(self) -> None:
        self.live: dict[int, tuple[str, dict[str, float]]] = {}
        self.log: list[str] = []
        self._next = 0

    def take(self, node: str, bundle: dict[str, float]) -> int:
        self._next += 1
        self.live[self._next] = (node, bundle)
        self.log.append(f"take {node}")
        return self._next

    def release(self, handle: int) -> None:
        node, _ = self.live.pop(handle)
        self.log.append(f"release {node}")

    def held(self) -> dict[str, dict[str, float]]:
        return {node: bundle for node, bundle in self.live.values()}


def test_a_lease_is_the_memory_in_use_rounded_up_to_a_bucket_and_capped_at_capacity() -> None:
    assert lease_mb(0, 2048) == 0
    assert lease_mb(1, 2048) == 256
    assert lease_mb(256, 2048) == 256
    assert lease_mb(257, 2048) == 512
    assert lease_mb(2000, 2048) == 2048
    assert lease_mb(3000, 2048) == 2048  # never more than the node has: it would never fit
    assert lease_mb(100, 2048, bucket_mb=64) == 128
    demand = Demand((load("a", 2048, 300), load("b", 2048, 0), load("c", 2048, 10, False)), 0, 0)
    assert wanted(demand) == {"a": 512}  # b has nothing; c is gone


def test_leases_change_only_when_a_nodes_bucket_does_new_before_old() -> None:
    ray = Ray()
    leases = NodeLeases(ray.take, ray.release, lambda node: "lamina_memory_mb")
    assert leases.update(Demand((load("a", 2048, 128), load("b", 2048, 0)), 0, 0))
    assert ray.held() == {"a": {"lamina_memory_mb": 256.0}}
    # More memory within the same bucket: no GCS round trip.
    assert not leases.update(Demand((load("a", 2048, 200), load("b", 2048, 0)), 0, 0))
    # A new bucket: the new lease is taken before the old one goes (never idle between).
    ray.log.clear()
    assert leases.update(Demand((load("a", 2048, 300), load("b", 2048, 1)), 0, 0))
    assert ray.log == ["take a", "release a", "take b"]
    assert ray.held() == {"a": {"lamina_memory_mb": 512.0}, "b": {"lamina_memory_mb": 256.0}}
    # Environments gone on a, node b lost: both leases go; a node is idle to Ray again.
    assert leases.update(Demand((load("a", 2048, 0), load("b", 2048, 1, alive=False)), 0, 0))
    assert ray.held() == {}
    assert not leases.update(Demand((), 0, 0))


def test_a_node_without_a_declared_capacity_is_leased_in_rays_memory_bytes() -> None:
    ray = Ray()
    NodeLeases(ray.take, ray.release).update(Demand((load("a", 8192, 1000),), 0, 0))
    assert ray.held() == {"a": {"memory": 1024.0 * MIB}}


def test_the_publisher_loop_keeps_the_leases_and_releases_them_when_cancelled() -> None:
    placement = FakePlacement({"a": View("a", 2048, used_mb=700)})
    ray = Ray()
    leases = NodeLeases(ray.take, ray.release)

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        taken = asyncio.Event()

        def take(node: str, bundle: dict[str, float]) -> int:  # runs in a worker thread
            loop.call_soon_threadsafe(taken.set)
            time.sleep(0.2)  # still taking when the loop is cancelled: the release waits
            return ray.take(node, bundle)

        leases._take = take
        task = asyncio.ensure_future(
            publish_forever(
                DemandMonitor(placement),
                RayDemand(lambda _bundles: None),
                leases,
                every_s=0.0,
                leases_every_s=0.0,
            )
        )
        await taken.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert ray.log == ["take a", "release a"]  # taken once (unchanged), released at the end


def test_a_release_that_fails_is_logged_and_the_other_leases_still_change(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ray = Ray()
    failing: set[int] = set()

    def release(handle: int) -> None:
        if handle in failing:
            raise RuntimeError("GCS unreachable")
        ray.release(handle)

    leases = NodeLeases(ray.take, release)
    leases.update(Demand((load("a", 2048, 100), load("b", 2048, 100)), 0, 0))
    failing.add(leases.held["a"][1])
    assert leases.update(Demand((load("a", 2048, 0), load("b", 2048, 0)), 0, 0))
    assert leases.held == {} and set(ray.held()) == {"a"}  # a's is left to the job's end
    assert "releasing the lease on node a failed" in caplog.text
