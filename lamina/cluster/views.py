"""The cluster's environments, for the views that list them (thin I/O driver).

On a cluster the control plane's own pool is empty: the environments are on the nodes.
``GET /lamina/v1/environments``, the health answer's count and the
``lamina_environments`` gauge ask every connected node's worker (an ``envs`` frame on its
connection, answered under the same id), all nodes at once, each within
:data:`ASK_TIMEOUT_S`. A node that does not answer in time (busy, or a worker of an
earlier version that ignores the question) is listed as not answered rather than holding
the view up. Nothing here is on the invoke path.

:class:`NodeViews` keeps each node's last answer for a short while (``max_age_s``,
``LAMINA_CLUSTER_VIEW_MAX_AGE_S``, default 1 s): a dashboard polling ``/metrics`` and the
health check together cost each node one question per window, readers that arrive while
a question is out wait for that one instead of asking again, and a silent node's timeout
is paid once per window, not by every reader. Each node's answer says how old it is.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from lamina.cluster.connection import NodeConnection
from lamina.cluster.frames import FrameError
from lamina.cluster.node_envs import NodeEnv, envs_from_json
from lamina.cluster.router import ClusterRouter
from lamina.errors import NodeLost
from lamina.models.environments import EnvironmentsView, EnvironmentView, NodeAnswer

log = logging.getLogger("lamina.cluster")

ASK_TIMEOUT_S = 2.0
DEFAULT_MAX_AGE_S = 1.0

Answer = tuple[NodeEnv, ...] | None  # None: no answer in time, or a bad one


async def node_environments(conn: NodeConnection, timeout_s: float = ASK_TIMEOUT_S) -> Answer:
    """What one node's worker says it runs now (None: no answer in time, or a bad one)."""
    try:
        async with asyncio.timeout(timeout_s):
            frame = await conn.ask("envs")
        return envs_from_json(frame.header.get("envs"))
    except (TimeoutError, NodeLost, FrameError) as exc:
        log.warning("node %s did not list its environments: %r", conn.node_id, exc)
        return None


def assemble(answers: list[tuple[str, Answer, float]]) -> EnvironmentsView:
    """The view from each node's ``(node id, answer, age in seconds)`` (pure)."""
    envs: list[EnvironmentView] = []
    nodes: list[NodeAnswer] = []
    for node_id, got, age_s in answers:
        age = round(age_s, 3)
        if got is None:
            nodes.append(NodeAnswer(node_id, answered=False, age_s=age))
            continue
        nodes.append(NodeAnswer(node_id, answered=True, environments=len(got), age_s=age))
        envs.extend(
            EnvironmentView(e.env_id, e.function, e.state, e.invocations, node_id) for e in got
        )
    return EnvironmentsView(tuple(envs), tuple(nodes))


@dataclass(slots=True)
class _Question:
    """One ``envs`` question to a node: in flight, or answered at ``done_at``."""

    conn: NodeConnection  # a node attached again has a new connection: asked afresh
    task: asyncio.Task[Answer]
    done_at: float | None = None  # on the views' clock; None while in flight


class NodeViews:
    """The nodes' environments, each node's answer reused for ``max_age_s`` seconds."""

    def __init__(
        self,
        router: ClusterRouter,
        *,
        max_age_s: float = DEFAULT_MAX_AGE_S,
        timeout_s: float = ASK_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._router = router
        self.max_age_s = max_age_s
        self.timeout_s = timeout_s
        self._clock = clock
        self._questions: dict[str, _Question] = {}

    async def environments(self) -> EnvironmentsView:
        """Every connected node's environments, each named with its node."""
        conns = sorted(
            (node_id, conn) for node_id, conn in self._router.connections.items() if not conn.closed
        )
        now = self._clock()
        # Nodes gone from the router are forgotten (a question still out ends by its timeout).
        live = {node_id for node_id, _ in conns}
        self._questions = {n: q for n, q in self._questions.items() if n in live}
        asked = [self._question(node_id, conn, now) for node_id, conn in conns]
        # Shielded: a reader that gives up does not cancel the question others wait for.
        answers = await asyncio.gather(*(asyncio.shield(q.task) for q in asked))
        after = self._clock()
        return assemble(
            [
                (node_id, got, after - (q.done_at if q.done_at is not None else after))
                for (node_id, _), got, q in zip(conns, answers, asked, strict=True)
            ]
        )

    def _question(self, node_id: str, conn: NodeConnection, now: float) -> _Question:
        """The node's question to wait for: one in flight, a recent answer, or a new one."""
        q = self._questions.get(node_id)
        fresh_enough = q is not None and (q.done_at is None or now - q.done_at < self.max_age_s)
        if q is not None and q.conn is conn and fresh_enough:
            return q
        task = asyncio.get_running_loop().create_task(node_environments(conn, self.timeout_s))
        fresh = _Question(conn, task)

        def answered(_task: asyncio.Task[Answer]) -> None:
            fresh.done_at = self._clock()

        task.add_done_callback(answered)
        self._questions[node_id] = fresh
        return fresh


async def cluster_environments(
    router: ClusterRouter, timeout_s: float = ASK_TIMEOUT_S
) -> EnvironmentsView:
    """Every connected node's environments, asked now (no answer reused)."""
    return await NodeViews(router, max_age_s=0.0, timeout_s=timeout_s).environments()
