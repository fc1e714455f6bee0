"""Leases: a node's environments hold Ray resources too, so Ray sees the node as busy.

Ray's autoscaler (v2, KubeRay's included, and v1 through the same GCS state) removes a
worker node once it has been *idle* for its idle timeout. The raylet reports a node idle
while no Ray resource there is in use and no Ray worker is leased (actors, running tasks).
Lamina's environments are not Ray workers, so without a lease Ray would count a node full
of warm or busy environments as idle and pick it for termination, keeping an idle one.

So the control plane holds, for every node with environments (busy, starting or warm —
warm ones hold memory until they are reclaimed), a placement group of one bundle pinned
to that node (label ``ray.io/node-id``) sized to the memory its environments hold,
rounded up to :data:`BUCKET_MB` and capped at the node's capacity. The bundle is written
in the resource the node states its capacity in (``lamina_memory_mb`` when declared, else
Ray's ``memory``), so ``ray status`` shows Lamina's memory in use per node and Ray does not
place its own work into it. A node whose environments are all gone has its lease removed
and is idle in Ray's eyes again; Ray's idle timer then starts.

Each change is a GCS round trip, so a lease changes only when a node's bucket does, from
the control plane's periodic sample (:func:`lamina.cluster.autoscale.publish_forever`),
never on the invoke path. The leases belong to the control plane's Ray job: they go when
it does (a restarted control plane takes them again within a tick).

:func:`wanted` and :class:`NodeLeases` are pure (the Ray calls are passed in);
:func:`ray_lease` and :func:`ray_release` are the calls.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from lamina.cluster.demand import MIB, RAY_MEMORY, Demand

__all__ = ["BUCKET_MB", "NODE_ID_LABEL", "NodeLeases", "lease_mb", "wanted"]

log = logging.getLogger("lamina.cluster.leases")

H = TypeVar("H")  # a lease's handle (Ray's PlacementGroup)
BUCKET_MB = 256
NODE_ID_LABEL = "ray.io/node-id"  # every Ray node carries its id under this label


def lease_mb(used_mb: int, capacity_mb: int, bucket_mb: int = BUCKET_MB) -> int:
    """The MB to lease for ``used_mb`` in use: rounded up to the bucket, at most the
    node's capacity (a lease that cannot fit would be a pending request for a new node)."""
    if used_mb <= 0 or capacity_mb <= 0:
        return 0
    return min(-(-used_mb // bucket_mb) * bucket_mb, capacity_mb)


def wanted(demand: Demand, bucket_mb: int = BUCKET_MB) -> dict[str, int]:
    """Live node → MB to lease there (nodes with nothing in use are left out)."""
    out = {}
    for node in demand.live:
        mb = lease_mb(node.used_mb, node.capacity_mb, bucket_mb)
        if mb:
            out[node.node_id] = mb
    return out


def _units(resource: str) -> int:
    return MIB if resource == RAY_MEMORY else 1


class NodeLeases(Generic[H]):
    """The leases held now, changed only where a node's bucket changed.

    ``take(node_id, bundle)`` makes a lease and returns its handle; ``release(handle)``
    ends one; ``resource_of(node_id)`` names the resource a node states its capacity in.
    A new lease is taken before the old one is released, so a busy node is never idle in
    between.
    """

    def __init__(
        self,
        take: Callable[[str, dict[str, float]], H],
        release: Callable[[H], None],
        resource_of: Callable[[str], str] = lambda _node: RAY_MEMORY,
        bucket_mb: int = BUCKET_MB,
    ) -> None:
        self._take, self._release, self._resource_of = take, release, resource_of
        self.bucket_mb = bucket_mb
        self.held: dict[str, tuple[int, H]] = {}  # node id → (MB, handle)
        # Both run in worker threads: a release at shutdown waits for an update under way.
        self._lock = threading.Lock()

    def update(self, demand: Demand) -> bool:
        """Make the leases match ``demand``; True if any changed."""
        with self._lock:
            return self._update(demand)

    def _update(self, demand: Demand) -> bool:
        want = wanted(demand, self.bucket_mb)
        changed = False
        for node_id, mb in sorted(want.items()):
            old = self.held.get(node_id)
            if old is not None and old[0] == mb:
                continue
            resource = self._resource_of(node_id)
            self.held[node_id] = (mb, self._take(node_id, {resource: float(mb * _units(resource))}))
            if old is not None:
                self._drop(node_id, old[1])
            changed = True
            log.info("lease on node %s: %d MB of %s", node_id, mb, resource)
        for node_id in sorted(set(self.held) - set(want)):
            self._drop(node_id, self.held.pop(node_id)[1])
            changed = True
            log.info("lease on node %s released: no environments there", node_id)
        return changed

    def release_all(self) -> None:
        with self._lock:
            for node_id in sorted(self.held):
                self._drop(node_id, self.held.pop(node_id)[1])

    def _drop(self, node_id: str, handle: H) -> None:
        """Release one lease; a failure is logged, not raised: the other nodes' leases
        still change (a lease left behind goes with the control plane's Ray job)."""
        try:
            self._release(handle)
        except Exception:  # Ray raises many types; the GCS may be away for a moment
            log.exception("releasing the lease on node %s failed", node_id)


def ray_lease(node_id: str, bundle: dict[str, float]) -> Any:
    """Ray's call: a placement group of ``bundle`` on node ``node_id`` (not waited for)."""
    from ray.util.placement_group import placement_group

    return placement_group(
        [bundle], strategy="STRICT_PACK", bundle_label_selector=[{NODE_ID_LABEL: node_id}]
    )


def ray_release(handle: Any) -> None:
    """Ray's call: remove a lease's placement group."""
    from ray.util.placement_group import remove_placement_group

    remove_placement_group(handle)
