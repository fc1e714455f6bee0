"""Cold start, warm reuse, freezing, crashes and timeouts, against a real server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, python_zip

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

COUNTER = """
import os
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid(), "stream": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "request_id": context.aws_request_id, "memory": context.memory_limit_in_mb,
            "arn": context.invoked_function_arn, "event": event}
"""


def test_first_invoke_is_cold_and_the_second_warm(lamina: LaminaProcess) -> None:
    lamina.create("lifecycle-counter", python_zip(COUNTER), MemorySize=256, Timeout=5)
    first = lamina.invoke("lifecycle-counter", {"n": 1})
    second = lamina.invoke("lifecycle-counter", {"n": 2})
    assert first.function_error is None, first.payload
    a, b = first.json(), second.json()
    assert (a["count"], b["count"]) == (1, 2)  # same process: module state survived
    assert a["stream"] == b["stream"]
    assert a["event"] == {"n": 1} and a["memory"] == "256"
    assert 0 < a["remaining"] <= 5000
    assert a["arn"].endswith(":function:lifecycle-counter")
    r1, r2 = first.report(), second.report()
    assert r1["init"] is not None and r2["init"] is None
    assert r1["id"] == a["request_id"] and r1["memory"] == "256"
    assert int(r1["max"] or 0) > 0
    # Billed duration covers INIT on the cold start, rounded up to the millisecond.
    init, duration = float(r1["init"]), float(r1["duration"] or 0)
    assert int(r1["billed"] or 0) == max(1, -(-round((init + duration) * 100) // 100))
    assert "START RequestId: " + a["request_id"] + " Version: $LATEST" in first.log
    assert "END RequestId: " + a["request_id"] in first.log


def test_an_idle_environment_is_frozen_and_uses_no_cpu(lamina: LaminaProcess) -> None:
    spinner = python_zip("""
        import os, threading
        def spin():
            while True:
                pass
        threading.Thread(target=spin, daemon=True).start()
        def handler(event, context):
            return {"ok": True}
    """)
    lamina.create("lifecycle-spinner", spinner, MemorySize=1769, Timeout=5)
    assert lamina.invoke("lifecycle-spinner", {}).function_error is None
    time.sleep(0.5)  # past the freeze grace period
    assert lamina.proc is not None
    own = Path("/sys/fs/cgroup/freezer/lamina") / f"s{lamina.proc.pid}"
    groups = list(own.glob("lifecycle-spinner-*"))
    assert len(groups) == 1, groups
    assert (groups[0] / "freezer.state").read_text().strip() == "FROZEN"
    server_group = groups[0].parent.name
    cpu = Path("/sys/fs/cgroup/cpuacct/lamina") / server_group / groups[0].name / "cpuacct.usage"
    before = int(cpu.read_text())
    time.sleep(0.3)
    after = int(cpu.read_text())
    assert after == before, "a frozen environment consumed CPU"
    # Thawed for the next invoke, it answers as a warm start.
    again = lamina.invoke("lifecycle-spinner", {})
    assert again.function_error is None and again.report()["init"] is None


def test_timeout_kills_the_environment_and_the_next_invoke_starts_cold(
    lamina: LaminaProcess,
) -> None:
    lamina.create(
        "lifecycle-sleeper",
        python_zip("""
        import time
        def handler(event, context):
            time.sleep(event.get("sleep", 0))
            return "awake"
    """),
        Timeout=1,
    )
    out = lamina.invoke("lifecycle-sleeper", {"sleep": 5})
    assert out.function_error == "Unhandled"
    body = out.json()
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"].endswith("Error: Task timed out after 1.00 seconds")
    assert "Task timed out after 1.00 seconds" in out.log
    nxt = lamina.invoke("lifecycle-sleeper", {"sleep": 0})
    assert nxt.json() == "awake" and nxt.report()["init"] is not None


def test_a_crashing_runtime_reports_exit_error_and_is_replaced(lamina: LaminaProcess) -> None:
    lamina.create(
        "lifecycle-crasher",
        python_zip("""
        import os
        def handler(event, context):
            if event.get("crash"):
                print("about to exit")
                os._exit(3)
            return "fine"
    """),
    )
    out = lamina.invoke("lifecycle-crasher", {"crash": True})
    assert out.function_error == "Unhandled"
    body = out.json()
    assert body["errorType"] == "Runtime.ExitError"
    assert "Runtime exited with error: exit status 3" in body["errorMessage"]
    assert "about to exit" in out.log
    nxt = lamina.invoke("lifecycle-crasher", {})
    assert nxt.json() == "fine" and nxt.report()["init"] is not None


def test_handler_exceptions_come_back_as_lambda_errors(lamina: LaminaProcess) -> None:
    lamina.create(
        "lifecycle-raiser",
        python_zip("""
        class HelloError(Exception):
            pass
        def handler(event, context):
            raise HelloError("asked to fail")
    """),
    )
    out = lamina.invoke("lifecycle-raiser", {})
    assert out.status == 200 and out.function_error == "Unhandled"
    body = out.json()
    assert (body["errorType"], body["errorMessage"]) == ("HelloError", "asked to fail")
    assert isinstance(body.get("stackTrace"), list) and body["stackTrace"]
    # The environment survives a handled exception: the next invoke is warm.
    assert lamina.invoke("lifecycle-raiser", {}).report()["init"] is None


def test_import_errors_are_init_errors(lamina: LaminaProcess) -> None:
    lamina.create("lifecycle-badimport", python_zip("import no_such_module\n"))
    out = lamina.invoke("lifecycle-badimport", {})
    body = out.json()
    assert out.function_error == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert "No module named 'no_such_module'" in body["errorMessage"]


@pytest.fixture
def short_lived(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = LaminaProcess(
        tmp_path / "data", {"LAMINA_IDLE_RECLAIM_S": "1", "LAMINA_MAX_LIFETIME_S": "600"}
    ).start()
    yield server
    server.stop()


def test_idle_environments_are_reclaimed(short_lived: LaminaProcess) -> None:
    short_lived.create("reclaim", python_zip(COUNTER))
    assert short_lived.invoke("reclaim", {}).report()["init"] is not None
    assert short_lived.invoke("reclaim", {}).report()["init"] is None
    time.sleep(2.5)
    assert short_lived.invoke("reclaim", {}).report()["init"] is not None


@pytest.fixture
def recycled(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = LaminaProcess(
        tmp_path / "data", {"LAMINA_IDLE_RECLAIM_S": "600", "LAMINA_MAX_LIFETIME_S": "1.5"}
    ).start()
    yield server
    server.stop()


def test_environments_are_recycled_after_their_maximum_lifetime(recycled: LaminaProcess) -> None:
    recycled.create("recycle", python_zip(COUNTER))
    first = recycled.invoke("recycle", {}).json()
    time.sleep(0.5)
    assert recycled.invoke("recycle", {}).json()["stream"] == first["stream"]
    time.sleep(2.5)
    later = recycled.invoke("recycle", {})
    assert later.function_error is None, later.payload
    assert later.report()["init"] is not None
    assert later.json()["stream"] != first["stream"]


@pytest.fixture
def unisolated(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = LaminaProcess(tmp_path / "data", {"LAMINA_ISOLATION": "none"}).start()
    yield server
    server.stop()


def test_without_isolation_functions_run_under_rlimits_with_one_warning(
    unisolated: LaminaProcess,
) -> None:
    unisolated.create("unisolated", python_zip(COUNTER))
    out = unisolated.invoke("unisolated", {})
    assert out.function_error is None and out.json()["count"] == 1
    assert unisolated.invoke("unisolated", {}).json()["count"] == 2
    unisolated.stop()
    text = "".join(unisolated.output)
    warnings = [line for line in text.splitlines() if "WARNING" in line and "sandbox" in line]
    assert len(warnings) == 1, text


def test_the_environment_carries_lambdas_variables(lamina: LaminaProcess) -> None:
    lamina.create(
        "lifecycle-env",
        python_zip("""
        import os
        def handler(event, context):
            return dict(os.environ)
    """),
        MemorySize=512,
        Environment={"Variables": {"MY_SETTING": "on"}},
    )
    env = lamina.invoke("lifecycle-env", {}).json()
    assert env["MY_SETTING"] == "on"
    assert env["_HANDLER"] == "app.handler"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "lifecycle-env"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/lifecycle-env"
    assert re.fullmatch(
        r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", env["AWS_LAMBDA_LOG_STREAM_NAME"]
    )
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert (env["LAMBDA_TASK_ROOT"], env["LAMBDA_RUNTIME_DIR"]) == ("/var/task", "/var/runtime")
    assert (env["AWS_REGION"], env["AWS_DEFAULT_REGION"]) == ("us-east-1", "us-east-1")
    assert env["TZ"] == ":UTC" and env["LANG"] == "en_US.UTF-8"
    assert all(env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"))


@pytest.fixture
def slow_init_server(tmp_path: Path) -> Iterator[LaminaProcess]:
    server = LaminaProcess(tmp_path / "data", {"LAMINA_INIT_TIMEOUT_S": "1"}).start()
    yield server
    server.stop()


def test_init_over_its_limit_is_retried_within_the_function_timeout(
    slow_init_server: LaminaProcess,
) -> None:
    slow_init_server.create(
        "slow-init",
        python_zip("""
        import time
        time.sleep(1.5)
        def handler(event, context):
            return "initialised"
    """),
        Timeout=10,
    )
    out = slow_init_server.invoke("slow-init", {})
    assert out.function_error is None, out.payload
    assert out.json() == "initialised"
    assert "Phase: init\tStatus: timeout" in out.log
    # With a function timeout shorter than INIT, the retry times out too.
    slow_init_server.create(
        "slower-init",
        python_zip("""
        import time
        time.sleep(3)
        def handler(event, context):
            return "never"
    """),
        Timeout=2,
    )
    late = slow_init_server.invoke("slower-init", {})
    assert late.function_error == "Unhandled"
    assert late.json()["errorType"] == "Sandbox.Timedout"
