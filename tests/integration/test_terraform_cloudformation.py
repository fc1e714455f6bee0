"""Terraform (hashicorp/aws) manages an ``aws_cloudformation_stack``: CreateStack, a plan with
no changes, UpdateStack (by StackId) of a parameter, an empty plan again, DeleteStack (docs/sam.md,
"`sam deploy`"). Needs the same terraform and provider mirror as ``test_terraform.py``
(skipped without them on a developer's machine, failed in CI)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess
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

CONFIG = Path(__file__).parent / "terraform_cloudformation" / "main.tf"


def test_a_cloudformation_stack_applies_plans_clean_updates_and_destroys(
    tmp_path: Path, server: LaminaProcess
) -> None:
    work = terraform_workdir(tmp_path, CONFIG)
    var = f"-var=endpoint={server.endpoint}"
    terraform(work, "init", "-input=false")
    terraform(work, "apply", "-auto-approve", "-input=false", var)
    assert server.invoke("tf-stack-fn", {}, tail=False).json() == "1"
    terraform(work, "plan", "-detailed-exitcode", "-input=false", var)  # 0: nothing to change
    terraform(work, "apply", "-auto-approve", "-input=false", var, "-var=answer=2")
    assert server.invoke("tf-stack-fn", {}, tail=False).json() == "2"
    terraform(work, "plan", "-detailed-exitcode", "-input=false", var, "-var=answer=2")
    terraform(work, "destroy", "-auto-approve", "-input=false", var, "-var=answer=2")
    names = [f["FunctionName"] for f in server.lambda_client().list_functions()["Functions"]]
    assert "tf-stack-fn" not in names
