"""Which cluster node serves an invoke, and whether it may run at all: pure decisions.

The control plane keeps one :class:`Placement`: every node's capacity for environments,
the memory its environments hold, and its idle environments per configuration
(``FunctionConfig.cache_key``), as the node's agent last reported them plus what was
dispatched since. It performs no I/O and reads no clock; the cluster driver
(:mod:`lamina.cluster.router`) carries out what it decides.

The rules, in order:

1. Concurrency holds cluster-wide, as on one machine (:mod:`lamina.scheduler.pool`): a
   function with reserved concurrency R runs at most R at once anywhere; the others share
   ``account - sum(reserved)``. Over the limit → :class:`Throttle`.
2. A node with an idle environment of the same configuration serves it warm (the home
   node first, then any other): warm environments are reused wherever they are.
3. Otherwise a cold start goes to the function version's **home node** — the node that
   wins a rendezvous hash of ``name:version`` among the live nodes, as OpenWhisk hashes
   actions to invokers, so its code and zygote are already there — if the memory of its
   environments plus this one fits its capacity; else to the live node with most room.
   Rendezvous hashing moves only the versions homed on a node that leaves or joins.
4. No node has room → :class:`NoRoom` (counted as unmet demand for an autoscaler).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass, field

from lamina.scheduler.pool import REASON_ACCOUNT, REASON_RESERVED


@dataclass(slots=True)
class NodeView:
    """The control plane's view of one node: what its agent reported, plus dispatches."""

    node_id: str
    capacity_mb: int  # memory for environments
    cpus: float
    alive: bool = True
    used_mb: int = 0  # memory of the node's environments (busy, idle or starting)
    busy: int = 0  # invokes dispatched to it and not yet answered
    idle: dict[str, int] = field(default_factory=dict)  # cache_key → idle environments
    idle_mb: int = 0  # memory of its idle environments (reclaimable to make room)

    def room_mb(self) -> int:
        return self.capacity_mb - self.used_mb

    def has_idle(self, key: str) -> bool:
        return self.idle.get(key, 0) > 0


@dataclass(frozen=True, slots=True)
class Warm:
    node_id: str


@dataclass(frozen=True, slots=True)
class Cold:
    node_id: str
    home: bool  # the version's home node (its code and zygote are likely there)
    # Memory the node must first free by stopping its least recently used idle
    # environments (0: it has room as it is).
    make_room_mb: int = 0


@dataclass(frozen=True, slots=True)
class Throttle:
    reason: str
    message: str


@dataclass(frozen=True, slots=True)
class NoRoom:
    message: str


Decision = Warm | Cold | Throttle | NoRoom


def home_score(node_id: str, version_key: str) -> int:
    """Rendezvous weight of ``node_id`` for a function version (pure, stable)."""
    digest = hashlib.blake2b(f"{node_id}|{version_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@dataclass(slots=True)
class Placement:
    account: int = 1000
    nodes: dict[str, NodeView] = field(default_factory=dict)
    _active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _reserved: dict[str, int] = field(default_factory=dict)
    _unreserved_active: int = 0
    # Cold starts that found no node with room (an autoscaler's demand signal).
    unmet: int = 0
    unmet_mb: int = 0
    # Home node by version key, for the current membership (hashing every live node on
    # every invoke is the placement's largest cost on the warm path).
    _homes: dict[str, str] = field(default_factory=dict)

    # -- membership -------------------------------------------------------------------
    def join(self, node_id: str, capacity_mb: int, cpus: float) -> NodeView:
        """A node's agent is reachable (new, or back after a loss)."""
        node = self.nodes.get(node_id)
        if node is None:
            node = self.nodes[node_id] = NodeView(node_id, capacity_mb, cpus)
        node.capacity_mb, node.cpus, node.alive = capacity_mb, cpus, True
        self._homes.clear()
        return node

    def lose(self, node_id: str) -> None:
        """The node is gone: its environments with it. Its in-flight invokes are ended by
        the driver (each through :meth:`finish`)."""
        self._homes.clear()
        node = self.nodes.get(node_id)
        if node is not None:
            node.alive = False
            node.idle.clear()
            node.used_mb = node.idle_mb = 0

    def live(self) -> list[NodeView]:
        return [n for n in self.nodes.values() if n.alive]

    def home(self, version_key: str) -> NodeView | None:
        known = self._homes.get(version_key)
        if known is not None:
            return self.nodes[known]
        nodes = self.live()
        if not nodes:
            return None
        home = max(nodes, key=lambda n: home_score(n.node_id, version_key))
        self._homes[version_key] = home.node_id
        return home

    # -- concurrency ------------------------------------------------------------------
    def set_reserved(self, function: str, reserved: int | None) -> None:
        """Reserve concurrency for ``function`` cluster-wide (None removes it)."""
        was = function in self._reserved
        active = self._active.get(function, 0)
        if reserved is None:
            self._reserved.pop(function, None)
        else:
            self._reserved[function] = reserved
        if was and function not in self._reserved:
            self._unreserved_active += active
        elif function in self._reserved and not was:
            self._unreserved_active -= active

    def active_counts(self) -> dict[str, int]:
        """Invokes in flight per function, cluster-wide (the concurrency gauges)."""
        return dict(self._active)

    def active(self, function: str | None = None) -> int:
        if function is None:
            return sum(self._active.values())
        return self._active.get(function, 0)

    # -- decisions --------------------------------------------------------------------
    def place(self, function: str, version: str, key: str, memory_mb: int) -> Decision:
        """Admit one invoke and pick its node, or throttle, or report no room."""
        reserved = self._reserved.get(function)
        if reserved is not None:
            if self._active.get(function, 0) >= reserved:
                return Throttle(REASON_RESERVED, "Rate Exceeded.")
        elif self._unreserved_active >= self.account - sum(self._reserved.values()):
            return Throttle(REASON_ACCOUNT, "Rate Exceeded.")
        decision = self._pick(f"{function}:{version}", key, memory_mb)
        if isinstance(decision, NoRoom):
            self.unmet += 1
            self.unmet_mb += memory_mb
            return decision
        self._active[function] += 1
        if reserved is None:
            self._unreserved_active += 1
        node = self.nodes[decision.node_id]
        node.busy += 1
        if isinstance(decision, Warm):
            node.idle[key] -= 1
        else:
            node.used_mb += memory_mb - decision.make_room_mb
            node.idle_mb -= decision.make_room_mb
        return decision

    def _pick(self, version_key: str, key: str, memory_mb: int) -> Warm | Cold | NoRoom:
        home = self.home(version_key)
        if home is None:
            return NoRoom("No cluster node is available.")
        if home.has_idle(key):
            return Warm(home.node_id)
        for node in self.live():
            if node.has_idle(key):
                return Warm(node.node_id)
        if home.room_mb() >= memory_mb:
            return Cold(home.node_id, home=True)
        roomiest = max(self.live(), key=lambda n: (n.room_mb(), n.node_id))
        if roomiest.room_mb() >= memory_mb:
            return Cold(roomiest.node_id, home=False)
        # Full of idle environments: reclaim some (home first, then the most reclaimable).
        for node in (home, max(self.live(), key=lambda n: (n.room_mb() + n.idle_mb, n.node_id))):
            if node.room_mb() + node.idle_mb >= memory_mb:
                need = memory_mb - node.room_mb()
                return Cold(node.node_id, node is home, make_room_mb=need)
        return NoRoom(f"No cluster node has {memory_mb} MB free for a new environment.")

    def finish(self, function: str, node_id: str) -> None:
        """The invoke placed on ``node_id`` is over (answered or failed)."""
        self._active[function] -= 1
        if self._active[function] <= 0:
            del self._active[function]
        if function not in self._reserved:
            self._unreserved_active -= 1
        node = self.nodes.get(node_id)
        if node is not None and node.busy > 0:
            node.busy -= 1

    def report(self, node_id: str, used_mb: int, idle: dict[str, int], idle_mb: int = 0) -> None:
        """The node's agent says what its environments hold now (authoritative)."""
        node = self.nodes.get(node_id)
        if node is not None and node.alive:
            node.used_mb = used_mb
            node.idle = dict(idle)
            node.idle_mb = idle_mb
