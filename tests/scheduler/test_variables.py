"""The environment variables an execution environment is started with."""

from __future__ import annotations

from lamina.models.function import FunctionConfig
from lamina.scheduler.variables import SANDBOX_HOME, environment_variables


def variables(environment: dict[str, str], xray_daemon: str = "") -> dict[str, str]:
    cfg = FunctionConfig("f", "nodejs20.x", "index.handler", "sha", 1, environment=environment)
    return environment_variables(
        cfg,
        region="eu-west-1",
        runtime_api="127.0.0.1:9001",
        log_stream="2026/01/01/[$LATEST]" + "0" * 32,
        task_root="/var/task",
        runtime_dir="/var/runtime",
        execution_env="AWS_Lambda_nodejs20.x",
        xray_daemon=xray_daemon,
    )


def test_the_sandbox_user_has_lambdas_home_directory() -> None:
    assert variables({})["HOME"] == SANDBOX_HOME == "/home/sbx_user1051"


def test_a_function_may_choose_its_own_home() -> None:
    assert variables({"HOME": "/tmp"})["HOME"] == "/tmp"


def test_reserved_variables_win_over_the_functions_own() -> None:
    assert variables({"AWS_REGION": "us-west-2"})["AWS_REGION"] == "eu-west-1"


def test_the_x_ray_daemon_address_is_set_as_lambda_sets_it_for_active_tracing_only() -> None:
    traced = variables({}, xray_daemon="127.0.0.1:2000")
    assert traced["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
    assert (traced["_AWS_XRAY_DAEMON_ADDRESS"], traced["_AWS_XRAY_DAEMON_PORT"]) == (
        "127.0.0.1",
        "2000",
    )
    untraced = variables({})
    assert not {"AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS"} & set(untraced)
    # What the SDKs do without a daemon is the same either way: log, never raise.
    assert traced["AWS_XRAY_CONTEXT_MISSING"] == untraced["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
