"""Test selection: a test that starts processes or needs root says so with a marker.

- ``privileged``: needs root and writable cgroups (a Lamina server in the process tier,
  the jail, cgroups).
- ``slow``: starts processes (a Lamina server, runtimes, compilers, pip, a browser, the
  AWS CLI) or takes seconds.

``make test-fast`` runs ``-m "not privileged and not slow"``: pure tests, no root, seconds;
``make test`` runs everything. A test gets its markers from its module's ``pytestmark``,
and from the rules here, so a new test in a known place is marked without anyone
remembering to:

- it uses a fixture that yields a running Lamina (a ``LaminaProcess``): privileged + slow;
- its path is listed in :data:`MARKED_PATHS`.

And a fast run checks the markers: there, a test that starts a process fails, naming the
marker it lacks, so the fast selection cannot quietly grow slow.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

# Where the tests that start processes or take seconds live (path prefixes, or one test).
MARKED_PATHS: dict[str, tuple[str, ...]] = {
    "tests/integration/": ("privileged", "slow"),
    "tests/examples/": ("slow",),
    "tests/api/test_mount.py": ("privileged", "slow"),  # an in-process server and sandbox
    "tests/runtimes/test_runtime_registry.py": ("slow",),  # runs interpreters to probe them
    "tests/scheduler/test_launcher_runtime_version.py": ("slow",),  # probes (fake) interpreters
    "tests/cli/test_parser.py::test_version_prints_the_package_version": ("slow",),
    "tests/store/test_datalock.py::test_the_lock_dies_with_its_process": ("slow",),
    # The Python runtime's bootstrap, run per test (also against a scripted Runtime API).
    "tests/runtimes/test_python_runtime.py": ("slow",),
    "tests/runtimes/test_python_runtime_wire.py": ("slow",),
    "tests/runtimes/test_python_runtime_coalesced.py": ("slow",),
    "tests/runtimes/test_bytecode.py": ("slow",),  # compiles with, and runs, the interpreter
    "tests/runtimes/test_node_runtime.py": ("slow",),
    "tests/runtimes/test_log_format.py": ("slow",),  # both runtimes and AWS's clients
    "tests/sandbox/": ("slow",),  # processes in rlimits or the jail, the jail's compiler
    "tests/sam/test_build.py": ("slow",),  # pip and npm
    "tests/tools/test_charts_and_html.py": ("slow",),  # matplotlib, headless Chromium
    "tests/tools/test_cost_report.py::test_the_cli_reads_a_ledger_without_a_server": ("slow",),
    "tests/services/test_s3_service.py::test_the_aws_cli_copies_lists_and_removes": ("slow",),
    "tests/services/test_sqs_fifo_cli.py": ("slow",),  # runs the AWS CLI
    "tests/services/test_sqs_move_task_cli.py": ("slow",),  # runs the AWS CLI
    "tests/events/test_schedule_nextfire_property.py": ("slow",),  # ~10 s of examples
    "tests/scheduler/test_zygote_policy.py::"
    "test_zygote_command_is_the_runtimes_interpreter_with_zygote_py": ("slow",),
    "tests/events/test_esm.py::test_partial_batch_failures_come_back_and_end_in_the_dlq": ("slow",),
}

# A fixture whose return annotation names this starts a Lamina server.
SERVER_TYPE = "LaminaProcess"


def _uses_a_server(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    if info is None:
        return False
    for definitions in info.name2fixturedefs.values():
        for definition in definitions:
            returns = getattr(definition.func, "__annotations__", {}).get("return", "")
            if SERVER_TYPE in str(returns):
                return True
    return False


def markers_for(nodeid: str, uses_a_server: bool) -> set[str]:
    """The markers the rules give the test ``nodeid``."""
    found: set[str] = set()
    for prefix, marks in MARKED_PATHS.items():
        if nodeid.startswith(prefix):
            found.update(marks)
    if uses_a_server:
        found.update(("privileged", "slow"))
    return found


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        present = {mark.name for mark in item.iter_markers()}
        for name in sorted(markers_for(item.nodeid, _uses_a_server(item)) - present):
            item.add_marker(getattr(pytest.mark, name))


def _fast_run(config: pytest.Config) -> bool:
    expression = str(config.getoption("markexpr", "") or "")
    return "not slow" in expression


@pytest.fixture(autouse=True)
def _processes_only_in_slow_tests(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """In a fast run, starting a process fails the test that did it."""
    if not _fast_run(request.config) or request.node.get_closest_marker("slow") is not None:
        yield
        return
    nodeid = request.node.nodeid

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        raise AssertionError(
            f"{nodeid} starts a process ({args!r}): mark it slow (tests/conftest.py "
            "MARKED_PATHS, or pytestmark) so the fast selection stays fast"
        )

    monkeypatch.setattr(subprocess.Popen, "_execute_child", refuse)
    yield
