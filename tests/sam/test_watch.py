"""Watch mode's decisions: what changed and which functions it affects."""

from __future__ import annotations

from pathlib import Path

from lamina.sam.model import CodeSource, FunctionSpec
from lamina.sam.watch import Root, Watcher, affected, changed_paths


def fn(lid: str, path: Path, runtime: str = "python3.12") -> FunctionSpec:
    return FunctionSpec(lid, f"app-{lid}", runtime, "app.handler", CodeSource("dir", path=path))


def test_changed_paths_sees_additions_removals_and_edits() -> None:
    old = {"a": (1, 1), "b": (1, 1), "c": (1, 1)}
    new = {"a": (1, 1), "b": (2, 1), "d": (1, 1)}
    assert changed_paths(old, new) == {"b", "c", "d"}


def test_affected_matches_roots_not_prefixes_of_names(tmp_path: Path) -> None:
    roots = {"Api": [Root(tmp_path / "api")], "Api2": [Root(tmp_path / "api2")]}
    assert affected(roots, {str(tmp_path / "api2" / "x.py")}) == {"Api2"}
    assert affected(roots, {str(tmp_path / "other.py")}) == set()


def test_watcher_reports_the_functions_whose_code_changed(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "solo").mkdir()
    (tmp_path / "shared" / "app.py").write_text("v1")
    (tmp_path / "solo" / "app.py").write_text("v1")
    template = tmp_path / "template.yaml"
    template.write_text("Resources: {}")
    functions = {
        "A": fn("A", tmp_path / "shared"),
        "B": fn("B", tmp_path / "shared"),
        "C": fn("C", tmp_path / "solo"),
    }
    w = Watcher(template, functions)
    sleeps: list[float] = []
    assert w.poll(sleep=sleeps.append) is None
    (tmp_path / "shared" / "app.py").write_text("v2 longer")
    assert w.poll(sleep=sleeps.append) == (False, {"A", "B"})
    assert sleeps == [0.2]  # one more poll to see the write has settled
    assert w.poll(sleep=sleeps.append) is None
    (tmp_path / "shared" / "__pycache__").mkdir()
    (tmp_path / "shared" / "__pycache__" / "app.pyc").write_text("ignored")
    assert w.poll(sleep=sleeps.append) is None
    template.write_text("Resources: {A: 1}")
    assert w.poll(sleep=sleeps.append) == (True, set())


def test_an_edit_during_a_deploy_is_still_seen(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("v1")
    template = tmp_path / "template.yaml"
    template.write_text("x")
    functions = {"A": fn("A", tmp_path / "src")}
    w = Watcher(template, functions)
    (tmp_path / "src" / "app.py").write_text("v2 (saved while the last deploy ran)")
    w.reset(functions)  # what --watch does after a deploy
    assert w.poll(sleep=lambda s: None) == (False, {"A"})


def test_node_modules_and_rust_targets_are_not_watched(tmp_path: Path) -> None:
    (tmp_path / "node" / "node_modules").mkdir(parents=True)
    (tmp_path / "node" / "package.json").write_text("{}")
    template = tmp_path / "t.yaml"
    template.write_text("x")
    w = Watcher(template, {"N": fn("N", tmp_path / "node", "nodejs22.x")})
    (tmp_path / "node" / "node_modules" / "dep.js").write_text("x")
    assert w.poll(sleep=lambda s: None) is None


def test_an_edit_while_the_first_deploy_ran_is_seen(tmp_path: Path) -> None:
    import time

    (tmp_path / "src").mkdir()
    template = tmp_path / "template.yaml"
    template.write_text("x")
    started = time.time_ns()
    (tmp_path / "src" / "app.py").write_text("saved after the deploy began")
    w = Watcher(template, {"A": fn("A", tmp_path / "src")}, since_ns=started)
    assert w.poll(sleep=lambda s: None) == (False, {"A"})
    assert w.poll(sleep=lambda s: None) is None
