"""Terraform (hashicorp/aws) manages a function's recursive loop detection setting
(``aws_lambda_function_recursion_config``): apply, a plan with no changes, a change in
place, an empty plan again, destroy. Needs the same terraform and provider mirror as
``test_terraform.py`` (skipped without them on a developer's machine, failed in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess, zip_files
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

CONFIG = Path(__file__).parent / "terraform_recursion" / "main.tf"
HANDLER = "def handler(event, context):\n    return event\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": HANDLER}))
    return work


def loop_of(server: LaminaProcess) -> str:
    out = server.lambda_client().get_function_recursion_config(FunctionName="tf-looper")
    return str(out["RecursiveLoop"])


def test_recursion_config_applies_plans_clean_changes_in_place_and_destroys(
    workdir: Path, server: LaminaProcess
) -> None:
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    assert loop_of(server) == "Allow"
    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    edit = (var, "-var=loop=Terminate")
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "0 added, 1 changed, 0 destroyed." in changed.stdout
    assert loop_of(server) == "Terminate"
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    assert server.lambda_client().list_functions()["Functions"] == []
