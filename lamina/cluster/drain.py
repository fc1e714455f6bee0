"""Scale-down: what to do with a node's environments before the node leaves (pure).

A node leaves because the autoscaler removes it, KubeRay deletes its pod, or an operator
takes it out. Its worker gets notice when it is sent SIGTERM (a pod's ``preStop`` hook,
an operator) or a ``leave`` frame from the control plane (which sends one when Ray drains
the node: ``ray drain-node``, autoscaler v2); it then says it is leaving and the control
plane stops placing work there. (``ray stop`` ends the raylet, and the worker with it: no
notice.)
This module decides, from the node's environments and the other nodes' room, the plan:

- **stop** every idle environment now: it holds memory and nothing will run on it again;
- **rewarm** elsewhere the ones that were in use recently and have no idle twin on
  another node (same configuration), on the live node with the most room that can hold
  them — so a function that was warm stays warm, not one cold start per leaving node
  (like a replacement environment behind Lambda's provisioned concurrency). Rewarming is
  advice: a driver that cannot pre-start environments skips it, and nothing is lost;
- **wait** for the busy and starting ones: their invokes finish (at most until the
  deadline, the longest function timeout among them, capped by the notice given); then
  they are stopped too and the node may go.

Nothing here is lost when a node leaves early (before the plan is carried out): in-flight
invokes fail with a Lambda-shaped error and async events are retried (see
docs/cluster.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "DrainPlan",
    "EnvPhase",
    "LeavingEnv",
    "Rewarm",
    "RoomElsewhere",
    "leave_grace",
    "plan_drain",
    "recent_window",
]

# How long a node Ray drains without a deadline may take to finish its invokes.
DEFAULT_LEAVE_GRACE_S = 900.0

# An idle environment used within this long is worth starting again elsewhere: its
# function is likely to be invoked before a replacement would be reclaimed for idleness.
DEFAULT_RECENT_S = 300.0


class EnvPhase(Enum):
    STARTING = "starting"
    BUSY = "busy"
    IDLE = "idle"

    def is_idle(self) -> bool:
        return self is EnvPhase.IDLE


@dataclass(frozen=True, slots=True)
class LeavingEnv:
    """One environment on the node that leaves."""

    env_id: str
    key: str  # its configuration (FunctionConfig.cache_key): twins share it
    memory_mb: int
    phase: EnvPhase
    last_used: float  # when it last finished an invoke (or started), clock of the caller
    timeout_s: float  # its function's timeout: the longest a busy one may still run


@dataclass(frozen=True, slots=True)
class RoomElsewhere:
    """Another live node: its free memory and its idle environments by configuration."""

    node_id: str
    free_mb: int
    idle: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Rewarm:
    """Start one environment of ``key`` on ``node_id`` to replace a leaving warm one."""

    key: str
    memory_mb: int
    node_id: str


@dataclass(frozen=True, slots=True)
class DrainPlan:
    stop: tuple[str, ...]  # idle environments to stop now
    rewarm: tuple[Rewarm, ...]  # replacements to start elsewhere (advice)
    wait: tuple[str, ...]  # busy or starting environments to let finish
    deadline: float  # when the node goes regardless (the caller's clock)

    def is_ready(self) -> bool:
        """Nothing left to wait for: the node may leave now."""
        return not self.wait


def plan_drain(
    envs: Iterable[LeavingEnv],
    others: Sequence[RoomElsewhere],
    now: float,
    *,
    notice_s: float | None = None,
    recent_s: float = DEFAULT_RECENT_S,
) -> DrainPlan:
    """The plan for a node whose environments are ``envs``, given the ``others``.

    ``notice_s`` is how long the platform gives before it removes the node (None:
    unbounded, e.g. an operator's drain); the deadline is the longest timeout of the busy
    environments, within that notice.
    """
    envs = sorted(envs, key=lambda e: (-e.last_used, e.env_id))
    idle = [e for e in envs if e.phase.is_idle()]
    busy = [e for e in envs if not e.phase.is_idle()]
    longest = max((e.timeout_s for e in busy), default=0.0)
    deadline = now + (longest if notice_s is None else min(longest, notice_s))
    free = {o.node_id: o.free_mb for o in others}
    twins = {o.node_id: dict(o.idle) for o in others}
    rewarm: list[Rewarm] = []
    # Most recently used first: if room is short, the hottest functions keep a warm copy.
    for env in idle:
        if now - env.last_used > recent_s:
            continue
        if any(count > 0 for count in (t.get(env.key, 0) for t in twins.values())):
            # A twin is idle elsewhere: the next invoke is warm anyway. Count it as taken,
            # so two leaving twins of one idle twin still get one replacement.
            holder = next(n for n, t in twins.items() if t.get(env.key, 0) > 0)
            twins[holder][env.key] -= 1
            continue
        target = _roomiest(free, env.memory_mb)
        if target is None:
            continue
        free[target] -= env.memory_mb
        rewarm.append(Rewarm(env.key, env.memory_mb, target))
    return DrainPlan(
        stop=tuple(sorted(e.env_id for e in idle)),
        rewarm=tuple(rewarm),
        wait=tuple(sorted(e.env_id for e in busy)),
        deadline=deadline,
    )


def recent_window(idle_reclaim_s: float) -> float:
    """How recently an idle environment must have run to be rewarmed: the last
    :data:`DEFAULT_RECENT_S` (5 minutes), or the idle-reclaim horizon if that is shorter —
    an environment idle longer than that would have been reclaimed on one machine, so a
    replacement for it would only hold memory until it is reclaimed in turn."""
    return max(0.0, min(DEFAULT_RECENT_S, idle_reclaim_s))


def leave_grace(deadline_ms: int, now_s: float) -> float:
    """How long a node that Ray drains (``ray drain-node``, autoscaler v2) may take to
    finish its invokes: until Ray's deadline (epoch ms), or :data:`DEFAULT_LEAVE_GRACE_S`
    when it set none (0)."""
    if deadline_ms <= 0:
        return DEFAULT_LEAVE_GRACE_S
    return max(0.0, deadline_ms / 1000.0 - now_s)


def _roomiest(free: Mapping[str, int], memory_mb: int) -> str | None:
    fitting = [(mb, node) for node, mb in free.items() if mb >= memory_mb]
    if not fitting:
        return None
    return max(fitting, key=lambda pair: (pair[0], pair[1]))[1]
