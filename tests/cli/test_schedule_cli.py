"""``lamina schedule``: manage schedules from Lamina's CLI, and they really fire."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, lamina_cli, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaminaProcess]:
    # 60x: rate(1 minute) fires every second, so the test needs no minute-long wait.
    lamina = LaminaProcess(
        tmp_path_factory.mktemp("data"), {"LAMINA_SCHEDULE_TIME_SCALE": "60"}
    ).start()
    yield lamina
    lamina.stop()


def against(server: LaminaProcess, *args: str) -> subprocess.CompletedProcess[str]:
    """``lamina <args>`` against ``server``."""
    return lamina_cli(*args, "--endpoint", server.endpoint, timeout=60)


def test_a_schedule_put_listed_fires_and_is_removed(server: LaminaProcess) -> None:
    server.create(
        "sched-target",
        python_zip("""
        def handler(event, context):
            print("TICK", event.get("source"), event.get("detail-type"), event.get("note"))
            return "ok"
    """),
    )
    put = against(server, "schedule", "put", "every-minute", "rate(1 minute)", "sched-target")
    assert put.returncode == 0, put.stderr
    listed = json.loads(against(server, "schedule", "ls", "--json").stdout)
    assert {
        "Name": "every-minute",
        "ScheduleExpression": "rate(1 minute)",
        "State": "ENABLED",
        "Targets": ["arn:aws:lambda:us-east-1:000000000000:function:sched-target"],
    } in listed
    deadline = time.monotonic() + 60
    logs = ""
    while time.monotonic() < deadline and "TICK aws.events Scheduled Event" not in logs:
        time.sleep(0.5)
        logs = against(server, "logs", "sched-target").stdout
    assert "TICK aws.events Scheduled Event" in logs
    removed = against(server, "schedule", "rm", "every-minute")
    assert removed.returncode == 0, removed.stderr
    assert json.loads(against(server, "schedule", "ls", "--json").stdout) == []


def test_a_bad_expression_is_refused_with_a_clear_error(server: LaminaProcess) -> None:
    out = against(server, "schedule", "put", "bad", "rate(0 minutes)", "sched-target")
    assert out.returncode == 2
    assert "error:" in out.stderr and "ValidationException" in out.stderr


def test_an_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    out = lamina_cli("schedule", "ls", "--endpoint", "http://127.0.0.1:9", timeout=60)
    assert out.returncode == 2 and "error:" in out.stderr
