"""Terraform (hashicorp/aws) manages ``logging_config`` with Lambda's log levels: apply, a
plan with no changes, an edit of the levels in place, an empty plan again, destroy. Needs
the same terraform and provider mirror as ``test_terraform.py`` (skipped without them on a
developer's machine, failed in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, aws_client, zip_files
from tests.integration.test_terraform import (
    server,
    terraform,
    terraform_present,
    terraform_workdir,
)

# Fixtures of test_terraform.py: Terraform present (skipped without it, failed in CI)
# and a fresh server per test.
__all__ = ["server", "terraform_present"]

pytestmark = pytest.mark.slow

CONFIG = Path(__file__).parent / "terraform_logging" / "main.tf"
HANDLER = """
import json, os
def handler(event, context):
    print(json.dumps({"level": "debug", "msg": "detail"}))
    print(json.dumps({"level": "error", "msg": "trouble"}))
    return os.environ.get("AWS_LAMBDA_LOG_LEVEL")
"""


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": HANDLER}))
    return work


def logging_of(server: LaminaProcess, name: str) -> dict[str, str]:
    shown: dict[str, str] = server.lambda_client().get_function_configuration(FunctionName=name)[
        "LoggingConfig"
    ]
    return shown


def test_logging_config_levels_apply_plan_clean_change_in_place_and_destroy(
    workdir: Path, server: LaminaProcess
) -> None:
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    assert logging_of(server, "tf-log-levels") == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/tf-log-levels",
    }
    assert logging_of(server, "tf-log-json") == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/tf-log-json",
    }
    assert logging_of(server, "tf-log-text") == {
        "LogFormat": "Text",
        "LogGroup": "/aws/lambda/tf-log-text",
    }
    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    # The function runs at its level: DEBUG keeps both of its JSON lines.
    out = server.invoke("tf-log-levels", {}, tail=True)
    assert out.json() == "DEBUG"
    assert '"msg": "detail"' in out.log and '"msg": "trouble"' in out.log

    # New levels apply in place, and the plan after them is empty again.
    edit = (var, "-var=application_log_level=ERROR", "-var=system_log_level=WARN")
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "0 added, 1 changed, 0 destroyed." in changed.stdout
    shown = logging_of(server, "tf-log-levels")
    assert (shown["ApplicationLogLevel"], shown["SystemLogLevel"]) == ("ERROR", "WARN")
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    # ERROR and WARN: the stream gets the error line only (no START, REPORT or debug line).
    out = server.invoke("tf-log-levels", {}, tail=True)
    assert out.json() == "ERROR"
    assert out.log.splitlines() == [json.dumps({"level": "error", "msg": "trouble"})]
    logs = aws_client(server, "logs")
    found = logs.filter_log_events(logGroupName="/aws/lambda/tf-log-levels")["events"]
    assert '"msg": "trouble"' in found[-1]["message"]

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    assert server.lambda_client().list_functions()["Functions"] == []
