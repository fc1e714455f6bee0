"""Demand for the autoscaler: node load, refused cold starts, Ray bundles, /metrics text."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

from lamina.cluster.autoscale import RayDemand, publish_forever
from lamina.cluster.demand import (
    CAPACITY_RESOURCE,
    MIB,
    Demand,
    DemandMonitor,
    NodeLoad,
    UnmetWindow,
    nodes_wanted,
    resource_bundles,
    snapshot,
)
from lamina.metrics.prometheus import Gauges, render


@dataclass
class View:
    """Shaped like the placement's node view."""

    node_id: str
    capacity_mb: int
    cpus: float = 2.0
    alive: bool = True
    used_mb: int = 0
    busy: int = 0
    idle: dict[str, int] = field(default_factory=dict)


@dataclass
class FakePlacement:
    nodes: dict[str, View]
    unmet: int = 0
    unmet_mb: int = 0


def load(node_id: str, capacity: int, used: int, alive: bool = True) -> NodeLoad:
    return NodeLoad(node_id, capacity, used, 2.0, 0, 0, alive)


def test_refused_cold_starts_are_pending_for_the_window_only() -> None:
    window = UnmetWindow(window_s=60)
    window.refused(100.0, 512)
    window.refused(130.0, 256)
    assert window.pending(130.0) == (512, 256)
    assert window.pending(161.0) == (256,)  # the first is older than a minute now
    assert window.pending(191.0) == ()


def test_running_totals_become_refusals_at_the_average_size() -> None:
    window = UnmetWindow(window_s=60)
    window.observe(10.0, 0, 0)
    window.observe(11.0, 3, 1000)  # three refusals since: 334 + 333 + 333 MB
    assert sorted(window.pending(11.0)) == [333, 333, 334]
    window.observe(12.0, 3, 1000)  # nothing new
    assert len(window.pending(12.0)) == 3


def test_a_snapshot_has_every_nodes_load_and_the_pending_demand() -> None:
    placement = FakePlacement(
        {
            "b": View("b", 4096, used_mb=1024, busy=1, idle={"f:1": 2, "g:1": 1}),
            "a": View("a", 2048, alive=False),
        }
    )
    monitor = DemandMonitor(placement)
    placement.unmet, placement.unmet_mb = 2, 1024
    demand = monitor.sample(50.0)
    assert [n.node_id for n in demand.nodes] == ["a", "b"]
    b = demand.nodes[1]
    assert (b.capacity_mb, b.used_mb, b.busy, b.idle_environments, b.free_mb) == (
        4096,
        1024,
        1,
        3,
        3072,
    )
    assert demand.capacity_mb == 4096  # the dead node's capacity is not counted
    assert (demand.pending_cold_starts, demand.pending_mb) == (2, 1024)
    assert monitor.sample(200.0).pending_cold_starts == 0


def test_bundles_hold_the_memory_in_use_and_pack_the_pending_onto_node_sized_bins() -> None:
    demand = Demand(
        (load("a", 4096, 3000), load("b", 4096, 0), load("c", 4096, 500, alive=False)),
        pending_cold_starts=4,
        pending_mb=5120,
        pending_sizes_mb=(2048, 1024, 1024, 1024),
    )
    bundles = resource_bundles(demand)
    # In use: 3000 MB on a (b holds nothing, c is gone); pending: 2048+1024+1024 in one
    # node-sized bin, 1024 in another.
    assert [b["memory"] / MIB for b in bundles] == [4096, 3000, 1024]
    assert all(set(b) == {"memory"} for b in bundles)


def test_bundles_can_be_written_in_the_nodes_declared_capacity_resource() -> None:
    demand = Demand((load("a", 4096, 1000),), 1, 512, (512,))
    assert resource_bundles(demand, resource=CAPACITY_RESOURCE) == [
        {"lamina_memory_mb": 1000.0},
        {"lamina_memory_mb": 512.0},
    ]
    sent: list[list[dict[str, float]]] = []
    RayDemand(sent.append, resource=lambda: CAPACITY_RESOURCE).publish(demand)
    assert sent == [[{"lamina_memory_mb": 1000.0}, {"lamina_memory_mb": 512.0}]]


def test_no_demand_asks_for_nothing_and_a_huge_environment_is_still_asked_for() -> None:
    assert resource_bundles(Demand((load("a", 4096, 0),), 0, 0)) == []
    huge = Demand((load("a", 4096, 0),), 1, 10240, (10240,))
    assert resource_bundles(huge) == [{"memory": 10240.0 * MIB}]


def test_pending_without_sizes_is_split_evenly() -> None:
    demand = Demand((load("a", 1000, 0),), 3, 1500)
    assert [b["memory"] / MIB for b in resource_bundles(demand)] == [1000, 500]


def test_nodes_wanted_is_the_memory_over_a_nodes_capacity_rounded_up() -> None:
    demand = Demand((load("a", 4096, 4000), load("b", 4096, 1000)), 2, 4096)
    assert nodes_wanted(demand) == 3
    assert nodes_wanted(demand, node_capacity_mb=8192) == 2
    assert nodes_wanted(Demand((), 0, 0)) == 0


def test_demand_is_published_to_ray_only_when_it_changes() -> None:
    sent: list[list[dict[str, float]]] = []
    publisher = RayDemand(sent.append)
    demand = Demand((load("a", 4096, 1024),), 0, 0)
    assert publisher.publish(demand) is True
    assert publisher.publish(demand) is False
    assert publisher.publish(Demand((load("a", 4096, 2048),), 0, 0)) is True
    assert [[b["memory"] / MIB for b in s] for s in sent] == [[1024], [2048]]


def test_the_scrape_shows_each_nodes_load_and_the_pending_demand() -> None:
    window = UnmetWindow()
    window.refused(0.0, 512)
    demand = snapshot(
        [View("node-1", 4096, used_mb=1536, busy=2, idle={"k": 1}), View("node-2", 2048)],
        window,
        1.0,
    )
    text = render({}, Gauges({}, {}, cluster=demand))
    samples = {
        (s.name, s.labels.get("node", "")): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("lamina_cluster_node_up", "node-1")] == 1
    assert samples[("lamina_cluster_node_memory_capacity_bytes", "node-1")] == 4096 * MIB
    assert samples[("lamina_cluster_node_memory_used_bytes", "node-1")] == 1536 * MIB
    assert samples[("lamina_cluster_node_busy", "node-1")] == 2
    assert samples[("lamina_cluster_node_idle_environments", "node-1")] == 1
    assert samples[("lamina_cluster_node_memory_used_bytes", "node-2")] == 0
    assert samples[("lamina_cluster_pending_cold_starts", "")] == 1
    assert samples[("lamina_cluster_pending_memory_bytes", "")] == 512 * MIB


def test_a_single_machine_scrape_has_no_cluster_families() -> None:
    assert "lamina_cluster" not in render({}, Gauges({}, {}))


def test_the_publisher_loop_samples_publishes_and_survives_a_failed_publish() -> None:
    placement = FakePlacement({"a": View("a", 4096, used_mb=512)})
    sent: list[list[dict[str, float]]] = []
    failures = [RuntimeError("GCS unreachable")]

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        published = asyncio.Event()

        def send(bundles: list[dict[str, float]]) -> None:  # runs in a worker thread
            if failures:
                raise failures.pop()
            sent.append(bundles)
            loop.call_soon_threadsafe(published.set)

        task = asyncio.ensure_future(
            publish_forever(DemandMonitor(placement), RayDemand(send), every_s=0.0)
        )
        await published.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(asyncio.wait_for(scenario(), 30))
    assert failures == []  # the first publish failed and was retried
    assert sent[0] == [{"memory": 512.0 * MIB}]
