from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lamina.scheduler.pool import (
    REASON_ACCOUNT,
    REASON_RESERVED,
    ColdStart,
    EnvSlot,
    EnvState,
    Pool,
    PoolLimits,
    Throttle,
    UseWarm,
)


def test_first_invoke_is_cold_and_the_next_reuses_the_warm_environment() -> None:
    pool = Pool(PoolLimits())
    first = pool.acquire("f", "f:1", now=0.0)
    assert isinstance(first, ColdStart)
    pool.started(first.slot)
    pool.release(first.slot, now=1.0, reusable=True)
    second = pool.acquire("f", "f:1", now=2.0)
    assert isinstance(second, UseWarm) and second.slot is first.slot
    assert second.slot.state is EnvState.BUSY


def test_concurrent_invokes_scale_out_to_separate_environments() -> None:
    pool = Pool(PoolLimits())
    a = pool.acquire("f", "k", 0.0)
    b = pool.acquire("f", "k", 0.0)
    assert isinstance(a, ColdStart) and isinstance(b, ColdStart)
    assert a.slot.env_id != b.slot.env_id
    assert pool.active("f") == 2


def test_a_changed_configuration_never_reuses_old_environments() -> None:
    pool = Pool(PoolLimits())
    d = pool.acquire("f", "f:$LATEST:rev1", 0.0)
    pool.release(d.slot, 1.0, reusable=True)  # type: ignore[union-attr]
    assert isinstance(pool.acquire("f", "f:$LATEST:rev2", 2.0), ColdStart)


def test_account_limit_throttles_at_once() -> None:
    pool = Pool(PoolLimits(account=2))
    pool.acquire("f", "k", 0.0)
    pool.acquire("g", "j", 0.0)
    decision = pool.acquire("h", "i", 0.0)
    assert isinstance(decision, Throttle) and decision.reason == REASON_ACCOUNT


def test_reserved_concurrency_caps_the_function_and_is_carved_out_of_the_pool() -> None:
    pool = Pool(PoolLimits(account=10))
    pool.set_reserved("r", 2)
    assert pool.unreserved_limit() == 8
    pool.acquire("r", "r", 0.0)
    pool.acquire("r", "r", 0.0)
    decision = pool.acquire("r", "r", 0.0)
    assert isinstance(decision, Throttle) and decision.reason == REASON_RESERVED
    # The reserved function's executions do not count against the others.
    for _ in range(8):
        assert not isinstance(pool.acquire("other", "o", 0.0), Throttle)
    assert isinstance(pool.acquire("other", "o", 0.0), Throttle)


def test_reserved_zero_disables_a_function() -> None:
    pool = Pool(PoolLimits())
    pool.set_reserved("off", 0)
    assert isinstance(pool.acquire("off", "k", 0.0), Throttle)


def test_release_frees_concurrency_and_crashed_environments_are_dropped() -> None:
    pool = Pool(PoolLimits(account=1))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 1.0, reusable=False)  # type: ignore[union-attr]
    assert pool.active() == 0 and pool.environments() == []
    assert isinstance(pool.acquire("f", "k", 2.0), ColdStart)


def test_idle_environments_are_reclaimed_after_the_idle_time() -> None:
    pool = Pool(PoolLimits(idle_reclaim_s=60, max_lifetime_s=1000))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 10.0, reusable=True)  # type: ignore[union-attr]
    assert pool.expired(now=69.0) == []
    assert [s.env_id for s in pool.expired(now=70.0)] == [d.slot.env_id]  # type: ignore[union-attr]
    assert isinstance(pool.acquire("f", "k", 71.0), ColdStart)


def test_environments_past_their_lifetime_are_recycled_when_idle() -> None:
    pool = Pool(PoolLimits(idle_reclaim_s=1e9, max_lifetime_s=100))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 99.0, reusable=True)  # type: ignore[union-attr]
    assert pool.expired(now=99.5) == []
    assert len(pool.expired(now=100.0)) == 1


def test_busy_environments_are_never_reclaimed_or_frozen() -> None:
    pool = Pool(PoolLimits(idle_reclaim_s=1))
    d = pool.acquire("f", "k", 0.0)
    assert pool.expired(now=1000.0) == []
    assert pool.mark_frozen(d.slot) is False  # type: ignore[union-attr]


def test_a_frozen_environment_is_reused_warm() -> None:
    pool = Pool(PoolLimits())
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 1.0, reusable=True)  # type: ignore[union-attr]
    assert pool.mark_frozen(d.slot)  # type: ignore[union-attr]
    again = pool.acquire("f", "k", 2.0)
    assert isinstance(again, UseWarm) and again.slot.state is EnvState.BUSY


def test_drain_removes_idle_environments_of_a_function() -> None:
    pool = Pool(PoolLimits())
    d = pool.acquire("f", "f:$LATEST:1", 0.0)
    pool.release(d.slot, 1.0, reusable=True)  # type: ignore[union-attr]
    drained = pool.drain("f:")
    assert len(drained) == 1 and pool.environments() == []


def test_removing_a_reservation_moves_active_executions_back_to_the_shared_pool() -> None:
    pool = Pool(PoolLimits(account=3))
    pool.set_reserved("r", 1)
    d = pool.acquire("r", "r", 0.0)
    pool.set_reserved("r", None)
    pool.acquire("a", "a", 0.0)
    pool.acquire("b", "b", 0.0)
    assert isinstance(pool.acquire("c", "c", 0.0), Throttle)
    pool.release(d.slot, 1.0, reusable=True)  # type: ignore[union-attr]
    assert not isinstance(pool.acquire("c", "c", 0.0), Throttle)


def test_the_most_recently_used_idle_environment_is_reused_first() -> None:
    pool = Pool(PoolLimits())
    slots = [pool.acquire("f", "k", 0.0).slot for _ in range(3)]  # type: ignore[union-attr]
    for i, slot in enumerate(slots):
        pool.release(slot, 1.0 + i, reusable=True)
    # The last one back is hot in the CPU's caches; the first one back ages out.
    taken = [pool.acquire("f", "k", 5.0).slot for _ in range(3)]  # type: ignore[union-attr]
    assert taken == slots[::-1]


def test_an_idle_environment_is_due_for_freezing_once_it_has_idled_the_grace() -> None:
    pool = Pool(PoolLimits(freeze_grace_s=0.05, freeze_hold_s=1.0))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 0.01, reusable=True)  # type: ignore[union-attr]
    assert pool.has_thawed_idle()
    assert pool.freeze_due(0.059) == []
    assert pool.freeze_due(0.061) == [d.slot]  # type: ignore[union-attr]
    assert pool.mark_frozen(d.slot)  # type: ignore[union-attr]
    assert not pool.has_thawed_idle() and pool.freeze_due(10.0) == []


def test_busy_environments_are_never_due_for_freezing() -> None:
    pool = Pool(PoolLimits(freeze_grace_s=0.05))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 0.01, reusable=True)  # type: ignore[union-attr]
    again = pool.acquire("f", "k", 0.02)
    assert isinstance(again, UseWarm)
    assert not pool.has_thawed_idle() and pool.freeze_due(100.0) == []


def test_while_events_keep_coming_idle_environments_stay_thawed_up_to_the_hold() -> None:
    """A steady concurrency wobbles: environments at the bottom of the idle stack idle
    past the grace, and the next events may take them back any moment."""
    pool = Pool(PoolLimits(freeze_grace_s=0.05, freeze_hold_s=1.0))
    spare, top = (pool.acquire("f", "k", 0.0).slot for _ in range(2))  # type: ignore[union-attr]
    pool.release(spare, 0.01, reusable=True)
    pool.release(top, 0.02, reusable=True)
    now = 0.02
    while now < 0.9:  # one caller at a time: always the top environment
        now += 0.01
        taken = pool.acquire("f", "k", now)
        assert isinstance(taken, UseWarm) and taken.slot is top
        pool.release(top, now + 0.001, reusable=True)
        assert pool.freeze_due(now + 0.002) == []  # `spare` idles 0.9 s, thawed
    # Past the hold it is frozen although events still come ...
    pool.acquire("f", "k", 1.005)  # `top` busy again
    assert pool.freeze_due(1.011) == [spare]
    # ... and once they pause, everything idle for the grace is.
    pool.release(top, 1.006, reusable=True)
    assert pool.mark_frozen(spare)
    assert pool.freeze_due(1.05) == []
    assert pool.freeze_due(1.056) == [top]


def test_other_functions_events_do_not_hold_an_idle_environment_thawed() -> None:
    pool = Pool(PoolLimits(freeze_grace_s=0.05, freeze_hold_s=1.0))
    d = pool.acquire("f", "f:1", 0.0)
    pool.release(d.slot, 0.01, reusable=True)  # type: ignore[union-attr]
    for i in range(10):
        g = pool.acquire("g", "g:1", 0.01 * i)
        pool.release(g.slot, 0.01 * i + 0.001, reusable=True)  # type: ignore[union-attr]
    assert d.slot in pool.freeze_due(0.095)  # type: ignore[union-attr]


def test_removed_environments_are_never_due_for_freezing() -> None:
    pool = Pool(PoolLimits(freeze_grace_s=0.05))
    d = pool.acquire("f", "f:1", 0.0)
    pool.release(d.slot, 0.01, reusable=True)  # type: ignore[union-attr]
    pool.drain("f:")
    assert not pool.has_thawed_idle() and pool.freeze_due(10.0) == []


def test_after_a_stall_of_the_callers_loop_only_the_hold_freezes() -> None:
    """No event could begin while the server's loop did not run: that none began within
    the grace then says nothing about the load."""
    pool = Pool(PoolLimits(freeze_grace_s=0.05, freeze_hold_s=1.0))
    d = pool.acquire("f", "k", 0.0)
    pool.release(d.slot, 0.01, reusable=True)  # type: ignore[union-attr]
    assert pool.freeze_due(0.2, stalled=True) == []
    assert pool.freeze_due(0.2) == [d.slot]  # type: ignore[union-attr]
    assert pool.freeze_due(1.011, stalled=True) == [d.slot]  # type: ignore[union-attr]


def _walked(pool: Pool) -> tuple[int, int, dict[str, int]]:
    """The tallies as a walk over every environment finds them (what they replace)."""
    idle: dict[str, int] = {}
    for s in pool.slots.values():
        if s.is_idle():
            idle[s.key] = idle.get(s.key, 0) + 1
    used = sum(s.memory_mb for s in pool.slots.values())
    idle_mb = sum(s.memory_mb for s in pool.slots.values() if s.is_idle())
    return used, idle_mb, idle


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["acquire", "release", "fail", "remove", "freeze", "expire", "drain"]),
            st.integers(0, 2),
            st.integers(0, 7),
        ),
        max_size=60,
    )
)
def test_the_memory_and_idle_tallies_match_a_walk_after_any_sequence(
    steps: list[tuple[str, int, int]],
) -> None:
    pool = Pool(PoolLimits(account=4, idle_reclaim_s=5.0))
    held: list[EnvSlot] = []  # busy or starting: what release/fail may end
    now = 0.0
    for op, fn, pick in steps:
        now += 1.0
        if op == "acquire":
            d = pool.acquire(f"f{fn}", f"f{fn}:k", now, memory_mb=128 * (fn + 1))
            if not isinstance(d, Throttle):
                if isinstance(d, ColdStart):
                    pool.started(d.slot)
                held.append(d.slot)
        elif op in ("release", "fail") and held:
            pool.release(held.pop(pick % len(held)), now, reusable=op == "release")
        elif op == "remove" and pool.slots:
            slot = list(pool.slots.values())[pick % len(pool.slots)]
            pool.remove(slot)
            pool.remove(slot)  # twice: the second changes nothing
        elif op == "freeze" and pool.slots:
            pool.mark_frozen(list(pool.slots.values())[pick % len(pool.slots)])
        elif op == "expire":
            pool.expired(now)
        elif op == "drain":
            pool.drain(f"f{fn}:")
        assert (pool.used_mb, pool.idle_mb, pool.idle_by_key) == _walked(pool)
