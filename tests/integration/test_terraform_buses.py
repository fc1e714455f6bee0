"""Terraform (hashicorp/aws) manages a custom event bus, a rule and a target with an input
transformer on it, a FIFO queue target with its message group, and a function's event-bus
destinations: apply, an event put on the bus reaching the queue transformed (and the FIFO
queue in its group), a plan with no changes, a new template in place, an empty
plan again, destroy. Needs the same terraform and provider mirror as ``test_terraform.py``
(skipped without them on a developer's machine, failed in CI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.events.live import client, receive_all, wait_until
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

CONFIG = Path(__file__).parent / "terraform_buses" / "main.tf"
BUS = "arn:aws:events:us-east-1:000000000000:event-bus/tf-results"


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    work = terraform_workdir(tmp_path, CONFIG)
    (work / "fn.zip").write_bytes(zip_files({"app.py": "def handler(e, c):\n    return e\n"}))
    return work


def put_and_receive(server: LaminaProcess, n: int) -> list[Any]:
    events, sqs = client(server.endpoint, "events"), client(server.endpoint, "sqs")
    detail = json.dumps({"n": n})
    entry = {"Source": "shop", "DetailType": "Order", "Detail": detail, "EventBusName": BUS}
    assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    url = sqs.get_queue_url(QueueName="tf-bus-seen")["QueueUrl"]
    got: list[Any] = []

    def delivered() -> bool:
        got.extend(m["json"] for m in receive_all(sqs, url, wait_s=1))
        return bool(got)

    wait_until(delivered, what="the event put on the Terraform-made bus at its queue")
    return got


def test_a_bus_its_rule_target_and_destinations_apply_plan_clean_and_destroy(
    workdir: Path, server: LaminaProcess
) -> None:
    var = f"-var=endpoint={server.endpoint}"
    terraform(workdir, "init", "-input=false")
    terraform(workdir, "apply", "-auto-approve", "-input=false", var)
    events = client(server.endpoint, "events")
    bus = events.describe_event_bus(Name="tf-results")
    assert (bus["Arn"], bus["Description"]) == (BUS, "results of tf-bus-fn")
    assert events.list_tags_for_resource(ResourceARN=BUS)["Tags"] == [
        {"Key": "team", "Value": "shop"}
    ]
    rule = events.describe_rule(Name="tf-orders", EventBusName="tf-results")
    assert rule["Arn"] == "arn:aws:events:us-east-1:000000000000:rule/tf-results/tf-orders"
    lam = server.lambda_client()
    config = lam.get_function_event_invoke_config(FunctionName="tf-bus-fn")
    assert config["DestinationConfig"]["OnSuccess"] == {"Destination": BUS}
    assert put_and_receive(server, 4) == [{"number": 4, "says": "Order #4"}]
    targets = events.list_targets_by_rule(Rule="tf-orders", EventBusName="tf-results")
    (fifo,) = [t for t in targets["Targets"] if t["Id"] == "fifo"]
    assert fifo["SqsParameters"] == {"MessageGroupId": "orders"}
    sqs = client(server.endpoint, "sqs")
    url = sqs.get_queue_url(QueueName="tf-bus-fifo.fifo")["QueueUrl"]
    grouped: list[Any] = []

    def grouped_in() -> bool:
        grouped.extend(receive_all(sqs, url, wait_s=1))
        return bool(grouped)

    wait_until(grouped_in, what="the event at the FIFO queue")
    assert [(m["json"]["detail"], m["Attributes"]["MessageGroupId"]) for m in grouped] == [
        ({"n": 4}, "orders")
    ]

    # A second plan finds nothing to change (exit code 0; 2 would mean drift).
    plan = terraform(workdir, "plan", "-detailed-exitcode", "-input=false", var)
    assert "No changes." in plan.stdout

    # A new template changes the target in place.
    edit = (var, '-var=template="<kind>: <n>"')
    changed = terraform(workdir, "apply", "-auto-approve", "-input=false", *edit)
    assert "0 added, 1 changed, 0 destroyed." in changed.stdout
    assert put_and_receive(server, 5) == ["Order: 5"]
    terraform(workdir, "plan", "-detailed-exitcode", "-input=false", *edit)

    terraform(workdir, "destroy", "-auto-approve", "-input=false", *edit)
    names = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert names == ["default"]
    assert events.list_rules(EventBusName="default")["Rules"] == []
