"""A node's environments as its worker tells them, and the views built from them (pure)."""

from __future__ import annotations

import pytest

from lamina.cluster.drain import EnvPhase
from lamina.cluster.frames import FrameError
from lamina.cluster.node_envs import (
    NodeEnv,
    as_leaving,
    envs_from_json,
    envs_to_json,
    leaving_envs,
)
from lamina.models.environments import EnvironmentsView, EnvironmentView, NodeAnswer

ENVS = (
    NodeEnv("1", "f", "f:$LATEST:r", "idle", 3, 128, 12.5),
    NodeEnv("2", "g", "g:$LATEST:r", "frozen", 1, 512, 400.0),
    NodeEnv("3", "g", "g:$LATEST:r", "busy", 7, 512, 0.0),
    NodeEnv("4", "h", "h:1:r", "starting", 0, 256, 0.0),
)


def test_environments_round_trip_as_rows() -> None:
    rows = envs_to_json(ENVS)
    assert rows[0] == ["1", "f", "f:$LATEST:r", "idle", 3, 128, 12.5]
    assert envs_from_json(rows) == ENVS
    assert [e.is_idle for e in ENVS] == [True, True, False, False]


@pytest.mark.parametrize("rows", [{"1": 2}, [["1", "f"]], [["1", "f", "k", "idle", "x", 1, 0]]])
def test_bad_rows_are_a_frame_error(rows: object) -> None:
    with pytest.raises(FrameError):
        envs_from_json(rows)


def test_a_leaving_frame_without_environments_is_told_apart_from_an_empty_one() -> None:
    assert leaving_envs({}) is None  # a worker of an earlier version
    assert leaving_envs({"envs": []}) == ()
    assert leaving_envs({"envs": envs_to_json(ENVS)}) == ENVS
    assert leaving_envs({"envs": "nonsense"}) is None  # logged, treated as told nothing


def test_leaving_environments_are_read_on_the_callers_clock() -> None:
    timeouts = {"f:$LATEST:r": 3.0, "g:$LATEST:r": 60.0}
    leaving = as_leaving(ENVS, 1000.0, lambda key: timeouts.get(key, 0.0))
    assert [(e.env_id, e.phase, e.last_used, e.timeout_s) for e in leaving] == [
        ("1", EnvPhase.IDLE, 987.5, 3.0),
        ("2", EnvPhase.IDLE, 600.0, 60.0),  # frozen is idle to the drain plan
        ("3", EnvPhase.BUSY, 1000.0, 60.0),
        ("4", EnvPhase.STARTING, 1000.0, 0.0),
    ]
    odd = as_leaving([NodeEnv("5", "f", "k", "sleeping", 0, 128, 0.0)], 0.0, lambda k: 1.0)
    assert odd[0].phase is EnvPhase.BUSY  # a state it does not know is waited for


def test_the_view_counts_environments_per_node_and_state() -> None:
    view = EnvironmentsView(
        (
            EnvironmentView("1", "f", "idle", 3, "n1"),
            EnvironmentView("2", "g", "busy", 1, "n1"),
            EnvironmentView("1", "f", "frozen", 2, "n2"),  # ids repeat across nodes
        ),
        (NodeAnswer("n1", True, 2), NodeAnswer("n2", True, 1), NodeAnswer("n3", False)),
    )
    assert view.is_cluster
    assert view.by_state() == {"starting": 0, "busy": 1, "idle": 1, "frozen": 1}
    assert view.by_node_and_state() == {
        "n1": {"starting": 0, "busy": 1, "idle": 1, "frozen": 0},
        "n2": {"starting": 0, "busy": 0, "idle": 0, "frozen": 1},
    }  # n3 did not answer: not listed as empty
    assert not EnvironmentsView(()).is_cluster
