"""The control plane's cluster parts, built by the composition root for ``--cluster``.

Imports Ray (through :mod:`lamina.cluster.fleet`): :mod:`lamina.server` imports this
module only when ``Settings.cluster`` is set, so one machine never loads Ray.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lamina.cluster.demand import DemandMonitor
from lamina.cluster.drain import recent_window
from lamina.cluster.placement import Placement
from lamina.cluster.router import ClusterRouter
from lamina.cluster.status import ClusterStatus
from lamina.cluster.views import NodeViews
from lamina.config import Settings
from lamina.errors import ConfigError
from lamina.logs.store import LogStore
from lamina.models.environments import EnvironmentsView
from lamina.models.function import FunctionConfig
from lamina.scheduler.driver import Scheduler
from lamina.scheduler.report import RecordSink
from lamina.services.iam.credentials import load_secret

if TYPE_CHECKING:
    from lamina.cluster.fleet import Fleet

LOOPBACK_PREFIX = "127."
# Ray's driver replaces a loopback cluster address with this host's interface address (a
# convenience for remote drivers) unless this is "0"; a loopback cluster listens on
# 127.0.0.1 only, so the rewritten address would not answer. Read when Ray is imported.
RAY_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def is_loopback(address: str) -> bool:
    host = address.rpartition(":")[0] or address
    return host.startswith(LOOPBACK_PREFIX) or host == "localhost"


@dataclass
class Cluster:
    router: ClusterRouter
    fleet: Fleet
    status: ClusterStatus
    views: NodeViews
    _autoscale: asyncio.Task[None] | None = None

    def publish_demand(self, demand: DemandMonitor) -> None:
        """Hand the nodes' load and unmet demand to Ray's autoscaler every few seconds
        (:mod:`lamina.cluster.autoscale`)."""
        from lamina.cluster.autoscale import RayDemand, publish_forever
        from lamina.cluster.leases import NodeLeases, ray_lease, ray_release

        publisher = RayDemand(resource=self.fleet.capacity_resource)
        # Each node with environments holds a lease, so Ray sees it busy (leases.py).
        leases = NodeLeases(ray_lease, ray_release, self.fleet.resource_of)
        loop = asyncio.get_running_loop()
        self._autoscale = loop.create_task(publish_forever(demand, publisher, leases))

    async def environments(self) -> EnvironmentsView:
        """The environments on every node, named by node (the control plane runs none)."""
        return await self.views.environments()

    async def close(self) -> None:
        if self._autoscale is not None:
            self._autoscale.cancel()
            await asyncio.gather(self._autoscale, return_exceptions=True)
        await self.fleet.close()


async def open_cluster(
    settings: Settings,
    scheduler: Scheduler,
    placement: Placement,
    record: RecordSink,
    logs: LogStore,
    package: Callable[[str], Path],
    api_port: int,
    credentials: Callable[[FunctionConfig], tuple[str, str, str]],
) -> Cluster:
    """Join the Ray cluster, attach every live node, and route the scheduler's invokes."""
    if is_loopback(settings.cluster):
        os.environ.setdefault(RAY_LOOPBACK_ENV, "0")
    try:
        from lamina.cluster.fleet import Fleet, cluster_token  # imports Ray
    except ImportError as exc:
        raise ConfigError(
            f"--cluster needs Ray ({exc}): pip install 'lamina[cluster]' on every machine"
        ) from exc

    token = cluster_token(load_secret(settings.data_dir))
    router = ClusterRouter(placement, token, record, logs, package)
    router.on_throttle = scheduler.on_throttle
    router.credentials = credentials
    router.bus = scheduler.bus
    router.rewarm_window_s = recent_window(settings.idle_reclaim_s)
    # Ray binds to the host's interface unless told; a loopback control plane keeps Ray
    # there too (tests, one-host trials). Otherwise Ray picks the node's address.
    node_ip = "127.0.0.1" if settings.host.startswith(LOOPBACK_PREFIX) else None
    fleet = Fleet(settings.cluster, router, token, settings.host, api_port, node_ip)
    router.on_lost = fleet.lost
    await fleet.start()
    scheduler.route = router.invoke
    scheduler.drain_elsewhere = router.drain
    views = NodeViews(router, max_age_s=settings.cluster_view_max_age_s)
    return Cluster(router, fleet, ClusterStatus(router), views)
