"""Terraform (hashicorp/aws) manages an EventBridge archive (``aws_cloudwatch_event_archive``)
on a custom bus: apply, the archive as DescribeArchive shows it keeping a put event, a plan
with no changes, a new retention in place, an empty plan again, destroy. Needs the same
terraform and provider mirror as ``test_terraform.py`` (skipped without them on a
developer's machine, failed in CI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.events.live import client, wait_until
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

CONFIG = Path(__file__).parent / "terraform_archive" / "main.tf"
BUS = "arn:aws:events:us-east-1:000000000000:event-bus/tf-archived"


def test_an_archive_applies_plans_clean_updates_and_destroys(
    tmp_path: Path, server: LaminaProcess
) -> None:
    workdir = terraform_workdir(tmp_path, CONFIG)
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    events = client(server.endpoint, "events")
    archive = events.describe_archive(ArchiveName="tf-orders")
    assert archive["EventSourceArn"] == BUS
    assert (archive["Description"], archive["RetentionDays"]) == ("orders, for replays", 7)
    assert json.loads(archive["EventPattern"]) == {"source": ["shop"]}
    entries = [
        {"Source": s, "DetailType": "Order", "Detail": "{}", "EventBusName": BUS}
        for s in ("shop", "elsewhere")
    ]
    assert events.put_events(Entries=entries)["FailedEntryCount"] == 0
    wait_until(
        lambda: events.describe_archive(ArchiveName="tf-orders")["EventCount"] == 1,
        what="the shop event in the Terraform-made archive",
    )

    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    edit = (var, "-var=retention=0")
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "0 added, 1 changed, 0 destroyed." in changed.stdout
    kept = events.describe_archive(ArchiveName="tf-orders")
    assert (kept["RetentionDays"], kept["EventCount"]) == (0, 1)
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    assert events.list_archives()["Archives"] == []
    assert [b["Name"] for b in events.list_event_buses()["EventBuses"]] == ["default"]
