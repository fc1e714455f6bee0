"""The environment variables an execution environment is started with."""

from __future__ import annotations

from lamina.models.function import FunctionConfig
from lamina.scheduler.variables import SANDBOX_HOME, environment_variables


def variables(environment: dict[str, str]) -> dict[str, str]:
    cfg = FunctionConfig("f", "nodejs20.x", "index.handler", "sha", 1, environment=environment)
    return environment_variables(
        cfg,
        region="eu-west-1",
        runtime_api="127.0.0.1:9001",
        log_stream="2026/01/01/[$LATEST]" + "0" * 32,
        task_root="/var/task",
        runtime_dir="/var/runtime",
        execution_env="AWS_Lambda_nodejs20.x",
    )


def test_the_sandbox_user_has_lambdas_home_directory() -> None:
    assert variables({})["HOME"] == SANDBOX_HOME == "/home/sbx_user1051"


def test_a_function_may_choose_its_own_home() -> None:
    assert variables({"HOME": "/tmp"})["HOME"] == "/tmp"


def test_reserved_variables_win_over_the_functions_own() -> None:
    assert variables({"AWS_REGION": "us-west-2"})["AWS_REGION"] == "eu-west-1"
