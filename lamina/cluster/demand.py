"""Demand for the autoscaler: memory in use per node, and cold starts that found no room.

Pure: values in, values out, the clock passed in. The control plane samples its
placement view (:class:`NodeLike`: what each agent last reported) and the count of cold
starts that found no node with room, and turns them into

- :class:`~lamina.models.cluster_load.Demand`, a snapshot for ``/metrics`` (per-node capacity and memory in use, idle
  environments, pending cold starts) and ``lamina cluster status``;
- :func:`resource_bundles`, the shapes to hand Ray's autoscaler
  (``ray.autoscaler.sdk.request_resources(bundles=...)``, see
  :mod:`lamina.cluster.autoscale`).

Why memory bundles: a request to Ray's autoscaler is the *total* set of shapes the cluster
must be able to hold at once (not an increment), bin-packed onto node types' resources.
Lamina's environments do not hold Ray resources, so Ray cannot see them; we describe them
instead — one bundle per node of the memory its environments hold now (so the nodes in use
are not scaled away) plus bundles for the environments that could not start (so nodes are
added). Bundles are in the resource nodes state their capacity in: the custom
``lamina_memory_mb`` (MB) when node types declare it (``ray start --resources``, KubeRay's
``rayStartParams``), else Ray's built-in ``memory`` (bytes), which every node advertises.

"Pending" cold starts are those refused for lack of room during the last ``window_s``
seconds (default 60): a burst keeps asking for nodes for a minute after it was refused,
long enough for the autoscaler to act, and the request decays once nothing is refused.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Protocol

from lamina.models.cluster_load import Demand, NodeLoad

__all__ = [
    "CAPACITY_RESOURCE",
    "RAY_MEMORY",
    "Demand",
    "DemandMonitor",
    "NodeLike",
    "NodeLoad",
    "PlacementLike",
    "UnmetWindow",
    "nodes_wanted",
    "resource_bundles",
    "snapshot",
]

MIB = 1024 * 1024
# The Ray resources a bundle may be written in: (name, its units per MB).
CAPACITY_RESOURCE = "lamina_memory_mb"
RAY_MEMORY = "memory"
_UNITS_PER_MB = {CAPACITY_RESOURCE: 1, RAY_MEMORY: MIB}
DEFAULT_WINDOW_S = 60.0
# Bounds what a refused burst costs to remember; older refusals are dropped first.
MAX_REMEMBERED = 10_000


class NodeLike(Protocol):
    """What the control plane knows of one node (the placement's view of it)."""

    @property
    def node_id(self) -> str: ...
    @property
    def capacity_mb(self) -> int: ...
    @property
    def used_mb(self) -> int: ...
    @property
    def cpus(self) -> float: ...
    @property
    def alive(self) -> bool: ...
    @property
    def busy(self) -> int: ...
    @property
    def idle(self) -> Mapping[str, int]: ...


class UnmetWindow:
    """Cold starts refused for lack of room, remembered for ``window_s`` seconds."""

    def __init__(self, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.window_s = window_s
        self._refused: deque[tuple[float, int]] = deque(maxlen=MAX_REMEMBERED)
        self._seen_count = 0
        self._seen_mb = 0

    def refused(self, now: float, memory_mb: int) -> None:
        """One cold start of ``memory_mb`` found no node with room at ``now``."""
        self._refused.append((now, memory_mb))

    def observe(self, now: float, total_count: int, total_mb: int) -> None:
        """Catch up from running totals (a placement's ``unmet``/``unmet_mb`` counters):
        what was refused since the last observation is remembered as of ``now``, each
        environment at the average size of the batch."""
        count, mb = total_count - self._seen_count, total_mb - self._seen_mb
        self._seen_count, self._seen_mb = total_count, total_mb
        if count <= 0:
            return
        each, extra = divmod(max(mb, 0), count)
        for i in range(min(count, MAX_REMEMBERED)):
            self._refused.append((now, each + (1 if i < extra else 0)))

    def pending(self, now: float) -> tuple[int, ...]:
        """The sizes (MB) of the environments refused within the window before ``now``."""
        cutoff = now - self.window_s
        while self._refused and self._refused[0][0] < cutoff:
            self._refused.popleft()
        return tuple(mb for _t, mb in self._refused)


class PlacementLike(Protocol):
    """The control plane's placement view (:class:`lamina.cluster.placement.Placement`):
    its nodes and its running totals of cold starts refused for lack of room."""

    @property
    def nodes(self) -> Mapping[str, NodeLike]: ...
    @property
    def unmet(self) -> int: ...
    @property
    def unmet_mb(self) -> int: ...


class DemandMonitor:
    """Samples a placement into :class:`Demand` (for ``/metrics`` and the autoscaler)."""

    def __init__(self, placement: PlacementLike, window_s: float = DEFAULT_WINDOW_S) -> None:
        self.placement = placement
        self.unmet = UnmetWindow(window_s)

    def sample(self, now: float) -> Demand:
        placement = self.placement
        self.unmet.observe(now, placement.unmet, placement.unmet_mb)
        return snapshot(placement.nodes.values(), self.unmet, now)


def snapshot(nodes: Iterable[NodeLike], unmet: UnmetWindow, now: float) -> Demand:
    """The demand now, from the placement's nodes and the refusals remembered."""
    loads = tuple(
        NodeLoad(
            n.node_id,
            n.capacity_mb,
            n.used_mb,
            n.cpus,
            n.busy,
            sum(n.idle.values()),
            n.alive,
        )
        for n in sorted(nodes, key=lambda n: n.node_id)
    )
    sizes = unmet.pending(now)
    return Demand(loads, len(sizes), sum(sizes), sizes)


def resource_bundles(
    demand: Demand, *, resource: str = RAY_MEMORY, max_bundles: int = 1000
) -> list[dict[str, float]]:
    """Ray resource shapes the cluster must hold: each live node's memory in use, then the
    refused environments packed first-fit-decreasing into node-sized bundles.

    A bundle never exceeds the largest node's capacity (it must fit on one node); an
    environment larger than any node's capacity is still asked for on its own — no node
    can hold it, and Ray's autoscaler says so in its status, which is the right place to
    see it. At most ``max_bundles`` bundles (the largest are kept).
    """
    node_mb = max((n.capacity_mb for n in demand.nodes), default=0)
    bundles = [n.used_mb for n in demand.live if n.used_mb > 0]
    sizes = sorted(demand.pending_sizes_mb or _even(demand), reverse=True)
    bins: list[int] = []
    for size in sizes:
        for i, filled in enumerate(bins):
            if filled + size <= node_mb:
                bins[i] += size
                break
        else:
            bins.append(size)
    bundles += bins
    bundles.sort(reverse=True)
    per_mb = _UNITS_PER_MB[resource]
    return [{resource: float(mb * per_mb)} for mb in bundles[:max_bundles]]


def _even(demand: Demand) -> list[int]:
    if demand.pending_cold_starts <= 0:
        return []
    each = max(1, demand.pending_mb // demand.pending_cold_starts)
    return [each] * demand.pending_cold_starts


def nodes_wanted(demand: Demand, node_capacity_mb: int | None = None) -> int:
    """How many nodes of ``node_capacity_mb`` (default: the largest seen) the memory in use
    plus the pending environments need at least — a number for operators and replica
    hints, not a promise (environments do not split across nodes)."""
    capacity = node_capacity_mb or max((n.capacity_mb for n in demand.nodes), default=0)
    if capacity <= 0:
        return 0
    return -(-(demand.used_mb + demand.pending_mb) // capacity)
