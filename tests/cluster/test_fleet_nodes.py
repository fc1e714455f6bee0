"""What the fleet reads from ``ray.nodes()``: each node's capacity for environments and
the Ray resource it is stated in (the leases' and the autoscaler's bundles' resource)."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")

from lamina.cluster.fleet import RayNode, bundle_resource, parse_node  # imports Ray


def test_a_node_states_its_capacity_in_lamina_memory_mb_or_rays_memory() -> None:
    declared = parse_node(
        {"NodeID": "a", "Alive": True, "NodeManagerAddress": "10.0.0.2",
         "Resources": {"lamina_memory_mb": 2048.0, "memory": 8.0 * 2**30, "CPU": 4.0}}
    )  # fmt: skip
    assert declared == RayNode("a", "10.0.0.2", True, 2048, 4.0, "lamina_memory_mb")
    plain = parse_node({"NodeID": "b", "Alive": True, "Resources": {"memory": 3.0 * 2**30}})
    assert (plain.capacity_mb, plain.resource) == (3072, "memory")


def test_bundles_are_in_lamina_memory_mb_once_a_live_node_declares_it() -> None:
    plain = RayNode("b", "h", True, 3072, 1.0, "memory")
    declared = RayNode("a", "h", True, 2048, 1.0, "lamina_memory_mb")
    assert bundle_resource([plain]) == "memory"
    assert bundle_resource([plain, declared]) == "lamina_memory_mb"
    gone = RayNode("a", "h", False, 2048, 1.0, "lamina_memory_mb")
    assert bundle_resource([plain, gone]) == "memory"
    assert bundle_resource([]) == "memory"


def test_a_node_dead_by_a_drain_is_told_from_a_lost_one() -> None:
    """Ray lists a node whose idle raylet shut down on a drain as dead at once, with the
    drain as its death reason: its worker may still be leaving (the fleet lets it)."""
    drained = parse_node({"NodeID": "a", "Alive": False, "DeathReason": 3, "Resources": {}})
    assert drained.drained and not drained.alive
    idle = parse_node({"NodeID": "a", "Alive": False, "DeathReason": 4, "Resources": {}})
    assert idle.drained
    for reason in (0, 1, 2, None):  # unspecified, ray stop, a crash, an older Ray
        lost = parse_node({"NodeID": "b", "Alive": False, "DeathReason": reason, "Resources": {}})
        assert not lost.drained
    alive = parse_node({"NodeID": "c", "Alive": True, "DeathReason": 3, "Resources": {}})
    assert not alive.drained
