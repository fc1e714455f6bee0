from __future__ import annotations

from lamina.cluster.placement import Cold, NoRoom, Placement, Throttle, Warm, home_score
from lamina.scheduler.pool import REASON_ACCOUNT, REASON_RESERVED


def three_nodes(capacity_mb: int = 1024) -> Placement:
    p = Placement(account=100)
    for node in ("a", "b", "c"):
        p.join(node, capacity_mb, 2.0)
    return p


def test_cold_start_goes_to_the_versions_home_node() -> None:
    p = three_nodes()
    home = max("abc", key=lambda n: home_score(n, "f:$LATEST"))
    d = p.place("f", "$LATEST", "f:$LATEST:r1", 128)
    assert d == Cold(home, home=True)
    assert p.nodes[home].used_mb == 128


def test_different_versions_spread_over_nodes() -> None:
    p = three_nodes(capacity_mb=10_240)
    homes = set()
    for i in range(30):
        d = p.place(f"f{i}", "$LATEST", f"f{i}:$LATEST:r", 128)
        assert isinstance(d, Cold)
        homes.add(d.node_id)
    assert homes == {"a", "b", "c"}


def test_warm_environment_is_reused_where_it_is() -> None:
    p = three_nodes()
    home = p.home("f:$LATEST")
    assert home is not None
    other = next(n for n in "abc" if n != home.node_id)
    p.report(other, 128, {"f:$LATEST:r1": 1})
    assert p.place("f", "$LATEST", "f:$LATEST:r1", 128) == Warm(other)
    assert p.nodes[other].idle["f:$LATEST:r1"] == 0
    # The next one finds no idle environment: a cold start at home.
    assert p.place("f", "$LATEST", "f:$LATEST:r1", 128) == Cold(home.node_id, home=True)


def test_full_home_node_spills_to_the_node_with_most_room() -> None:
    p = three_nodes(capacity_mb=256)
    home = p.home("f:$LATEST")
    assert home is not None
    p.report(home.node_id, 256, {})
    others = [n for n in "abc" if n != home.node_id]
    p.report(others[0], 128, {})
    d = p.place("f", "$LATEST", "f:$LATEST:r1", 128)
    assert d == Cold(others[1], home=False)


def test_memory_sum_never_exceeds_capacity_and_no_room_is_counted() -> None:
    p = three_nodes(capacity_mb=256)
    placed = [p.place("f", "$LATEST", "k", 128) for _ in range(6)]
    assert all(isinstance(d, Cold) for d in placed)
    assert all(n.used_mb <= n.capacity_mb for n in p.nodes.values())
    d = p.place("f", "$LATEST", "k", 128)
    assert isinstance(d, NoRoom)
    assert (p.unmet, p.unmet_mb) == (1, 128)
    assert p.active("f") == 6  # the refused invoke holds no concurrency


def test_lost_node_takes_no_new_invokes_and_rejoins() -> None:
    p = three_nodes()
    home = p.home("f:$LATEST")
    assert home is not None
    p.report(home.node_id, 128, {"k": 1})
    p.lose(home.node_id)
    d = p.place("f", "$LATEST", "k", 128)
    assert isinstance(d, Cold) and d.node_id != home.node_id
    p.join(home.node_id, 1024, 2.0)
    assert p.home("f:$LATEST") is not None
    assert p.home("f:$LATEST").node_id == home.node_id  # type: ignore[union-attr]


def test_no_live_node_is_no_room() -> None:
    p = Placement()
    assert isinstance(p.place("f", "1", "k", 128), NoRoom)


def test_account_concurrency_holds_cluster_wide() -> None:
    p = Placement(account=2)
    for node in ("a", "b"):
        p.join(node, 10_240, 2.0)
    assert isinstance(p.place("f", "1", "k", 128), Cold)
    assert isinstance(p.place("g", "1", "k2", 128), Cold)
    assert p.place("h", "1", "k3", 128) == Throttle(REASON_ACCOUNT, "Rate Exceeded.")
    p.finish("f", "a")
    assert not isinstance(p.place("h", "1", "k3", 128), Throttle)


def test_reserved_concurrency_holds_cluster_wide() -> None:
    p = three_nodes(capacity_mb=10_240)
    p.set_reserved("f", 1)
    d = p.place("f", "1", "k", 128)
    assert isinstance(d, Cold)
    assert p.place("f", "1", "k", 128) == Throttle(REASON_RESERVED, "Rate Exceeded.")
    p.finish("f", d.node_id)
    assert p.nodes[d.node_id].busy == 0
    assert isinstance(p.place("f", "1", "k", 128), Cold)


def test_a_node_full_of_idle_environments_makes_room_for_a_cold_start() -> None:
    p = three_nodes(capacity_mb=512)
    for node in "abc":
        p.report(node, 512, {"other:1:r": 2}, idle_mb=512)
    home = p.home("f:$LATEST")
    assert home is not None
    d = p.place("f", "$LATEST", "f:$LATEST:r", 256)
    assert d == Cold(home.node_id, home=True, make_room_mb=256)
    assert (home.used_mb, home.idle_mb) == (512, 256)


def test_busy_memory_is_never_reclaimed() -> None:
    p = three_nodes(capacity_mb=512)
    for node in "abc":
        p.report(node, 512, {"other:1:r": 1}, idle_mb=128)
    assert isinstance(p.place("f", "$LATEST", "k", 256), NoRoom)
