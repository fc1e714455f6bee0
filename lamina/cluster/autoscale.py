"""Hand Lamina's demand to Ray's autoscaler (thin driver over :mod:`lamina.cluster.demand`).

Every few seconds the control plane samples its placement and, when the shapes changed,
calls ``ray.autoscaler.sdk.request_resources(bundles=...)``: Ray's autoscaler (VMs with
``ray up``, or KubeRay's autoscaler sidecar) then keeps enough nodes to hold the memory in
use and adds nodes for cold starts that found no room. The request is a standing target,
replaced by the next call; when the pending window empties it shrinks back to what is in
use, and Ray's idle timeout may remove nodes (each drains first: :mod:`.drain`).

Ray is imported lazily, inside :func:`request_resources`: this module is only used
in cluster mode, where the control plane has already joined the Ray cluster.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from lamina.cluster.demand import RAY_MEMORY, Demand, DemandMonitor, resource_bundles
from lamina.cluster.leases import NodeLeases

__all__ = ["RayDemand", "publish_forever", "request_resources"]

log = logging.getLogger("lamina.cluster.autoscale")

Bundles = list[dict[str, float]]
PUBLISH_EVERY_S = 5.0
# A cold start on an idle node makes it busy in Ray's eyes within this long: well inside
# any idle timeout (Ray's default is 60 s); from then on the raylet refuses the autoscaler's
# idle-termination drain of the node.
LEASES_EVERY_S = 1.0


def request_resources(bundles: Bundles) -> None:
    """Ray's own call: replace the cluster's standing resource request with ``bundles``."""
    from ray.autoscaler.sdk import request_resources as ray_request

    ray_request(bundles=bundles)


class RayDemand:
    """Publishes a demand's bundles, only when they change (each call is a GCS write).

    ``resource`` names the Ray resource the bundles are written in (or says it when
    called): ``lamina_memory_mb`` when the nodes declare it, else ``memory``.
    """

    def __init__(
        self,
        send: Callable[[Bundles], None] = request_resources,
        resource: str | Callable[[], str] = RAY_MEMORY,
    ) -> None:
        self._send = send
        self._resource = resource
        self.last: Bundles | None = None

    def publish(self, demand: Demand) -> bool:
        """Send the bundles of ``demand`` if they differ from the last sent; True if sent."""
        resource = self._resource if isinstance(self._resource, str) else self._resource()
        bundles = resource_bundles(demand, resource=resource)
        if bundles == self.last:
            return False
        self._send(bundles)
        self.last = bundles
        log.info(
            "autoscaler demand: %d bundle(s), %d MB in use, %d cold start(s) pending",
            len(bundles),
            demand.used_mb,
            demand.pending_cold_starts,
        )
        return True


async def publish_forever(
    monitor: DemandMonitor,
    publisher: RayDemand,
    leases: NodeLeases[Any] | None = None,
    *,
    every_s: float = PUBLISH_EVERY_S,
    leases_every_s: float = LEASES_EVERY_S,
    clock: Callable[[], float] = time.time,
) -> None:
    """Sample and publish until cancelled: the demand every ``every_s``, the nodes' leases
    (:mod:`.leases`) every ``leases_every_s``; each is sent only when it changed. A failed
    publish is logged and retried."""
    next_demand = 0.0
    try:
        while True:
            now = clock()
            demand = monitor.sample(now)
            if now >= next_demand:
                next_demand = now + every_s
                try:
                    await asyncio.to_thread(publisher.publish, demand)
                except Exception:
                    # The autoscaler is advice: Lamina keeps serving with the nodes it has.
                    log.exception("publishing demand to Ray's autoscaler failed; retrying")
            if leases is not None:
                try:
                    await asyncio.to_thread(leases.update, demand)
                except Exception:
                    log.exception("updating the nodes' leases in Ray failed; retrying")
            await asyncio.sleep(leases_every_s if leases is not None else every_s)
    finally:
        if leases is not None:
            # Ray drops them with the control plane's job anyway; this is sooner.
            await asyncio.to_thread(_release_all, leases)


def _release_all(leases: NodeLeases[Any]) -> None:
    try:
        leases.release_all()
    except Exception:  # Ray may be gone already: its job's leases go with it
        log.exception("releasing the nodes' leases failed")
