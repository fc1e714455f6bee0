"""Execution environments as the operator's views list them: where each runs, its state.

Pure values. One machine builds them from its own pool; a cluster's control plane asks its
nodes (:mod:`lamina.cluster.views`) and names the node of each. ``GET
/lamina/v1/environments``, the health answer and the ``lamina_environments`` gauge on
``/metrics`` read them, whichever mode the server runs in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

# The states a listed environment can be in (the pool's, less ``dead``).
STATES = ("starting", "busy", "idle", "frozen")


@dataclass(frozen=True, slots=True)
class EnvironmentView:
    """One environment at a moment."""

    env_id: str  # unique on its node (a cluster's ids repeat across nodes)
    function: str
    state: str  # one of STATES
    invocations: int
    node: str | None = None  # the cluster node it runs on (None: this machine)


@dataclass(frozen=True, slots=True)
class NodeAnswer:
    """Whether a cluster node told its environments in time, and how many it has."""

    node: str
    answered: bool
    environments: int = 0
    age_s: float = 0.0  # how long ago the node answered (or went silent): views reuse answers


@dataclass(frozen=True, slots=True)
class EnvironmentsView:
    """Every environment the server knows of now; on a cluster, each node's answer."""

    environments: tuple[EnvironmentView, ...]
    nodes: tuple[NodeAnswer, ...] | None = None  # None: one machine

    @property
    def is_cluster(self) -> bool:
        return self.nodes is not None

    def by_state(self) -> dict[str, int]:
        """State → count, every state listed (0 when none)."""
        counts = Counter(e.state for e in self.environments)
        return {state: counts.get(state, 0) for state in STATES}

    def by_node_and_state(self) -> dict[str, dict[str, int]]:
        """Node → state → count, for the nodes that answered (every state listed)."""
        out = {n.node: dict.fromkeys(STATES, 0) for n in self.nodes or () if n.answered}
        for env in self.environments:
            if env.node in out and env.state in out[env.node]:
                out[env.node][env.state] += 1
        return out
