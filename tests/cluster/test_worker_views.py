"""Real workers behind the framed connection, without Ray: what the control plane's views
read from the nodes — their environments, and a custom log group's lines on the tail —
and which of a leaving node's warm environments are started again elsewhere (the rig is
in :mod:`tests.cluster.workers`)."""

from __future__ import annotations

import asyncio
import json
import signal

import pytest

from lamina.cluster.views import NodeViews, cluster_environments
from lamina.runtime_api.bus import TelemetryBus, text_of
from lamina.scheduler.driver import InvokeRequest
from tests.cluster.workers import Control, WorkerRig, until

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


def test_the_nodes_list_their_environments_each_named_with_its_node(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r = c.router
        one, two = rig.cfg.with_changes(name="on-one"), rig.cfg.with_changes(name="on-two")
        r.placement.lose("n2")
        assert (await r.invoke(InvokeRequest(one, b"{}", "arn:1"))).node == "n1"
        await r.invoke(InvokeRequest(one, b"{}", "arn:1"))  # warm: the same one
        r.placement.join("n2", 1024, 2)
        r.placement.lose("n1")
        assert (await r.invoke(InvokeRequest(two, b"{}", "arn:2"))).node == "n2"
        r.placement.join("n1", 1024, 2)

        view = await cluster_environments(r)
        listed = sorted((e.node, e.function, e.invocations) for e in view.environments)
        assert listed == [("n1", "on-one", 2), ("n2", "on-two", 1)]
        assert all(e.state in ("idle", "frozen") for e in view.environments)
        assert [(n.node, n.answered, n.environments) for n in view.nodes or ()] == [
            ("n1", True, 1),
            ("n2", True, 1),
        ]
        n1 = view.by_node_and_state()["n1"]
        assert n1["idle"] + n1["frozen"] == 1 and n1["busy"] == n1["starting"] == 0

        # A node that does not answer in time is listed as such; the others still are.
        c.workers["n2"].send_signal(signal.SIGSTOP)
        try:
            view = await cluster_environments(r, timeout_s=0.5)
        finally:
            c.workers["n2"].send_signal(signal.SIGCONT)
        assert [(n.node, n.answered) for n in view.nodes or ()] == [("n1", True), ("n2", False)]
        assert {e.node for e in view.environments} == {"n1"}
        # Its connection is still good once it runs again (the late reply is dropped).
        again = await r.invoke(InvokeRequest(two, b"{}", "arn:2"))
        assert again.node == "n2" and again.function_error is None

    rig.run(scenario, more_nodes=["n2"])


async def times_asked(c: Control, node: str) -> int:
    """How many ``envs`` questions ``node``'s worker has answered, this one included (the
    worker counts them itself)."""
    frame = await c.router.connections[node].ask("envs")
    asked = frame.header["asked"]
    assert isinstance(asked, int)
    return asked


def test_the_views_reuse_each_nodes_answer_within_the_window(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        now = [1000.0]
        views = NodeViews(c.router, max_age_s=1.0, clock=lambda: now[0])
        await c.router.invoke(InvokeRequest(rig.cfg, b"{}", "arn:1"))

        first = await views.environments()
        now[0] += 0.4
        second = await views.environments()
        assert (
            [e.function for e in second.environments]
            == ["echo"]
            == [e.function for e in first.environments]
        )
        assert [(n.answered, n.age_s) for n in second.nodes or ()] == [(True, 0.4)]
        assert await times_asked(c, "n1") == 2  # one question for both reads (+ this one)

        now[0] += 0.7  # past the window: asked again
        third = await views.environments()
        assert [(n.answered, n.age_s) for n in third.nodes or ()] == [(True, 0.0)]
        assert await times_asked(c, "n1") == 4

        # Readers that arrive together share the question in flight.
        now[0] += 2.0
        views_now = await asyncio.gather(*(views.environments() for _ in range(3)))
        assert all(len(v.environments) == 1 for v in views_now)
        assert await times_asked(c, "n1") == 6

    rig.run(scenario)


def test_a_silent_node_costs_its_timeout_once_per_window_not_per_reader(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        now = [1000.0]
        views = NodeViews(c.router, max_age_s=1.0, timeout_s=0.5, clock=lambda: now[0])
        assert await times_asked(c, "n2") == 1
        c.workers["n2"].send_signal(signal.SIGSTOP)
        try:
            together = await asyncio.gather(*(views.environments() for _ in range(3)))
            now[0] += 0.5
            later = await views.environments()  # within the window: no new question
        finally:
            c.workers["n2"].send_signal(signal.SIGCONT)
        for view in [*together, later]:
            assert [(n.node, n.answered) for n in view.nodes or ()] == [("n1", True), ("n2", False)]
        assert [n.age_s for n in later.nodes or ()] == [0.5, 0.5]
        # The stopped worker read its questions once it ran again: one from the views.
        assert await times_asked(c, "n2") == 3
        assert await times_asked(c, "n1") == 2

        now[0] += 1.0  # past the window: the node is asked again, and now answers
        again = await views.environments()
        assert [(n.node, n.answered) for n in again.nodes or ()] == [("n1", True), ("n2", True)]

    rig.run(scenario, more_nodes=["n2"])


def test_a_function_with_its_own_log_group_is_followed_by_the_live_tail(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r = c.router
        r.bus = bus = TelemetryBus()
        cfg = rig.cfg.with_changes(name="grouped", log_group="/custom/shared-group")
        other = rig.cfg.with_changes(name="also-grouped", log_group="/custom/shared-group")
        bus.watch("grouped")
        bus.watch("also-grouped")
        first = await r.invoke(InvokeRequest(cfg, b"{}", "arn:g"))
        await r.invoke(InvokeRequest(other, b"{}", "arn:o"))

        def lines(function: str) -> list[str]:
            return [text_of(e) for e in bus.read(function)]

        assert await until(lambda: any("REPORT" in t for t in lines("also-grouped")))
        assert await until(lambda: any("REPORT" in t for t in lines("grouped")))
        mine = lines("grouped")
        assert any(f"START RequestId: {first.request_id}" in t for t in mine)
        assert any(t.startswith("hello from") for t in mine)
        # Two functions share the group: each tail shows its own function's lines only.
        assert sum("START RequestId" in t for t in mine) == 1
        assert sum("START RequestId" in t for t in lines("also-grouped")) == 1
        # The lines are stored in the group's folder, as on one machine.
        c.logs.flush()
        folders = c.logs.folders()
        assert any(f.startswith("~") for f in folders), folders
        assert "grouped" not in folders

    rig.run(scenario)


def test_a_leaving_node_rewarms_only_its_recently_used_environments(rig: WorkerRig) -> None:
    async def scenario(c: Control) -> None:
        r = c.router
        r.rewarm_window_s = 1.5  # "recent" for this test: the last 1.5 s
        stale, hot = rig.cfg.with_changes(name="stale"), rig.cfg.with_changes(name="hot")
        r.placement.lose("n2")
        await r.invoke(InvokeRequest(stale, b"{}", "arn:s"))
        await asyncio.sleep(3.0)  # stale's environment: idle for longer than the window
        await r.invoke(InvokeRequest(hot, b"{}", "arn:h"))
        r.placement.join("n2", 1024, 2)
        n2 = r.placement.nodes["n2"]
        c.workers["n1"].send_signal(signal.SIGTERM)  # n1 leaves
        assert await until(lambda: n2.idle.get(hot.cache_key, 0) == 1, tries=100)
        # The rewarm frames left together, most recent first: give a stale one time.
        await asyncio.sleep(2.0)
        assert n2.idle.get(stale.cache_key, 0) == 0
        again = await r.invoke(InvokeRequest(hot, b"{}", "arn:h"))
        assert again.node == "n2"
        assert not (await c.shipped(again.request_id)).cold
        later = await r.invoke(InvokeRequest(stale, b"{}", "arn:s"))
        assert later.node == "n2" and json.loads(later.payload)["echo"] == {}
        assert (await c.shipped(later.request_id)).cold  # it was not rewarmed

    rig.run(scenario, more_nodes=["n2"])


def test_a_leaving_node_stops_its_idle_environments_while_its_busy_ones_finish(
    rig: WorkerRig,
) -> None:
    async def scenario(c: Control) -> None:
        r = c.router
        idle = rig.cfg.with_changes(name="idle-one")
        busy = rig.cfg.with_changes(name="busy-one", timeout_s=30)
        await r.invoke(InvokeRequest(idle, b"{}", "arn:i"))
        running = asyncio.ensure_future(r.invoke(InvokeRequest(busy, b'{"sleep":3}', "arn:b")))
        states: dict[str, str] = {}
        for _ in range(100):  # until the busy one runs its event (its INIT is over)
            states = {e.function: e.state for e in (await cluster_environments(r)).environments}
            if states.get("busy-one") == "busy":
                break
            await asyncio.sleep(0.1)
        assert states.get("busy-one") == "busy"
        assert states.get("idle-one") in ("idle", "frozen")
        c.workers["n1"].send_signal(signal.SIGTERM)
        assert await until(lambda: not r.placement.nodes["n1"].alive)
        during = await cluster_environments(r)
        # The idle one is stopped at once; the busy one runs on to its answer.
        assert [(e.function, e.state) for e in during.environments] == [("busy-one", "busy")]
        done = await running
        assert done.node == "n1" and json.loads(done.payload)["echo"] == {"sleep": 3}
        assert await asyncio.to_thread(c.workers["n1"].wait, 30) == 0

    rig.run(scenario)


def test_a_leave_frame_makes_the_worker_leave_as_sigterm_does(rig: WorkerRig) -> None:
    """What the fleet sends for a node Ray drains (Ray schedules no task there any more)."""

    async def scenario(c: Control) -> None:
        r = c.router
        running = asyncio.ensure_future(
            r.invoke(InvokeRequest(rig.cfg.with_changes(timeout_s=30), b'{"sleep":2}', "arn:b"))
        )
        assert await until(lambda: r.placement.nodes["n1"].busy == 1)
        r.connections["n1"].leave(60.0)
        assert await until(lambda: not r.placement.nodes["n1"].alive)
        done = await running  # the invoke in flight finishes; then the worker exits
        assert done.node == "n1" and json.loads(done.payload)["echo"] == {"sleep": 2}
        assert await asyncio.to_thread(c.workers["n1"].wait, 30) == 0

    rig.run(scenario)
