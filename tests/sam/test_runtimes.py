"""Which runtime a template's function is deployed as, and what runs it on this server."""

from __future__ import annotations

from lamina.sam.runtimes import choose_runtime, interpreter_note

TABLE = {
    "nodejs20.x": ("v20.20.2", "/usr/bin/node"),
    "nodejs22.x": ("v20.20.2", "/usr/bin/node"),
    "python3.12": ("3.12.4", "/usr/bin/python3.12"),
}


def test_a_newer_node_is_deployed_as_the_newest_node_runtime() -> None:
    assert choose_runtime("nodejs24.x") == (
        "nodejs22.x",
        "runtime nodejs24.x is deployed as nodejs22.x (Lamina has nodejs20.x, nodejs22.x)",
    )


def test_the_note_names_the_interpreter_the_server_runs_when_it_differs() -> None:
    assert interpreter_note("nodejs22.x", TABLE) == (
        "nodejs22.x runs on Node v20.20.2 on this server (/usr/bin/node)"
    )


def test_no_note_when_the_interpreter_matches_its_name() -> None:
    assert interpreter_note("nodejs20.x", TABLE) is None
    assert interpreter_note("python3.12", TABLE) is None


def test_no_note_when_the_server_is_unknown_or_runs_the_functions_bootstrap() -> None:
    assert interpreter_note("nodejs22.x", {}) is None
    assert interpreter_note("provided.al2023", {"provided.al2023": ("", "")}) is None
