"""The control plane's side of Ray: join the cluster, keep one agent per live node.

:class:`Fleet` connects to the Ray cluster as a driver, then watches ``ray.nodes()``
every :data:`WATCH_EVERY_S`: a live node without an attached worker gets its agent
(found by name if it already runs — a restarted control plane re-attaches — else
created with hard node affinity) and the router connects to the agent's worker; a node
Ray declares dead is detached. A node's connection ending (its worker died with it) is
seen at once by the router, before Ray's health checks notice; then new invokes go
elsewhere while the watch loop waits for the node to come back.

A node Ray is draining (``ray drain-node``; Ray's autoscaler v2, KubeRay's included,
drains a node before it terminates it) is told to leave through its agent
(``NodeAgent.leave``, with Ray's deadline as the grace): its worker says it is leaving, its
recently used warm environments are started again elsewhere and its invokes finish; the
node is not attached again while Ray drains it.

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
from dataclasses import dataclass
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from lamina.cluster.agent import NAMESPACE, AgentSpec, NodeAgent, agent_name
from lamina.cluster.drain import leave_grace
from lamina.cluster.router import ClusterRouter

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
    )


class Fleet:
    """Keeps an attached agent on every live Ray node."""

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
        self._told &= {n.node_id for n in nodes if n.alive}
        for node in nodes:
            if not node.alive:
                if node.node_id in self.router.connections:
                    await self.router.detach(node.node_id)
            elif node.node_id in self.draining:
                if node.node_id not in self._told:
                    self._told.add(node.node_id)
                    grace = leave_grace(self.draining[node.node_id], time.time())
                    asyncio.get_running_loop().create_task(self._tell_leave(node, grace))
            elif (
                not self.router.attached(node.node_id)
                and node.node_id not in self._attaching
                and time.monotonic() >= self._not_before.get(node.node_id, 0.0)
            ):
                self._attaching.add(node.node_id)
                asyncio.get_running_loop().create_task(self._attach(node))

    async def _attach(self, node: RayNode) -> None:
        try:
            agent = await asyncio.to_thread(self._agent, node)
            ref = agent.address.remote()
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

    async def _tell_leave(self, node: RayNode, grace_s: float) -> None:
        """Ray drains ``node``: its worker drains too (leaving, rewarm, invokes finish)."""
        name = agent_name(node.node_id, self._token)
        try:
            agent = await asyncio.to_thread(ray.get_actor, name, NAMESPACE)
            agent.leave.remote(grace_s)  # returns when the worker has gone: not awaited
            log.info("Ray drains node %s: its worker leaves within %.0f s", node.node_id, grace_s)
        except Exception:  # Ray raises many types here; the node's end still fails over
            log.exception("could not tell node %s to leave", node.node_id)

    def _agent(self, node: RayNode) -> Any:
        spec = AgentSpec(
            node.node_id,
            node.host,
            f"{tempfile.gettempdir()}/{agent_name(node.node_id, self._token)}",
            node.capacity_mb,
            node.cpus,
            self._api_endpoint,
        )
        return (
            ray.remote(NodeAgent)
            .options(
                name=agent_name(node.node_id, self._token),
                namespace=NAMESPACE,
                lifetime="detached",
                get_if_exists=True,
                max_restarts=-1,
                max_task_retries=-1,
                num_cpus=0,
                scheduling_strategy=NodeAffinitySchedulingStrategy(node.node_id, soft=False),
            )
            .remote(spec, self._token)
        )
