"""The cluster's environments, for the views that list them (thin I/O driver).

On a cluster the control plane's own pool is empty: the environments are on the nodes.
``GET /lamina/v1/environments``, the health answer's count and the
``lamina_environments`` gauge ask every connected node's worker (an ``envs`` frame on its
connection, answered under the same id) at the moment they are read, all nodes at once,
each within :data:`ASK_TIMEOUT_S`. A node that does not answer in time (busy, or a worker
of an earlier version that ignores the question) is listed as not answered rather than
holding the view up. Nothing here is on the invoke path.
"""

from __future__ import annotations

import asyncio
import logging

from lamina.cluster.connection import NodeConnection
from lamina.cluster.frames import FrameError
from lamina.cluster.node_envs import NodeEnv, envs_from_json
from lamina.cluster.router import ClusterRouter
from lamina.errors import NodeLost
from lamina.models.environments import EnvironmentsView, EnvironmentView, NodeAnswer

log = logging.getLogger("lamina.cluster")

ASK_TIMEOUT_S = 2.0


async def node_environments(
    conn: NodeConnection, timeout_s: float = ASK_TIMEOUT_S
) -> tuple[NodeEnv, ...] | None:
    """What one node's worker says it runs now (None: no answer in time, or a bad one)."""
    try:
        async with asyncio.timeout(timeout_s):
            frame = await conn.ask("envs")
        return envs_from_json(frame.header.get("envs"))
    except (TimeoutError, NodeLost, FrameError) as exc:
        log.warning("node %s did not list its environments: %r", conn.node_id, exc)
        return None


async def cluster_environments(
    router: ClusterRouter, timeout_s: float = ASK_TIMEOUT_S
) -> EnvironmentsView:
    """Every connected node's environments, each named with its node."""
    conns = sorted(
        (node_id, conn) for node_id, conn in router.connections.items() if not conn.closed
    )
    answers = await asyncio.gather(*(node_environments(c, timeout_s) for _, c in conns))
    envs: list[EnvironmentView] = []
    nodes: list[NodeAnswer] = []
    for (node_id, _), got in zip(conns, answers, strict=True):
        if got is None:
            nodes.append(NodeAnswer(node_id, answered=False))
            continue
        nodes.append(NodeAnswer(node_id, answered=True, environments=len(got)))
        envs.extend(
            EnvironmentView(e.env_id, e.function, e.state, e.invocations, node_id) for e in got
        )
    return EnvironmentsView(tuple(envs), tuple(nodes))
