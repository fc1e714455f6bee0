"""A node's environments as its worker tells them: the typed row, its wire form, the snapshot.

The control plane asks a worker for them (an ``envs`` frame, answered with the same id)
when someone lists the cluster's environments, and a leaving worker sends them with its
``leaving`` frame, so the control plane rewarms only the environments used recently.
Nothing here is on the invoke path.

A row's ``idle_s`` is how long the environment has been idle by the node's own clock: the
control plane turns it into a time on its clock, so no two machines' clocks are compared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from lamina.cluster.drain import EnvPhase, LeavingEnv
from lamina.cluster.frames import FrameError
from lamina.scheduler.driver import Scheduler
from lamina.scheduler.pool import EnvState

log = logging.getLogger("lamina.cluster")


@dataclass(frozen=True, slots=True)
class NodeEnv:
    """One environment on a node."""

    env_id: str
    function: str
    key: str  # FunctionConfig.cache_key
    state: str  # starting, busy, idle, frozen
    invocations: int
    memory_mb: int
    idle_s: float  # since its last invoke ended (0 unless idle or frozen)

    @property
    def is_idle(self) -> bool:
        return self.state in (EnvState.IDLE.value, EnvState.FROZEN.value)


def snapshot(scheduler: Scheduler, now: float) -> tuple[NodeEnv, ...]:
    """The node's live environments; ``now`` on the pool's clock (``time.monotonic``)."""
    out = []
    for slot in scheduler.pool.slots.values():
        if slot.state is EnvState.DEAD:
            continue
        env = scheduler.envs.get(slot.env_id)
        idle_s = max(0.0, now - slot.last_used) if slot.is_idle() else 0.0
        out.append(
            NodeEnv(
                slot.env_id,
                slot.function,
                slot.key,
                slot.state.value,
                slot.invocations,
                env.cfg.memory_mb if env is not None else 0,
                round(idle_s, 3),
            )
        )
    return tuple(out)


def envs_to_json(envs: tuple[NodeEnv, ...]) -> list[list[object]]:
    """Positional rows (a node may hold a thousand environments: keys would be most bytes)."""
    return [
        [e.env_id, e.function, e.key, e.state, e.invocations, e.memory_mb, e.idle_s] for e in envs
    ]


def envs_from_json(rows: object) -> tuple[NodeEnv, ...]:
    """Rows back into values; raises :class:`FrameError` for anything else."""
    if not isinstance(rows, list):
        raise FrameError("environments are not a list")
    out = []
    try:
        for row in rows:
            env_id, function, key, state, invocations, memory_mb, idle_s = row
            out.append(
                NodeEnv(
                    str(env_id),
                    str(function),
                    str(key),
                    str(state),
                    int(invocations),
                    int(memory_mb),
                    float(idle_s),
                )
            )
    except (TypeError, ValueError) as exc:
        raise FrameError(f"bad environment row: {exc}") from exc
    return tuple(out)


def leaving_envs(header: Mapping[str, object]) -> tuple[NodeEnv, ...] | None:
    """The environments a ``leaving`` frame carries (None: a worker that sends none, of an
    earlier version, or a malformed list — logged)."""
    rows = header.get("envs")
    if rows is None:
        return None
    try:
        return envs_from_json(rows)
    except FrameError as exc:
        log.warning("a leaving node's environments could not be read: %s", exc)
        return None


_PHASES = {
    EnvState.STARTING.value: EnvPhase.STARTING,
    EnvState.BUSY.value: EnvPhase.BUSY,
    EnvState.IDLE.value: EnvPhase.IDLE,
    EnvState.FROZEN.value: EnvPhase.IDLE,
}


def as_leaving(
    envs: Iterable[NodeEnv], now: float, timeout_of: Callable[[str], float]
) -> list[LeavingEnv]:
    """A leaving node's environments as the drain plan reads them (pure): each one's last
    use is ``now - idle_s`` on the caller's clock; ``timeout_of`` gives a configuration's
    function timeout by its key. A state it does not know is waited for, as a busy one."""
    return [
        LeavingEnv(
            e.env_id,
            e.key,
            e.memory_mb,
            _PHASES.get(e.state, EnvPhase.BUSY),
            now - e.idle_s,
            timeout_of(e.key),
        )
        for e in envs
    ]
