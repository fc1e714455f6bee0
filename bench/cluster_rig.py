"""A Ray cluster of N nodes on 127.0.0.1 and a Lamina control plane on it, for the bench.

``ray.cluster_utils.Cluster`` starts real raylets (one per "node", all on this host, each
with its own ``lamina_memory_mb`` capacity); ``lamina serve`` with ``LAMINA_CLUSTER`` set
is the control plane, in its own process, as an operator runs it (docs/cluster.md). Health
checks are tuned as docs/cluster.md recommends (500 ms, 3 failures).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.server import LaminaServer
from lamina.client.http import Client

NODE_CAPACITY_MB = 4096
HEALTH = {"health_check_period_ms": 500, "health_check_failure_threshold": 3}
STATUS_PATH = "/lamina/v1/cluster"


def node_args(capacity_mb: int = NODE_CAPACITY_MB) -> dict[str, Any]:
    return {
        "node_ip_address": "127.0.0.1",
        "num_cpus": 1,
        "include_dashboard": False,
        "resources": {"lamina_memory_mb": capacity_mb},
    }


@contextmanager
def _env(**values: str) -> Iterator[None]:
    """Set environment variables for a child started inside (the server copies os.environ)."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ClusterRig:
    """The Ray cluster (head + workers) and the control plane serving on it."""

    def __init__(self, nodes: int, isolation: str | None = None) -> None:
        from ray.cluster_utils import Cluster  # the bench's only Ray import

        self.cluster: Any = Cluster(
            initialize_head=True, head_node_args={**node_args(), "_system_config": HEALTH}
        )
        for _ in range(nodes - 1):
            self.cluster.add_node(**node_args())
        self.server = LaminaServer(isolation=isolation, startup_timeout_s=120.0)
        with _env(LAMINA_CLUSTER=self.cluster.address):
            self.server.start()

    # -- the nodes ---------------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = Client(self.server.endpoint).call("GET", STATUS_PATH)
        return body

    def alive_nodes(self) -> list[str]:
        return [n["node_id"] for n in self.status()["nodes"] if n["alive"]]

    def wait_for_nodes(self, count: int, timeout_s: float = 120.0) -> float:
        """Wait until ``count`` nodes are attached; the seconds it took."""
        start = time.monotonic()
        while len(self.alive_nodes()) != count:
            if time.monotonic() - start > timeout_s:
                raise RuntimeError(f"{count} nodes not attached: {self.status()}")
            time.sleep(0.1)
        return time.monotonic() - start

    def add_node(self) -> Any:
        return self.cluster.add_node(**node_args())

    def ray_node(self, node_id: str) -> Any:
        """The Ray node object of a Lamina node id (Ray's node id, hex)."""
        for node in [self.cluster.head_node, *self.cluster.worker_nodes]:
            if node.node_id == node_id:
                return node
        raise KeyError(node_id)

    def is_head(self, node_id: str) -> bool:
        return bool(self.cluster.head_node.node_id == node_id)

    def kill(self, node_id: str) -> None:
        """Kill a worker node at once: its raylet, the agent and the Lamina worker."""
        self.cluster.remove_node(self.ray_node(node_id), allow_graceful=False)

    def close(self) -> None:
        self.server.stop()
        self.cluster.shutdown()

    def __enter__(self) -> ClusterRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
