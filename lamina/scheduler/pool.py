"""Which environment serves an invoke, and whether it may run at all: pure decisions.

The pool knows every environment's state and the concurrency counters; it performs no
I/O and reads no clock (``now`` is passed in), so every rule is tested without sleeping.
The async driver (:mod:`lamina.scheduler.driver`) carries out what it decides.

Concurrency follows Lambda: it is the number of environments busy with an event
(initializing counts). A function with reserved concurrency R runs at most R at once and
does not draw on the shared pool; all other functions share
``account limit - sum(reserved)``. Idle (warm or frozen) environments cost no concurrency.

Provisioned concurrency (:mod:`lamina.scheduler.provisioned`): environments initialised
ahead of any invoke for one configuration. They go to idle stacks of their own, taken
before the on-demand ones of the same key, and are never reclaimed for idleness or age;
invokes beyond them spill over to on-demand environments as usual.

Reuse and freezing keep as few environments hot as the load needs. The most recently
used idle environment is reused first (its memory is still in the CPU's caches; the
least recently used ones age out and are reclaimed). An idle environment is frozen once
it has idled ``freeze_grace_s`` — unless events of the same code and configuration keep
coming (one began within the grace), because then the next ones may well take it back:
under a steady high concurrency the number of busy environments wobbles (64 callers on
two cores: 30 to 64 busy at once), and the environments at the bottom of the idle stack
would be frozen and thawed again over and over, each freeze waking every thread of the
environment to stop it. Such an environment stays thawed at most ``freeze_hold_s``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from enum import Enum

REASON_ACCOUNT = "ConcurrentInvocationLimitExceeded"
REASON_RESERVED = "ReservedFunctionConcurrentInvocationLimitExceeded"


class EnvState(Enum):
    STARTING = "starting"  # spawned, running INIT
    BUSY = "busy"  # serving one event
    IDLE = "idle"  # warm, waiting on /next, not yet frozen
    FROZEN = "frozen"  # warm and frozen by the cgroup freezer
    DEAD = "dead"


@dataclass(slots=True)
class EnvSlot:
    """The pool's view of one environment."""

    env_id: str
    function: str
    key: str  # FunctionConfig.cache_key: same code + config
    state: EnvState
    created_at: float
    last_used: float
    invocations: int = 0
    memory_mb: int = 0  # the environment's MemorySize (what the pool's tallies add up)
    # The provisioned concurrency configuration ("function:qualifier") it was initialised
    # for; None: an on-demand environment.
    provisioned: str | None = None
    # ``AWS_LAMBDA_INITIALIZATION_TYPE`` and INIT_START's ``initializationType``.
    init_type: str = "on-demand"
    # Counted among its configuration's busy environments (Pool.provisioned_busy) while
    # it serves an event.
    counted_busy: bool = False

    def is_idle(self) -> bool:
        return self.state in (EnvState.IDLE, EnvState.FROZEN)


@dataclass(frozen=True, slots=True)
class UseWarm:
    slot: EnvSlot


@dataclass(frozen=True, slots=True)
class ColdStart:
    slot: EnvSlot


@dataclass(frozen=True, slots=True)
class Throttle:
    reason: str
    message: str


Decision = UseWarm | ColdStart | Throttle


@dataclass(frozen=True, slots=True)
class PoolLimits:
    """The account's concurrency and how long environments may idle and live (seconds)."""

    account: int = 1000
    idle_reclaim_s: float = 300.0
    max_lifetime_s: float = 7200.0
    # An idle environment is frozen after the grace; while events of its key keep coming
    # it stays thawed, at most the hold.
    freeze_grace_s: float = 0.05
    freeze_hold_s: float = 1.0

    @property
    def thawed_at_most_s(self) -> float:
        """How long an idle environment may stay thawed: the hold, never below the grace."""
        return max(self.freeze_grace_s, self.freeze_hold_s)


@dataclass(slots=True)
class Pool:
    limits: PoolLimits
    slots: dict[str, EnvSlot] = field(default_factory=dict)
    # Idle environments per cache key; the most recently used is reused first so that
    # the least recently used ones age out and get reclaimed.
    _idle: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # ... and the idle provisioned environments per cache key, used before those.
    _idle_provisioned: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # Idle environments not frozen (yet), by id: what freeze_due looks at.
    _thawed: dict[str, EnvSlot] = field(default_factory=dict)
    _last_start: dict[str, float] = field(default_factory=dict)  # per key: when one began
    _active: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    _reserved: dict[str, int] = field(default_factory=dict)
    _provisioned_keys: dict[str, int] = field(default_factory=dict)  # key → live provisioned
    # Provisioned environments serving an event now, per configuration (a metric's sample).
    _provisioned_busy: dict[str, int] = field(default_factory=dict)
    _unreserved_active: int = 0
    _seq: int = 0
    # Tallies kept as environments come, go idle, get busy and go: a cluster node's every
    # answer reports them, which must not cost a walk over every environment.
    used_mb: int = 0  # memory of the environments in the pool (starting, busy or idle)
    idle_mb: int = 0  # ... of the idle (warm or frozen) ones
    idle_by_key: dict[str, int] = field(default_factory=dict)  # idle ones per cache key

    # -- configuration ----------------------------------------------------------------
    def set_reserved(self, function: str, reserved: int | None) -> None:
        """Reserve concurrency for ``function`` (None removes the reservation)."""
        was_reserved = function in self._reserved
        active = self._active.get(function, 0)
        if reserved is None:
            self._reserved.pop(function, None)
        else:
            self._reserved[function] = reserved
        now_reserved = function in self._reserved
        if was_reserved and not now_reserved:
            self._unreserved_active += active
        elif now_reserved and not was_reserved:
            self._unreserved_active -= active

    def reserved_total(self) -> int:
        return sum(self._reserved.values())

    def unreserved_limit(self) -> int:
        return self.limits.account - self.reserved_total()

    # -- questions --------------------------------------------------------------------
    def active(self, function: str | None = None) -> int:
        """Concurrent executions now (of one function, or of the whole account)."""
        if function is None:
            return sum(self._active.values())
        return self._active.get(function, 0)

    def environments(self, function: str | None = None) -> list[EnvSlot]:
        return [s for s in self.slots.values() if function is None or s.function == function]

    # -- decisions --------------------------------------------------------------------
    def acquire(self, function: str, key: str, now: float, memory_mb: int = 0) -> Decision:
        """Pick a warm environment, or admit a cold start (of ``memory_mb``), or throttle."""
        reserved = self._reserved.get(function)
        if reserved is not None:
            if self._active.get(function, 0) >= reserved:
                return Throttle(REASON_RESERVED, "Rate Exceeded.")
        elif self._unreserved_active >= self.unreserved_limit():
            return Throttle(REASON_ACCOUNT, "Rate Exceeded.")
        self._active[function] += 1
        if reserved is None:
            self._unreserved_active += 1
        self._last_start[key] = now
        for stacks in (self._idle_provisioned, self._idle):
            idle = stacks.get(key)
            while idle:  # the top of the stack: the most recently used
                slot = self.slots.get(idle.pop())
                if slot is not None and slot.is_idle():
                    if slot.state is EnvState.IDLE:
                        self._thawed.pop(slot.env_id, None)
                    self._not_idle(slot)
                    slot.state = EnvState.BUSY
                    slot.last_used = now
                    tag = slot.provisioned
                    if tag is not None:
                        self._provisioned_busy[tag] = self._provisioned_busy.get(tag, 0) + 1
                        slot.counted_busy = True
                    return UseWarm(slot)
        return ColdStart(self._new_slot(function, key, now, memory_mb))

    def provision(
        self, function: str, key: str, now: float, memory_mb: int, config: str
    ) -> EnvSlot | Throttle:
        """Admit one environment for the provisioned concurrency configuration ``config``:
        it initialises now (counted as a concurrent execution meanwhile, as any INIT), then
        waits, idle, for the invokes of its key."""
        reserved = self._reserved.get(function)
        if reserved is not None:
            if self._active.get(function, 0) >= reserved:
                return Throttle(REASON_RESERVED, "Rate Exceeded.")
        elif self._unreserved_active >= self.unreserved_limit():
            return Throttle(REASON_ACCOUNT, "Rate Exceeded.")
        self._active[function] += 1
        if reserved is None:
            self._unreserved_active += 1
        slot = self._new_slot(function, key, now, memory_mb)
        slot.provisioned = config
        slot.init_type = "provisioned-concurrency"
        self._provisioned_keys[key] = self._provisioned_keys.get(key, 0) + 1
        return slot

    def spills_over(self, slot: EnvSlot) -> bool:
        """Whether an invoke given ``slot`` spilled over: an on-demand environment, while
        its key has provisioned ones (all busy, or it would have had one)."""
        return slot.provisioned is None and slot.key in self._provisioned_keys

    def provisioned_busy(self, config: str) -> int:
        """How many of ``config``'s environments serve an event now (O(1): counted as
        they are taken and given back)."""
        return self._provisioned_busy.get(config, 0)

    def _uncount_busy(self, slot: EnvSlot) -> None:
        tag = slot.provisioned
        if slot.counted_busy and tag is not None:
            slot.counted_busy = False
            left = self._provisioned_busy.get(tag, 0) - 1
            if left > 0:
                self._provisioned_busy[tag] = left
            else:
                self._provisioned_busy.pop(tag, None)

    def provisioned(self, config: str) -> list[EnvSlot]:
        """The live environments of a provisioned concurrency configuration."""
        return [s for s in self.slots.values() if s.provisioned == config]

    def unprovision(self, slot: EnvSlot) -> bool:
        """``slot`` no longer belongs to its configuration (deleted or lowered): an idle one
        is removed (True: the caller destroys it); a busy one becomes on-demand."""
        if slot.is_idle():
            self.remove(slot)
            return True
        self._uncount_busy(slot)
        self._unprovisioned(slot)
        slot.provisioned = None
        return False

    def _unprovisioned(self, slot: EnvSlot) -> None:
        left = self._provisioned_keys.get(slot.key, 0) - 1
        if left > 0:
            self._provisioned_keys[slot.key] = left
        else:
            self._provisioned_keys.pop(slot.key, None)

    def _new_slot(self, function: str, key: str, now: float, memory_mb: int) -> EnvSlot:
        self._seq += 1
        slot = EnvSlot(f"{self._seq:x}", function, key, EnvState.STARTING, now, now, 0, memory_mb)
        self.slots[slot.env_id] = slot
        self.used_mb += memory_mb
        return slot

    def started(self, slot: EnvSlot) -> None:
        """INIT finished: the environment now serves the event that started it."""
        if slot.state is EnvState.STARTING:
            slot.state = EnvState.BUSY

    def release(self, slot: EnvSlot, now: float, *, reusable: bool) -> None:
        """The event is done; keep the environment warm, or drop it (crash, timeout)."""
        self._end_activity(slot.function)
        if slot.counted_busy:
            self._uncount_busy(slot)
        slot.invocations += 1
        slot.last_used = now
        if not reusable or slot.state is EnvState.DEAD:
            self.remove(slot)
            return
        # An environment past its maximum lifetime is recycled by the reaper, not here:
        # the invoke path does no teardown work.
        slot.state = EnvState.IDLE
        stacks = self._idle if slot.provisioned is None else self._idle_provisioned
        stacks[slot.key].append(slot.env_id)
        self._thawed[slot.env_id] = slot
        self.idle_mb += slot.memory_mb
        self.idle_by_key[slot.key] = self.idle_by_key.get(slot.key, 0) + 1

    def remove(self, slot: EnvSlot) -> None:
        self._uncount_busy(slot)
        if self.slots.get(slot.env_id) is slot:
            del self.slots[slot.env_id]
            self.used_mb -= slot.memory_mb
            if slot.provisioned is not None:
                self._unprovisioned(slot)
            if slot.is_idle():
                self._not_idle(slot)
        slot.state = EnvState.DEAD
        self._thawed.pop(slot.env_id, None)
        for stacks in (self._idle, self._idle_provisioned):
            idle = stacks.get(slot.key)
            if idle and slot.env_id in idle:
                idle.remove(slot.env_id)

    def _not_idle(self, slot: EnvSlot) -> None:
        """Take an idle environment out of the idle tallies (it got busy, or went)."""
        self.idle_mb -= slot.memory_mb
        left = self.idle_by_key[slot.key] - 1
        if left:
            self.idle_by_key[slot.key] = left
        else:
            del self.idle_by_key[slot.key]

    def mark_frozen(self, slot: EnvSlot) -> bool:
        """Record a freeze; False if the environment was taken meanwhile."""
        if slot.state is EnvState.IDLE:
            slot.state = EnvState.FROZEN
            self._thawed.pop(slot.env_id, None)
            return True
        return False

    def has_thawed_idle(self) -> bool:
        """Whether any idle environment is not frozen (yet)."""
        return bool(self._thawed)

    def freeze_due(self, now: float, *, stalled: bool = False) -> list[EnvSlot]:
        """Idle, thawed environments to freeze now: idle for the grace at least, and for
        the hold if events of their key keep coming (one began within the grace).

        ``stalled``: the caller's event loop did not run for longer than its sweep period
        (a busy host's CPUs were taken), so no event could begin meanwhile and the lack
        of one says nothing about the load: only the hold applies."""
        grace = self.limits.freeze_grace_s
        hold = self.limits.thawed_at_most_s
        paused = -math.inf if stalled else now - grace  # began before this: not coming
        last_start = self._last_start
        out: list[EnvSlot] = []
        for slot in self._thawed.values():
            idle_for = now - slot.last_used
            if idle_for >= hold or (
                idle_for >= grace and last_start.get(slot.key, -math.inf) <= paused
            ):
                out.append(slot)
        return out

    def expired(self, now: float) -> list[EnvSlot]:
        """Idle environments to reclaim: idle too long, or past their maximum lifetime."""
        out = []
        for slot in list(self.slots.values()):
            if not slot.is_idle() or slot.provisioned is not None:
                continue  # provisioned environments are kept while their configuration is
            if (
                now - slot.last_used >= self.limits.idle_reclaim_s
                or now - slot.created_at >= self.limits.max_lifetime_s
            ):
                out.append(slot)
        for slot in out:
            self.remove(slot)
        hold = self.limits.thawed_at_most_s
        for key in [k for k, t in self._last_start.items() if now - t >= hold]:
            del self._last_start[key]
        return out

    def drain(self, key_prefix: str) -> list[EnvSlot]:
        """Remove idle environments whose key starts with ``key_prefix`` (code changed).

        Provisioned ones stay: they serve a published version, which never changes (its
        configuration's deletion retires them)."""
        out = [
            s
            for s in self.slots.values()
            if s.is_idle() and s.key.startswith(key_prefix) and s.provisioned is None
        ]
        for slot in out:
            self.remove(slot)
        return out

    def _end_activity(self, function: str) -> None:
        self._active[function] -= 1
        if self._active[function] <= 0:
            del self._active[function]
        if function not in self._reserved:
            self._unreserved_active -= 1
