"""Terraform's aws_lambda_provisioned_concurrency_config against a real server: apply waits
for READY, the environments serve the alias, a plan finds no changes, a change of the count
is applied, and destroy removes the configuration (hashicorp/aws from the local mirror)."""

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

pytestmark = [pytest.mark.privileged, pytest.mark.slow]

CONFIG = Path(__file__).parent / "terraform_provisioned" / "main.tf"
HANDLER = """
import os
def handler(event, context):
    return os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]
"""


def test_terraform_provisions_an_alias(tmp_path: Path, server: LaminaProcess) -> None:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": HANDLER}))
    var = f"-var=endpoint={server.endpoint}"
    terraform(work, "init", "-input=false")
    terraform(work, "apply", "-auto-approve", "-input=false", var)
    lam = server.lambda_client()
    got = lam.get_provisioned_concurrency_config(FunctionName="tf-pc", Qualifier="live")
    assert (got["Status"], got["AllocatedProvisionedConcurrentExecutions"]) == ("READY", 1)
    assert server.invoke("tf-pc", {}, Qualifier="live").json() == "provisioned-concurrency"
    # -detailed-exitcode: 0 means no changes (2 would mean a diff).
    terraform(work, "plan", "-detailed-exitcode", "-input=false", var)
    terraform(work, "apply", "-auto-approve", "-input=false", var, "-var=concurrency=2")
    got = lam.get_provisioned_concurrency_config(FunctionName="tf-pc", Qualifier="live")
    assert (got["Status"], got["RequestedProvisionedConcurrentExecutions"]) == ("READY", 2)
    terraform(work, "destroy", "-auto-approve", "-input=false", var)
    assert lam.list_functions()["Functions"] == []
