"""Provisioned concurrency in the pool (pure) and the Provisioner (with a fake start)."""

from __future__ import annotations

import asyncio

import pytest

from lamina.billing.provisioned import ProvisionedSpan
from lamina.errors import InvalidParameterValue, ResourceConflict
from lamina.models import provisioned
from lamina.models.function import FunctionConfig
from lamina.scheduler.pool import (
    REASON_RESERVED,
    ColdStart,
    EnvSlot,
    EnvState,
    Pool,
    PoolLimits,
    Throttle,
    UseWarm,
)
from lamina.scheduler.provisioned import Provisioner


def ready_slot(pool: Pool, config: str = "f:live", key: str = "f:1:r") -> EnvSlot:
    slot = pool.provision("f", key, 0.0, 128, config)
    assert isinstance(slot, EnvSlot)
    pool.started(slot)
    pool.release(slot, 0.0, reusable=True)
    return slot


def test_invokes_take_provisioned_environments_before_on_demand_ones() -> None:
    pool = Pool(PoolLimits())
    on_demand = pool.acquire("f", "f:1:r", 0.0, 128)
    assert isinstance(on_demand, ColdStart)
    pool.started(on_demand.slot)
    pool.release(on_demand.slot, 5.0, reusable=True)  # the most recently used idle one
    kept = ready_slot(pool)
    assert (kept.init_type, kept.provisioned) == ("provisioned-concurrency", "f:live")
    first = pool.acquire("f", "f:1:r", 6.0)
    assert isinstance(first, UseWarm) and first.slot is kept
    second = pool.acquire("f", "f:1:r", 6.0)  # the provisioned one is busy: spill over
    assert isinstance(second, UseWarm) and second.slot is on_demand.slot
    third = pool.acquire("f", "f:1:r", 6.0)
    assert isinstance(third, ColdStart) and third.slot.provisioned is None
    assert third.slot.init_type == "on-demand"


def test_the_busy_count_follows_taking_giving_back_unprovisioning_and_removal() -> None:
    pool = Pool(PoolLimits())
    slots = [ready_slot(pool) for _ in range(3)]
    other = ready_slot(pool, config="f:other", key="f:2:r")
    assert pool.provisioned_busy("f:live") == 0
    taken, counts = [], []
    for _ in range(3):
        taken.append(pool.acquire("f", "f:1:r", 1.0))
        counts.append(pool.provisioned_busy("f:live"))
    assert all(isinstance(t, UseWarm) and t.slot in slots for t in taken)
    assert counts == [1, 2, 3] and pool.provisioned_busy("f:other") == 0
    # An on-demand one (all provisioned busy) does not count.
    spilled = pool.acquire("f", "f:1:r", 1.0)
    assert isinstance(spilled, ColdStart) and pool.provisioned_busy("f:live") == 3
    first, second, third = (t.slot for t in taken if isinstance(t, UseWarm))
    pool.release(first, 2.0, reusable=True)
    assert pool.provisioned_busy("f:live") == 2
    assert pool.unprovision(second) is False  # busy: it finishes as on-demand
    assert pool.provisioned_busy("f:live") == 1
    pool.release(second, 2.0, reusable=True)
    assert pool.provisioned_busy("f:live") == 1
    pool.release(third, 2.0, reusable=False)  # crashed: removed
    assert pool.provisioned_busy("f:live") == 0
    again = pool.acquire("f", "f:1:r", 3.0)
    assert isinstance(again, UseWarm) and again.slot is first
    assert pool.provisioned_busy("f:live") == 1
    pool.remove(again.slot)
    pool.remove(again.slot)  # twice: counted once
    assert pool.provisioned_busy("f:live") == 0
    assert pool.acquire("f", "f:2:r", 4.0) == UseWarm(other)
    assert pool.provisioned_busy("f:other") == 1


def test_provisioned_environments_are_never_reclaimed_or_drained() -> None:
    pool = Pool(PoolLimits(idle_reclaim_s=10, max_lifetime_s=20))
    kept = ready_slot(pool)
    plain = pool.acquire("f", "f:1:r", 0.0)
    assert isinstance(plain, UseWarm)  # it took the provisioned one
    pool.release(plain.slot, 0.0, reusable=True)
    assert pool.expired(1_000.0) == []
    assert pool.drain("f:") == []
    assert pool.provisioned("f:live") == [kept]


def test_provisioning_counts_against_reserved_concurrency_while_it_initialises() -> None:
    pool = Pool(PoolLimits())
    pool.set_reserved("f", 1)
    slot = pool.provision("f", "f:1:r", 0.0, 128, "f:live")
    assert isinstance(slot, EnvSlot) and slot.state is EnvState.STARTING
    refused = pool.provision("f", "f:1:r", 0.0, 128, "f:live")
    assert isinstance(refused, Throttle) and refused.reason == REASON_RESERVED
    pool.started(slot)
    pool.release(slot, 0.0, reusable=True)
    assert pool.active("f") == 0


def test_unprovision_removes_an_idle_one_and_turns_a_busy_one_on_demand() -> None:
    pool = Pool(PoolLimits())
    idle = ready_slot(pool)
    busy = ready_slot(pool)
    taken = pool.acquire("f", "f:1:r", 1.0)
    assert isinstance(taken, UseWarm)
    assert pool.unprovision(taken.slot) is False
    assert taken.slot.provisioned is None
    other = busy if taken.slot is idle else idle
    assert pool.unprovision(other) is True
    assert other.state is EnvState.DEAD
    pool.release(taken.slot, 2.0, reusable=True)
    assert pool.provisioned("f:live") == []
    assert pool.expired(1_000.0) == [taken.slot]  # on-demand now: reclaimed when idle


CFG = FunctionConfig(
    name="f",
    runtime="python3.11",
    handler="app.handler",
    code_sha256="00",
    code_size=1,
    version="1",
    revision_id="r",
)


class FakeStarts:
    """Starts environments in a real pool; ``fail`` makes the next INITs fail."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.fail = False
        self.retired: list[EnvSlot] = []

    async def start(self, cfg: FunctionConfig, config: str) -> bool:
        slot = self.pool.provision(cfg.name, cfg.cache_key, 0.0, cfg.memory_mb, config)
        assert isinstance(slot, EnvSlot)
        await asyncio.sleep(0)
        ok = not self.fail
        if ok:
            self.pool.started(slot)
        self.pool.release(slot, 0.0, reusable=ok)
        return ok

    def retire(self, slot: EnvSlot) -> None:
        self.retired.append(slot)


def test_the_provisioner_fills_reports_replaces_and_retires() -> None:
    async def scenario() -> None:
        pool = Pool(PoolLimits())
        starts = FakeStarts(pool)
        clock = iter([100.0, 160.0, 200.0, 260.0]).__next__
        spans: list[ProvisionedSpan] = []
        prov = Provisioner(pool, starts.start, starts.retire, clock=clock)
        prov.on_span = spans.append
        prov.apply("f", "live", CFG, 2)
        assert prov.allocation("f", "live") == provisioned.Allocation(0, 0, "IN_PROGRESS")
        await asyncio.sleep(0.01)
        assert prov.allocation("f", "live") == provisioned.Allocation(2, 2, "READY")  # at 100
        # One dies: replaced, still READY.
        lost = pool.provisioned("f:live")[0]
        pool.remove(lost)
        prov.lost(lost)
        await asyncio.sleep(0.01)
        assert prov.allocation("f", "live") == provisioned.Allocation(2, 2, "READY")
        # Lowered to 1: the span at 2 ends (at 160), one is retired, READY again at 200.
        prov.apply("f", "live", CFG, 1)
        assert len(starts.retired) == 1
        await asyncio.sleep(0.01)
        assert prov.allocation("f", "live") == provisioned.Allocation(1, 1, "READY")
        prov.apply("f", "live", None, 0)  # deleted at 260
        assert len(starts.retired) == 2 and pool.provisioned("f:live") == []
        assert prov.allocation("f", "live") == provisioned.Allocation()
        assert [(s.concurrency, s.ready_at, s.ended_at) for s in spans] == [
            (2, 100.0, 160.0),
            (1, 200.0, 260.0),
        ]

    asyncio.run(scenario())


def test_a_failed_init_makes_the_allocation_failed() -> None:
    async def scenario() -> None:
        pool = Pool(PoolLimits())
        starts = FakeStarts(pool)
        starts.fail = True
        prov = Provisioner(pool, starts.start, starts.retire)
        prov.apply("f", "1", CFG, 1)
        await asyncio.sleep(0.01)
        assert prov.allocation("f", "1") == provisioned.Allocation(
            0, 0, "FAILED", "FUNCTION_ERROR_INIT_FAILURE"
        )

    asyncio.run(scenario())


def test_the_rules_of_a_request() -> None:
    assert provisioned.check_requested(3) == 3
    for bad in (0, -1, True, "2", None):
        with pytest.raises(InvalidParameterValue):
            provisioned.check_requested(bad)
    for bad_q in (None, "", "$LATEST"):
        with pytest.raises(InvalidParameterValue, match="unpublished"):
            provisioned.check_qualifier(bad_q)
    provisioned.check_room(5, 5, reserved=10, unreserved=0, unreserved_minimum=100)
    with pytest.raises(InvalidParameterValue, match="reservedConcurrentExecution"):
        provisioned.check_room(6, 5, reserved=10, unreserved=1000, unreserved_minimum=100)
    provisioned.check_room(900, 0, reserved=None, unreserved=1000, unreserved_minimum=100)
    with pytest.raises(InvalidParameterValue, match=r"minimum value of \[100\]"):
        provisioned.check_room(900, 1, reserved=None, unreserved=1000, unreserved_minimum=100)
    provisioned.check_not_both("f", "live", "1", {"live": "1", "2": "2"})
    with pytest.raises(ResourceConflict):
        provisioned.check_not_both("f", "1", "1", {"live": "1"})
