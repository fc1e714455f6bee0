"""A cluster's load at one moment: each node's numbers and the cold starts no node had room
for.

Pure values. :mod:`lamina.cluster.demand` samples them from the control plane's placement
(and turns them into the autoscaler's resource bundles); :mod:`lamina.metrics.prometheus`
renders them on ``/metrics``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """One node's numbers at a moment."""

    node_id: str
    capacity_mb: int  # memory for environments
    used_mb: int  # memory of its environments (busy, idle or starting)
    cpus: float
    busy: int  # invokes running on it
    idle_environments: int
    alive: bool

    @property
    def free_mb(self) -> int:
        return max(0, self.capacity_mb - self.used_mb)


@dataclass(frozen=True, slots=True)
class Demand:
    """The cluster's load and its unmet demand at one moment."""

    nodes: tuple[NodeLoad, ...]
    pending_cold_starts: int  # refused for lack of room in the last window
    pending_mb: int  # the memory those environments would have needed
    pending_sizes_mb: tuple[int, ...] = ()  # one entry per refused environment (when known)

    @property
    def live(self) -> tuple[NodeLoad, ...]:
        return tuple(n for n in self.nodes if n.alive)

    @property
    def capacity_mb(self) -> int:
        return sum(n.capacity_mb for n in self.live)

    @property
    def used_mb(self) -> int:
        return sum(n.used_mb for n in self.live)
