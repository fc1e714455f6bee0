"""Scale-down: a leaving node's idle environments stop, hot ones are rewarmed elsewhere."""

from __future__ import annotations

from lamina.cluster.drain import (
    DEFAULT_LEAVE_GRACE_S,
    DEFAULT_RECENT_S,
    EnvPhase,
    LeavingEnv,
    Rewarm,
    RoomElsewhere,
    leave_grace,
    plan_drain,
    recent_window,
)

NOW = 1000.0


def env(
    env_id: str,
    key: str = "f:1",
    phase: EnvPhase = EnvPhase.IDLE,
    last_used: float = NOW - 10,
    memory_mb: int = 512,
    timeout_s: float = 30.0,
) -> LeavingEnv:
    return LeavingEnv(env_id, key, memory_mb, phase, last_used, timeout_s)


def test_idle_environments_stop_and_busy_ones_are_waited_for() -> None:
    plan = plan_drain(
        [
            env("e1"),
            env("e2", phase=EnvPhase.BUSY, timeout_s=60),
            env("e3", phase=EnvPhase.STARTING),
        ],
        [],
        NOW,
    )
    assert plan.stop == ("e1",)
    assert plan.wait == ("e2", "e3")
    assert plan.deadline == NOW + 60  # the longest timeout among the busy
    assert not plan.is_ready()


def test_a_node_with_nothing_busy_may_leave_at_once() -> None:
    plan = plan_drain([env("e1")], [], NOW)
    assert plan.is_ready() and plan.deadline == NOW


def test_the_platforms_notice_caps_the_deadline() -> None:
    plan = plan_drain([env("e1", phase=EnvPhase.BUSY, timeout_s=900)], [], NOW, notice_s=30)
    assert plan.deadline == NOW + 30


def test_recently_used_environments_without_a_twin_are_rewarmed_on_the_roomiest_node() -> None:
    others = [RoomElsewhere("small", 600, {}), RoomElsewhere("big", 2048, {})]
    plan = plan_drain([env("e1", key="f:1"), env("e2", key="g:1", memory_mb=1024)], others, NOW)
    assert set(plan.rewarm) == {Rewarm("f:1", 512, "big"), Rewarm("g:1", 1024, "big")}


def test_an_idle_twin_elsewhere_means_no_rewarm() -> None:
    others = [RoomElsewhere("n2", 4096, {"f:1": 1})]
    plan = plan_drain([env("e1", key="f:1"), env("e2", key="f:1")], others, NOW)
    # One twin covers one of the two leaving environments; the other is replaced.
    assert plan.rewarm == (Rewarm("f:1", 512, "n2"),)
    assert plan.stop == ("e1", "e2")


def test_environments_idle_for_long_are_not_rewarmed() -> None:
    others = [RoomElsewhere("n2", 4096, {})]
    plan = plan_drain([env("e1", last_used=NOW - 3600)], others, NOW)
    assert plan.rewarm == () and plan.stop == ("e1",)


def test_when_room_is_short_the_most_recently_used_are_rewarmed_first() -> None:
    others = [RoomElsewhere("n2", 1024, {})]
    plan = plan_drain(
        [
            env("cold", key="a:1", last_used=NOW - 200),
            env("hot", key="b:1", last_used=NOW - 1),
            env("warm", key="c:1", last_used=NOW - 50),
        ],
        others,
        NOW,
    )
    assert [r.key for r in plan.rewarm] == ["b:1", "c:1"]  # 1024 MB holds two of 512


def test_no_room_anywhere_means_no_rewarm_but_still_a_clean_stop() -> None:
    plan = plan_drain([env("e1", memory_mb=2048)], [RoomElsewhere("n2", 1024, {})], NOW)
    assert plan.rewarm == () and plan.stop == ("e1",) and plan.is_ready()


def test_recent_means_the_last_five_minutes_or_the_idle_reclaim_horizon_if_shorter() -> None:
    assert DEFAULT_RECENT_S == 300.0
    assert recent_window(1800.0) == 300.0  # a long reclaim horizon: still 5 minutes
    assert recent_window(60.0) == 60.0  # idle longer would have been reclaimed already
    assert recent_window(-1.0) == 0.0


def test_only_environments_used_within_the_window_are_rewarmed() -> None:
    others = [RoomElsewhere("n2", 4096, {})]
    envs = [
        env("just", key="a:1", last_used=NOW - 1),
        env("edge", key="b:1", last_used=NOW - 60),
        env("old", key="c:1", last_used=NOW - 61),
    ]
    plan = plan_drain(envs, others, NOW, recent_s=recent_window(60.0))
    assert [r.key for r in plan.rewarm] == ["a:1", "b:1"]
    assert plan.stop == ("edge", "just", "old")  # every idle one stops, rewarmed or not


def test_a_node_ray_drains_has_until_rays_deadline_to_leave() -> None:
    assert leave_grace(1_030_500, 1000.0) == 30.5  # deadline in epoch ms, now in s
    assert leave_grace(900_000, 1000.0) == 0.0  # past: leave at once
    assert leave_grace(0, 1000.0) == DEFAULT_LEAVE_GRACE_S  # Ray set no deadline
