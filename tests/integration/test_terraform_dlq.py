"""Terraform (hashicorp/aws) manages a function's ``dead_letter_config``: apply, a plan with
no changes, a new queue swapped in place, an empty plan again, destroy. Needs the same
terraform and provider mirror as ``test_terraform.py`` (skipped without them on a
developer's machine, failed in CI)."""

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

CONFIG = Path(__file__).parent / "terraform_dlq" / "main.tf"
HANDLER = "def handler(event, context):\n    raise RuntimeError('always')\n"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": HANDLER}))
    return work


def dead_letter_of(server: LaminaProcess) -> object:
    config = server.lambda_client().get_function(FunctionName="tf-dlq-fn")["Configuration"]
    return config.get("DeadLetterConfig")


def test_dead_letter_config_applies_plans_clean_changes_in_place_and_destroys(
    workdir: Path, server: LaminaProcess
) -> None:
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    assert dead_letter_of(server) == {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:tf-fn-dlq"}
    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    # Another queue: the queue is replaced, the function changed in place.
    edit = (var, "-var=queue=tf-fn-dlq-2")
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "1 added, 1 changed, 1 destroyed." in changed.stdout
    assert dead_letter_of(server) == {"TargetArn": "arn:aws:sqs:us-east-1:000000000000:tf-fn-dlq-2"}
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    assert server.lambda_client().list_functions()["Functions"] == []
