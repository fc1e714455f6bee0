"""What a worker ships back: its log lines name their function when the folder does not."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from lamina.cluster.node_state import MAX_NAMES, Shipment, ShippingLogs
from lamina.models.invocation import InvocationRecord, Outcome
from lamina.scheduler.driver import Scheduler
from lamina.scheduler.pool import Pool, PoolLimits


def test_a_nodes_log_lines_name_their_function_when_the_folder_does_not(tmp_path: Path) -> None:
    logs = ShippingLogs(tmp_path)
    logs.append("f", "s0", 1, "before the worker told any owners")
    owners = [("s1", "f"), ("s2", "g")]
    asked: list[int] = []

    def told() -> list[tuple[str, str]]:
        asked.append(1)
        return owners

    logs.owners = told
    logs.append("f", "s1", 2, "default group: the folder is the name")
    logs.append("~%2Fshared", "s2", 3, "own group")
    logs.append("~%2Fshared", "s2", 4, "own group again")
    logs.append("~%2Fshared", "gone", 5, "an environment no longer listed")
    assert [(e.function, e.name) for e in logs.pending] == [
        ("f", ""),
        ("f", ""),
        ("~%2Fshared", "g"),
        ("~%2Fshared", "g"),
        ("~%2Fshared", ""),
    ]
    assert len(asked) == 2  # s1 once (it learnt s2 too), then "gone" once; the rest remembered
    logs.append("~%2Fshared", "gone", 6, "still unknown")
    assert len(asked) == 2
    owners = [(f"s{i}", "f") for i in range(MAX_NAMES + 5)]
    logs.append("f", "new", 7, "a new stream past the bound: the map is rebuilt")
    assert len(asked) == 3


def test_a_capped_take_sends_the_oldest_and_keeps_the_rest_in_order(tmp_path: Path) -> None:
    logs = ShippingLogs(tmp_path)
    shipment = Shipment(logs)
    node = cast(Scheduler, SimpleNamespace(pool=Pool(PoolLimits())))
    rec = InvocationRecord(
        "r", "f", "$LATEST", 1.0, 1.0, 1, 128, 40, None, "x86_64", Outcome.SUCCESS
    )
    for i in range(5):
        shipment.record(rec._replace(request_id=f"r{i}"))
        logs.append("f", "s", i, f"line {i}")
    first = shipment.take(node, records_max=2, lines_max=3)
    assert [r.request_id for r in first.records] == ["r0", "r1"]
    assert [e.message for e in first.logs] == ["line 0", "line 1", "line 2"]
    assert shipment.has_pending()
    second = shipment.take(node, records_max=2, lines_max=3)
    assert [r.request_id for r in second.records] == ["r2", "r3"]
    assert [e.message for e in second.logs] == ["line 3", "line 4"]
    rest = shipment.take(node)  # uncapped: all that is left
    assert [r.request_id for r in rest.records] == ["r4"] and rest.logs == ()
    assert not shipment.has_pending()
