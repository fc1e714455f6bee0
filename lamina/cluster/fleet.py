"""The control plane's side of Ray: join the cluster, keep one worker per live node.

:class:`Fleet` connects to the Ray cluster as a driver, then watches ``ray.nodes()``
every :data:`WATCH_EVERY_S`: a live node without an attached worker gets the agent's
:func:`~lamina.cluster.agent.launch` task with hard node affinity (it finds the node's
running worker — a restarted control plane re-attaches — or starts one) and the router
connects to that worker; a node Ray declares dead is detached. A node's connection ending
(its worker died, or the node did) is seen at once by the router, before Ray's health
checks notice; then new invokes go elsewhere while the watch loop waits
:data:`RETRY_AFTER_S` and launches again (a worker that died is started anew).

A node Ray is draining (``ray drain-node``; Ray's autoscaler v2, KubeRay's included,
drains a node before it terminates it) is told to leave over its worker's connection (a
``leave`` frame, with Ray's deadline as the grace; Ray schedules no new task there): its
worker says it is leaving, its recently used warm environments are started again
elsewhere and its invokes finish; the node is not attached again while Ray drains it.
A node idle in Ray's eyes (no lease yet) is never listed as draining: its raylet shuts down
as it accepts the drain and Ray lists the node dead at once, with a drain as the reason.
Its worker outlives its raylet then (it asks Ray's GCS why the raylet went, and leaves),
so such a node is told to leave too and is not detached while its connection lasts
(at most the leave grace): its ``leaving`` message still rewarms its functions.

Ray is imported here and in :mod:`lamina.cluster.agent` only; nothing imports this
module unless ``lamina serve --cluster`` is used.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lamina.cluster.agent import NAMESPACE, AgentSpec, agent_name, launch
from lamina.cluster.drain import DEFAULT_LEAVE_GRACE_S, leave_grace
from lamina.cluster.router import ClusterRouter
from lamina.errors import NodeLost

log = logging.getLogger("lamina.cluster")

WATCH_EVERY_S = 0.5
# After a node's connection ended or an attach failed, wait this long before trying it
# again: Ray may still list a dead node as alive until its health checks fail (~2 s tuned).
RETRY_AFTER_S = 5.0
AGENT_START_TIMEOUT_S = 60.0
# Ray node resource a node may declare (``ray start --resources``) to say how much
# memory Lamina's environments may use there; default: Ray's own ``memory`` resource.
CAPACITY_RESOURCE = "lamina_memory_mb"
WILDCARDS = ("0.0.0.0", "::", "")
# Ray's reasons for a node's death that are a drain (NodeDeathInfo.Reason), by number and
# by name: AUTOSCALER_DRAIN_PREEMPTED, AUTOSCALER_DRAIN_IDLE.
DRAIN_DEATHS = frozenset({3, 4, "AUTOSCALER_DRAIN_PREEMPTED", "AUTOSCALER_DRAIN_IDLE"})


def cluster_token(secret: bytes) -> str:
    """The agents' shared secret, derived from the data directory's secret (stable across
    control-plane restarts, never stored on the nodes' disks)."""
    return hmac.new(secret, b"lamina-cluster-agent", hashlib.sha256).hexdigest()


@dataclass(frozen=True, slots=True)
class RayNode:
    """One entry of ``ray.nodes()``, parsed at the edge."""

    node_id: str
    host: str
    alive: bool
    capacity_mb: int
    cpus: float
    resource: str = "memory"  # the Ray resource its capacity is stated in
    drained: bool = False  # dead because Ray drained it (its worker may still be leaving)


def parse_node(raw: dict[str, Any]) -> RayNode:
    resources = raw.get("Resources") or {}
    declared = resources.get(CAPACITY_RESOURCE)
    capacity = int(declared) if declared else int(resources.get("memory", 0) // (1 << 20))
    return RayNode(
        str(raw["NodeID"]),
        str(raw.get("NodeManagerAddress", "127.0.0.1")),
        bool(raw.get("Alive")),
        capacity,
        float(resources.get("CPU", 0.0)),
        CAPACITY_RESOURCE if declared else "memory",
        not raw.get("Alive") and raw.get("DeathReason") in DRAIN_DEATHS,
    )


def bundle_resource(nodes: Iterable[RayNode]) -> str:
    """The resource the autoscaler's bundles are written in: ``lamina_memory_mb`` when the
    live nodes declare it (the autoscaler then knows how many MB a new node brings), else
    Ray's ``memory``."""
    declared = any(n.resource == CAPACITY_RESOURCE for n in nodes if n.alive)
    return CAPACITY_RESOURCE if declared else "memory"


# The agent's task: no CPUs (it waits, it does not compute), not retried (the next watch
# tick launches again), pinned to its node when submitted.
_launch = ray.remote(num_cpus=0, max_retries=0)(launch)


def _on(node_id: str) -> NodeAffinitySchedulingStrategy:
    return NodeAffinitySchedulingStrategy(node_id, soft=False)


class Fleet:
    """Keeps an attached worker on every live Ray node."""

    def __init__(
        self,
        address: str,
        router: ClusterRouter,
        token: str,
        api_host: str,
        api_port: int,
        node_ip: str | None,
    ) -> None:
        self.address = address
        self.router = router
        self._token = token
        self._api_host, self._api_port = api_host, api_port
        self._api_endpoint = ""
        self._node_ip = node_ip
        self._watch: asyncio.Task[None] | None = None
        self._attaching: set[str] = set()
        self._not_before: dict[str, float] = {}  # node id → monotonic time of next attempt
        self.nodes: dict[str, RayNode] = {}
        self.draining: dict[str, int] = {}  # node id → Ray's drain deadline (epoch ms, 0: none)
        self._told: set[str] = set()  # draining nodes whose agent was told to leave
        # Nodes dead by a drain whose worker is still connected → when first seen so.
        self._drained_since: dict[str, float] = {}
        self._drain_unreadable = False

    async def start(self) -> None:
        await asyncio.to_thread(
            ray.init,
            address=self.address,
            namespace=NAMESPACE,
            _node_ip_address=self._node_ip,
            logging_level=logging.WARNING,
            log_to_driver=False,
        )
        # Functions on other nodes reach Lamina's API here: the address this host has in
        # the Ray cluster when the API listens on every interface.
        host = self._api_host
        if host in WILDCARDS:
            host = await asyncio.to_thread(ray.util.get_node_ip_address)
        self._api_endpoint = f"http://{host}:{self._api_port}"
        await self.refresh()
        self._watch = asyncio.get_running_loop().create_task(self._watch_forever())

    async def close(self) -> None:
        """Leave the agents running (a restarted control plane re-attaches to them)."""
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        await self.router.close()
        await asyncio.to_thread(ray.shutdown)

    def lost(self, node_id: str) -> None:
        """The router lost the node's connection: give Ray time to say whether it is dead."""
        self._not_before[node_id] = time.monotonic() + RETRY_AFTER_S

    async def _watch_forever(self) -> None:
        while True:
            await asyncio.sleep(WATCH_EVERY_S)
            try:
                await self.refresh()
            except Exception:  # a bad tick must not end the watch: log it, try again
                log.exception("watching the Ray cluster's nodes failed; retrying")

    async def refresh(self) -> None:
        raw = await asyncio.to_thread(ray.nodes)
        nodes = [parse_node(n) for n in raw]
        self.nodes = {n.node_id: n for n in nodes}
        self.draining = await asyncio.to_thread(self._draining_nodes)
        self._told &= {n.node_id for n in nodes if n.alive or n.drained}
        connected = self.router.connections
        self._drained_since = {k: v for k, v in self._drained_since.items() if k in connected}
        for node in nodes:
            if not node.alive:
                if node.node_id in connected and not (node.drained and self._let_leave(node)):
                    log.info("Ray lists node %s as dead: detached", node.node_id)
                    await self.router.detach(node.node_id)
            elif node.node_id in self.draining:
                if node.node_id not in self._told:
                    self._told.add(node.node_id)
                    grace = leave_grace(self.draining[node.node_id], time.time())
                    self._tell_leave(node, grace)
            elif (
                not self.router.attached(node.node_id)
                and node.node_id not in self._attaching
                and time.monotonic() >= self._not_before.get(node.node_id, 0.0)
            ):
                self._attaching.add(node.node_id)
                asyncio.get_running_loop().create_task(self._attach(node))

    def capacity_resource(self) -> str:
        """The resource the autoscaler's bundles are written in (:func:`bundle_resource`)."""
        return bundle_resource(self.nodes.values())

    def resource_of(self, node_id: str) -> str:
        """The Ray resource ``node_id`` states Lamina's capacity in (for its lease)."""
        node = self.nodes.get(node_id)
        return node.resource if node is not None else "memory"

    async def _attach(self, node: RayNode) -> None:
        try:
            task = _launch.options(scheduling_strategy=_on(node.node_id))
            ref = await asyncio.to_thread(task.remote, self._spec(node), self._token)
            host, port, _pid = await asyncio.wait_for(
                asyncio.wrap_future(ref.future()), AGENT_START_TIMEOUT_S
            )
            await self.router.attach(host, port)
        except Exception:  # Ray raises many types here; a later tick tries again
            log.exception(
                "could not attach node %s; retrying in %.0f s", node.node_id, RETRY_AFTER_S
            )
            self._not_before[node.node_id] = time.monotonic() + RETRY_AFTER_S
        finally:
            self._attaching.discard(node.node_id)

    def _draining_nodes(self) -> dict[str, int]:
        """The nodes Ray is draining and their deadlines (Ray's GCS; its only reader is a
        private module, so a Ray that lacks it leaves draining to SIGTERM: logged once)."""
        try:
            from ray._private.state import state

            return {str(k): int(v) for k, v in state.get_draining_nodes().items()}
        except Exception:  # a Ray without the call, or the GCS away: try again next tick
            if not self._drain_unreadable:
                self._drain_unreadable = True
                log.exception("cannot read which nodes Ray drains; nodes leave on SIGTERM")
            return {}

    def _let_leave(self, node: RayNode) -> bool:
        """A node dead by a drain whose worker is still connected: its raylet shut down as
        it accepted the drain, and its worker is leaving (or will be, told now). True
        while it may go on leaving; past the leave grace it is detached as a lost node."""
        now = time.monotonic()
        since = self._drained_since.setdefault(node.node_id, now)
        if node.node_id not in self._told:
            self._told.add(node.node_id)
            self._tell_leave(node, DEFAULT_LEAVE_GRACE_S)
        return now < since + DEFAULT_LEAVE_GRACE_S

    def _tell_leave(self, node: RayNode, grace_s: float) -> None:
        """Ray drains ``node``: its worker drains too (leaving, rewarm, invokes finish)."""
        # Over the worker's own connection: Ray schedules no new task on a draining node.
        conn = self.router.connections.get(node.node_id)
        try:
            if conn is None:
                raise NodeLost(f"Node {node.node_id} is not connected.")
            conn.leave(grace_s)
            log.info("Ray drains node %s: its worker leaves within %.0f s", node.node_id, grace_s)
        except NodeLost:  # not attached: it fails over as a node that ends
            log.warning("could not tell node %s to leave: not connected", node.node_id)

    def _spec(self, node: RayNode) -> AgentSpec:
        return AgentSpec(
            node.node_id,
            node.host,
            f"{tempfile.gettempdir()}/{agent_name(node.node_id, self._token)}",
            node.capacity_mb,
            node.cpus,
            self._api_endpoint,
        )
