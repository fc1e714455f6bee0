"""Terraform's ``aws_cloudformation_stack`` against a real server: CreateStack, a plan with
no changes, UpdateStack by StackId, DeleteStack (docs/sam.md, "`sam deploy`")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.harness import LaminaProcess
from tests.integration.test_terraform import (
    PLUGINS,
    PROVIDER,
    TERRAFORM,
    terraform,
    terraform_workdir,
)
from tests.unavailable import unavailable

CONFIG = Path(__file__).parent / "terraform" / "cloudformation.tf"


@pytest.fixture(scope="module", autouse=True)
def terraform_present() -> None:
    if TERRAFORM is None or not PROVIDER.is_dir():
        unavailable(
            "needs `terraform` on PATH and the hashicorp/aws 5.100.0 provider in a filesystem "
            f"mirror at {PLUGINS} (set LAMINA_TF_PLUGINS)"
        )


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LaminaProcess]:
    proc = LaminaProcess(tmp_path / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


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
