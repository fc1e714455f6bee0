"""What a worker ships back: its log lines name their function when the folder does not."""

from __future__ import annotations

from pathlib import Path

from lamina.cluster.node_state import MAX_NAMES, ShippingLogs


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
